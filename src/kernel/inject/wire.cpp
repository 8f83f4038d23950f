// sendmsg/recvmsg with descriptors for the injector process's sockets.
#include "wire.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace containerfs::kernel::inject_wire {

namespace {
constexpr std::size_t kMaxFds = 4;
}

Status send_message(int sock, const void* data, std::size_t size, const std::vector<int>& fds,
                    int timeout_ms) {
  if (fds.size() > kMaxFds) return fail(EINVAL);
  iovec iov{const_cast<void*>(data), size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(size)) return {};
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {  // full: the reader is slow or stuck
      pollfd p{sock, POLLOUT, 0};
      int r = ::poll(&p, 1, timeout_ms);
      if (r > 0 || (r < 0 && errno == EINTR)) continue;
      return fail(r == 0 ? ETIMEDOUT : errno);
    }
    return fail(n < 0 ? errno : EPROTO);
  }
}

Result<bool> receive_message(int sock, void* data, std::size_t size, int timeout_ms,
                     std::vector<UniqueFd>* fds) {
  pollfd p{sock, POLLIN, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r > 0) break;
    if (r == 0) return fail(ETIMEDOUT);
    if (errno != EINTR) return fail(errno);
  }
  iovec iov{data, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return fail(errno == ECONNRESET ? EPIPE : errno);
  // Descriptors first: owned (and closed) whatever the message was.
  std::vector<UniqueFd> received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      received.emplace_back(fd);
    }
  }
  if (n == 0) return false;
  if (static_cast<std::size_t>(n) != size || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
    return fail(EPROTO);
  if (fds)
    for (auto& fd : received) fds->push_back(std::move(fd));
  return true;
}

}  // namespace containerfs::kernel::inject_wire
