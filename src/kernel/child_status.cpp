#include "containerfs/kernel/child_status.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "containerfs/kernel/reaper.hpp"

namespace containerfs::kernel {

namespace {

// One int of payload and room for one passed fd.
struct FdMessage {
  int value = 0;
  iovec iov{&value, sizeof value};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
};

Result<int> receive_status(int sock, UniqueFd* passed) {
  FdMessage m;
  auto& msg = m.msg;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno();
  if (n == 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int fd;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    if (passed) passed->reset(fd);
    else ::close(fd);
  }
  return m.value;
}

}  // namespace

void send_child_errno(int sock, int err) { (void)!::send(sock, &err, sizeof err, MSG_NOSIGNAL); }

void send_child_fd(int sock, int fd) {
  FdMessage m;
  auto& msg = m.msg;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  (void)!::sendmsg(sock, &msg, MSG_NOSIGNAL);
}

Result<int> next_child_status(int sock, UniqueFd* passed, std::chrono::milliseconds bound) {
  pollfd ready{sock, POLLIN, 0};
  int n;
  do {
    n = ::poll(&ready, 1, static_cast<int>(bound.count()));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno();
  if (n == 0) return fail(ETIMEDOUT);
  return receive_status(sock, passed);
}

bool has_exited(int pidfd) {
  pollfd pfd{pidfd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0;
}

bool kill_and_reap(int pidfd) {
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  pollfd pfd{pidfd, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(kChildStepBound.count())) <= 0) return false;
  (void)reap_pidfd(pidfd, false);
  return true;
}

}  // namespace containerfs::kernel
