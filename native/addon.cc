// p4net_native: socket options and TCP_INFO on a connected socket's file
// descriptor. Loaded (optionally) by ts/native/index.ts; everything here is
// synchronous and cheap (one syscall per call).
#include "common.h"

namespace p4net {

static const char* Platform() {
#if defined(__linux__)
  return "linux";
#elif defined(__APPLE__)
  return "darwin";
#elif defined(_WIN32)
  return "win32";
#else
  return "other";
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object supported = Napi::Object::New(env);
  AddSupportedOptions(env, supported);
  supported.Set("tcpInfo", Napi::Boolean::New(env, TcpInfoSupported()));
  supported.Set("bindReusable", Napi::Boolean::New(env, BindSupported()));
  exports.Set("supported", supported);
  exports.Set("platform", Napi::String::New(env, Platform()));
  exports.Set("setOption", Napi::Function::New(env, SetOption, "setOption"));
  exports.Set("getOption", Napi::Function::New(env, GetOption, "getOption"));
  exports.Set("tcpInfo", Napi::Function::New(env, TcpInfo, "tcpInfo"));
  exports.Set("bindReusable", Napi::Function::New(env, BindReusable, "bindReusable"));
  return exports;
}

}  // namespace p4net

// NODE_API_MODULE pastes the name into an identifier, so it must be unqualified.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return p4net::Init(env, exports); }

NODE_API_MODULE(p4net_native, InitModule)
