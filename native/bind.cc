// A TCP socket bound to a port a listener of this process holds already,
// for hole punching (simultaneous open from the listening port): both
// SO_REUSEADDR and SO_REUSEPORT are set before bind(), which node:net cannot
// do. The descriptor is returned unconnected; JS wraps it in a net.Socket and
// connects it. The listener needs SO_REUSEPORT too (setOption 'reusePort').
#include "common.h"

#include <cerrno>
#include <cstring>
#include <string>

#ifndef _WIN32
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace p4net {

bool BindSupported() {
#if defined(SO_REUSEPORT) && !defined(_WIN32)
  return true;
#else
  return false;
#endif
}

// bindReusable(host: string (an IP literal), port: int) -> fd
Napi::Value BindReusable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "bindReusable(host: string, port: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string host = info[0].As<Napi::String>().Utf8Value();
  double p = info[1].As<Napi::Number>().DoubleValue();
  if (!(p >= 1 && p <= 65535) || p != static_cast<double>(static_cast<int>(p))) {
    Napi::TypeError::New(env, "port must be an integer in 1..65535").ThrowAsJavaScriptException();
    return env.Undefined();
  }
#if defined(SO_REUSEPORT) && !defined(_WIN32)
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof ss);
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
    len = sizeof *v6;
  } else {
    Napi::TypeError::New(env, "host must be an IP address: " + host).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket", "", errno);
    return env.Undefined();
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  int one = 1;
  const char* step = nullptr;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) step = "SO_REUSEADDR";
  else if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) step = "SO_REUSEPORT";
  else if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) step = "bind";
  if (step != nullptr) {
    int err = errno;
    close(fd);
    ThrowErrno(env, std::strcmp(step, "bind") == 0 ? "bind" : "setsockopt", step, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
#else
  ThrowUnsupported(env, "bindReusable");
  return env.Undefined();
#endif
}

}  // namespace p4net
