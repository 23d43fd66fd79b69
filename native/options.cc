// Integer socket options by name: one table maps each p4net name to its
// (level, optname), so set/get/supported cannot disagree. Options the
// platform lacks are absent from the table and reported as unsupported.
#include "common.h"

#include <cerrno>
#include <cstring>
#include <string>

#ifndef _WIN32
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

namespace p4net {

struct IntOption {
  const char* name;     // p4net name, used from JS
  const char* sysName;  // C name, for error messages
  int level;
  int optname;
};

// Every option p4net knows, whether or not this platform has it.
static const char* const kAllNames[] = {
    "noDelay", "quickAck", "sendBuffer", "receiveBuffer", "keepAlive",
    "keepIdle", "keepInterval", "keepCount", "userTimeout", "reusePort",
};

static const IntOption kOptions[] = {
#ifndef _WIN32
    {"noDelay", "TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY},
#ifdef TCP_QUICKACK
    {"quickAck", "TCP_QUICKACK", IPPROTO_TCP, TCP_QUICKACK},
#endif
    {"sendBuffer", "SO_SNDBUF", SOL_SOCKET, SO_SNDBUF},
    {"receiveBuffer", "SO_RCVBUF", SOL_SOCKET, SO_RCVBUF},
    {"keepAlive", "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE},
#if defined(TCP_KEEPIDLE)
    {"keepIdle", "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE},
#elif defined(__APPLE__) && defined(TCP_KEEPALIVE)
    // macOS names the idle time TCP_KEEPALIVE (seconds, like TCP_KEEPIDLE).
    {"keepIdle", "TCP_KEEPALIVE", IPPROTO_TCP, TCP_KEEPALIVE},
#endif
#ifdef TCP_KEEPINTVL
    {"keepInterval", "TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL},
#endif
#ifdef TCP_KEEPCNT
    {"keepCount", "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT},
#endif
#ifdef TCP_USER_TIMEOUT
    {"userTimeout", "TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT},
#endif
#ifdef SO_REUSEPORT
    // Set on a listener so a punching socket can bind its port (bind.cc).
    {"reusePort", "SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT},
#endif
#endif
    {nullptr, nullptr, 0, 0},
};

static const IntOption* Find(const std::string& name) {
  for (const IntOption* o = kOptions; o->name != nullptr; ++o) {
    if (name == o->name) return o;
  }
  return nullptr;
}

static bool Known(const std::string& name) {
  for (const char* n : kAllNames) {
    if (name == n) return true;
  }
  return false;
}

// Resolves argument 1 to a supported option; throws and returns null otherwise.
static const IntOption* OptionArg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsString()) {
    Napi::TypeError::New(env, "option name must be a string").ThrowAsJavaScriptException();
    return nullptr;
  }
  std::string name = info[1].As<Napi::String>().Utf8Value();
  if (!Known(name)) {
    Napi::TypeError::New(env, "unknown socket option: " + name).ThrowAsJavaScriptException();
    return nullptr;
  }
  const IntOption* o = Find(name);
  if (o == nullptr) ThrowUnsupported(env, name.c_str());
  return o;
}

// setOption(fd, name, value: int32) -> undefined
Napi::Value SetOption(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (fd < 0) return env.Undefined();
  const IntOption* o = OptionArg(info);
  if (o == nullptr) return env.Undefined();
  if (info.Length() < 3 || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "value must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double d = info[2].As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != static_cast<double>(static_cast<int>(d))) {
    Napi::TypeError::New(env, "value must be an int32").ThrowAsJavaScriptException();
    return env.Undefined();
  }
#ifndef _WIN32
  int value = static_cast<int>(d);
  if (setsockopt(fd, o->level, o->optname, &value, sizeof value) != 0) {
    ThrowErrno(env, "setsockopt", o->sysName, errno);
  }
#endif
  return env.Undefined();
}

// getOption(fd, name) -> int32 as the kernel reports it (SO_SNDBUF/SO_RCVBUF
// read back doubled on Linux, which reserves half for bookkeeping).
Napi::Value GetOption(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (fd < 0) return env.Undefined();
  const IntOption* o = OptionArg(info);
  if (o == nullptr) return env.Undefined();
#ifndef _WIN32
  int value = 0;
  socklen_t len = sizeof value;
  if (getsockopt(fd, o->level, o->optname, &value, &len) != 0) {
    ThrowErrno(env, "getsockopt", o->sysName, errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, value);
#else
  return env.Undefined();
#endif
}

void AddSupportedOptions(Napi::Env env, Napi::Object supported) {
  for (const char* n : kAllNames) {
    supported.Set(n, Napi::Boolean::New(env, Find(n) != nullptr));
  }
}

}  // namespace p4net
