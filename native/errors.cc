// errno -> JS Error, and argument checks.
#include "common.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace p4net {

static const char* ErrnoName(int err) {
  switch (err) {
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EFAULT: return "EFAULT";
#ifdef ENOTSOCK
    case ENOTSOCK: return "ENOTSOCK";
#endif
#ifdef EOPNOTSUPP
    case EOPNOTSUPP: return "EOPNOTSUPP";
#endif
#ifdef ENOTCONN
    case ENOTCONN: return "ENOTCONN";
#endif
    default: return "UNKNOWN";
  }
}

void ThrowErrno(Napi::Env env, const char* syscall, const char* option, int err) {
  std::string message = std::string(syscall) + "(" + option + "): " + std::strerror(err);
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.Set("option", Napi::String::New(env, option));
  e.ThrowAsJavaScriptException();
}

void ThrowUnsupported(Napi::Env env, const char* what) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + " is not supported on this platform");
  e.Set("code", Napi::String::New(env, "ERR_P4NET_UNSUPPORTED"));
  e.ThrowAsJavaScriptException();
}

int FdArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    Napi::TypeError::New(env, "fd must be a number").ThrowAsJavaScriptException();
    return -1;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 2147483647.0 || d != static_cast<double>(static_cast<int>(d))) {
    Napi::TypeError::New(env, "fd must be a non-negative integer").ThrowAsJavaScriptException();
    return -1;
  }
  return static_cast<int>(d);
}

}  // namespace p4net
