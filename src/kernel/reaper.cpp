#include "containerfs/kernel/reaper.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace containerfs::kernel {

namespace {

sigset_t sigchld_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  return set;
}

}  // namespace

void Reaper::prepare_process() {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  sigset_t set = sigchld_set();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

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

Reaper::Reaper() {
  sigset_t set = sigchld_set();
  signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  thread_ = std::thread([this] { run(); });
}

Reaper::~Reaper() {
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void Reaper::run() {
  for (;;) {
    // Every exited child, whatever woke us: SIGCHLDs merge.
    for (;;) {
      siginfo_t info{};
      if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) break;
    }
    pollfd fds[2] = {{signals_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    signalfd_siginfo drained[16];
    while (::read(signals_.get(), drained, sizeof drained) > 0) {
    }
  }
}

}  // namespace containerfs::kernel
