#include "containerfs/kernel/reaper.hpp"

#include <signal.h>
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

Reaper::Reaper()
    : signals_([] {
        sigset_t set = sigchld_set();
        return ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
      }()),
      thread_(signals_.get(), [this] { reap_exited(); }) {}

void Reaper::reap_exited() {
  // The signals first, then every exited child: SIGCHLDs merge, and one
  // that comes after the drain wakes the thread again.
  signalfd_siginfo drained[16];
  while (::read(signals_.get(), drained, sizeof drained) > 0) {
  }
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) break;
  }
}

}  // namespace containerfs::kernel
