// Whether an HTTP client is still there while its request waits or runs. cpp-httplib 0.11 gives a
// handler the connection's addresses but not its socket, and notices a vanished client only when a
// write fails; a request still queued or in prefill writes nothing. So the socket is found by its
// addresses and ports among this process's descriptors, and polled for the peer's hang-up
// without reading. A client that half-closes its side after sending (shutdown(SHUT_WR)) counts as
// gone, as it does for most servers' disconnect checks.
#pragma once

#include <string>

namespace joule::serve {

class PeerSocket {
 public:
  // The connected TCP socket with these local and remote addresses (numeric, as cpp-httplib
  // writes them) and ports; invalid if none is found.
  PeerSocket(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);
  bool valid() const { return fd_ >= 0; }
  // True once the peer has closed or reset the connection (never for an invalid PeerSocket).
  bool closed() const;

 private:
  int fd_ = -1;
};

}  // namespace joule::serve
