// Shared helpers for the socket-tuning addon: argument checks and errno -> JS
// error conversion. Every function here throws a pending JS exception and
// returns false/-1 on failure (the addon is built without C++ exceptions).
#ifndef P4NET_NATIVE_COMMON_H
#define P4NET_NATIVE_COMMON_H

#include <napi.h>

namespace p4net {

// Throws an Error whose message carries the syscall, the option and the
// system's errno text; `code` is the errno name (EBADF, EINVAL, ...) and
// `errno` the number, like Node's own system errors.
void ThrowErrno(Napi::Env env, const char* syscall, const char* option, int err);

// Throws an Error with code ERR_P4NET_UNSUPPORTED.
void ThrowUnsupported(Napi::Env env, const char* what);

// Reads argument `i` as a socket descriptor (a non-negative int32);
// throws a TypeError and returns -1 otherwise.
int FdArg(const Napi::CallbackInfo& info, size_t i);

// tcp_info.cc
Napi::Value TcpInfo(const Napi::CallbackInfo& info);
bool TcpInfoSupported();

// bind.cc
Napi::Value BindReusable(const Napi::CallbackInfo& info);
bool BindSupported();

// options.cc
Napi::Value SetOption(const Napi::CallbackInfo& info);
Napi::Value GetOption(const Napi::CallbackInfo& info);
void AddSupportedOptions(Napi::Env env, Napi::Object supported);

}  // namespace p4net

#endif
