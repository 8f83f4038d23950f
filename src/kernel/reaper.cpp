#include "containerfs/kernel/reaper.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace containerfs::kernel {

void Reaper::prepare_process() { ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

Status reap_pidfd(int pidfd, bool block) {
  siginfo_t info{};
  int flags = WEXITED | (block ? 0 : WNOHANG);
  int rc;
  do {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, flags);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return fail_errno();
  return {};
}

Reaper::Reaper(std::function<void(pid_t)> on_exit) : on_exit_(std::move(on_exit)) {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  thread_ = std::thread([this] { run(); });
}

Reaper::~Reaper() {
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  for (auto& [fd, pid] : watched_) ::close(fd);
}

Status Reaper::watch(pid_t pid, int pidfd) {
  int fd = ::fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return fail_errno();
  {
    std::lock_guard lock(mutex_);
    watched_[fd] = pid;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    std::lock_guard lock(mutex_);
    watched_.erase(fd);
    ::close(fd);
    return fail(err);
  }
  return {};
}

void Reaper::run() {
  epoll_event events[64];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_.get()) return;
      pid_t pid = 0;
      {
        std::lock_guard lock(mutex_);
        auto it = watched_.find(fd);
        if (it == watched_.end()) continue;
        pid = it->second;
        watched_.erase(it);
      }
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      // ECHILD: not (or no longer) our child, e.g. reaped elsewhere.
      (void)reap_pidfd(fd, false);
      ::close(fd);
      if (on_exit_) on_exit_(pid);
    }
  }
}

}  // namespace containerfs::kernel
