// tcpInfo(fd): the kernel's live view of a TCP connection (RTT, congestion
// window, retransmissions). Linux: TCP_INFO; macOS: TCP_CONNECTION_INFO;
// elsewhere unsupported. Fields are named and unit-suffixed the same on every
// platform; a field the platform does not report is absent, never zero.
#include "common.h"

#include <cerrno>
#include <cstddef>
#include <cstring>

#if defined(__linux__)
// linux/tcp.h (not netinet/tcp.h) has the full, current struct tcp_info.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#elif defined(__APPLE__)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

namespace p4net {

#if defined(__linux__)

bool TcpInfoSupported() { return true; }

Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (fd < 0) return env.Undefined();
  struct tcp_info t;
  std::memset(&t, 0, sizeof t);
  socklen_t len = sizeof t;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &t, &len) != 0) {
    ThrowErrno(env, "getsockopt", "TCP_INFO", errno);
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  // An older kernel fills a shorter struct: report only what it wrote.
  auto has = [len](size_t offset, size_t size) { return offset + size <= len; };
#define P4_FIELD(js, field)                                          \
  if (has(offsetof(struct tcp_info, field), sizeof t.field)) {        \
    o.Set(js, Napi::Number::New(env, static_cast<double>(t.field))); \
  }
  P4_FIELD("state", tcpi_state)
  P4_FIELD("caState", tcpi_ca_state)
  P4_FIELD("retransmits", tcpi_retransmits)
  P4_FIELD("probes", tcpi_probes)
  P4_FIELD("backoff", tcpi_backoff)
  P4_FIELD("rtoUs", tcpi_rto)
  P4_FIELD("atoUs", tcpi_ato)
  P4_FIELD("sndMss", tcpi_snd_mss)
  P4_FIELD("rcvMss", tcpi_rcv_mss)
  P4_FIELD("unacked", tcpi_unacked)
  P4_FIELD("sacked", tcpi_sacked)
  P4_FIELD("lost", tcpi_lost)
  P4_FIELD("retrans", tcpi_retrans)
  P4_FIELD("lastDataSentMs", tcpi_last_data_sent)
  P4_FIELD("lastDataRecvMs", tcpi_last_data_recv)
  P4_FIELD("lastAckRecvMs", tcpi_last_ack_recv)
  P4_FIELD("pmtu", tcpi_pmtu)
  P4_FIELD("rttUs", tcpi_rtt)
  P4_FIELD("rttVarUs", tcpi_rttvar)
  P4_FIELD("sndSsthresh", tcpi_snd_ssthresh)
  P4_FIELD("sndCwnd", tcpi_snd_cwnd)
  P4_FIELD("advMss", tcpi_advmss)
  P4_FIELD("reordering", tcpi_reordering)
  P4_FIELD("rcvRttUs", tcpi_rcv_rtt)
  P4_FIELD("rcvSpace", tcpi_rcv_space)
  P4_FIELD("totalRetrans", tcpi_total_retrans)
  P4_FIELD("bytesAcked", tcpi_bytes_acked)
  P4_FIELD("bytesReceived", tcpi_bytes_received)
  P4_FIELD("segsOut", tcpi_segs_out)
  P4_FIELD("segsIn", tcpi_segs_in)
  P4_FIELD("notsentBytes", tcpi_notsent_bytes)
  P4_FIELD("minRttUs", tcpi_min_rtt)
  P4_FIELD("deliveryRate", tcpi_delivery_rate)
  P4_FIELD("bytesSent", tcpi_bytes_sent)
  P4_FIELD("bytesRetrans", tcpi_bytes_retrans)
#undef P4_FIELD
  // The kernel's own count of segments in flight (tcp_packets_in_flight).
  if (has(offsetof(struct tcp_info, tcpi_retrans), sizeof t.tcpi_retrans)) {
    double inFlight = static_cast<double>(t.tcpi_unacked) - t.tcpi_sacked - t.tcpi_lost + t.tcpi_retrans;
    o.Set("packetsInFlight", Napi::Number::New(env, inFlight < 0 ? 0 : inFlight));
  }
  return o;
}

#elif defined(__APPLE__) && defined(TCP_CONNECTION_INFO)

bool TcpInfoSupported() { return true; }

Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (fd < 0) return env.Undefined();
  struct tcp_connection_info t;
  std::memset(&t, 0, sizeof t);
  socklen_t len = sizeof t;
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONNECTION_INFO, &t, &len) != 0) {
    ThrowErrno(env, "getsockopt", "TCP_CONNECTION_INFO", errno);
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  // macOS reports times in ms and the window in bytes: convert to the
  // Linux units (µs, segments) so callers see one shape.
  double mss = t.tcpi_maxseg > 0 ? t.tcpi_maxseg : 1;
  o.Set("state", Napi::Number::New(env, t.tcpi_state));
  o.Set("rtoUs", Napi::Number::New(env, t.tcpi_rto * 1000.0));
  o.Set("sndMss", Napi::Number::New(env, t.tcpi_maxseg));
  o.Set("rttUs", Napi::Number::New(env, t.tcpi_srtt * 1000.0));
  o.Set("rttVarUs", Napi::Number::New(env, t.tcpi_rttvar * 1000.0));
  o.Set("sndSsthresh", Napi::Number::New(env, t.tcpi_snd_ssthresh / mss));
  o.Set("sndCwnd", Napi::Number::New(env, t.tcpi_snd_cwnd / mss));
  o.Set("bytesSent", Napi::Number::New(env, static_cast<double>(t.tcpi_txbytes)));
  o.Set("bytesReceived", Napi::Number::New(env, static_cast<double>(t.tcpi_rxbytes)));
  o.Set("bytesRetrans", Napi::Number::New(env, static_cast<double>(t.tcpi_txretransmitbytes)));
  o.Set("segsOut", Napi::Number::New(env, static_cast<double>(t.tcpi_txpackets)));
  o.Set("segsIn", Napi::Number::New(env, static_cast<double>(t.tcpi_rxpackets)));
  return o;
}

#else

bool TcpInfoSupported() { return false; }

Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  ThrowUnsupported(info.Env(), "tcpInfo");
  return info.Env().Undefined();
}

#endif

}  // namespace p4net
