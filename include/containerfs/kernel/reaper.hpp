// Reaps every child of the daemon as soon as it exits (container inits,
// grandchild inits it adopts as a child subreaper, intermediates, the
// injector process), so that no zombie is ever left: PID 1 of the machine
// may not reap them. One thread, one signalfd for SIGCHLD, one
// waitid(P_ALL, WEXITED | WNOHANG) loop: no descriptor per child.
//
// The daemon traces nobody itself (its injector process does), so waiting
// for any child's exit takes nothing from anyone; code that waits for one
// of its own children by pidfd (spawn_init, the injector client) gets
// ECHILD if the reaper was first, which it treats as reaped.
//
// What a container's init's death means is not the reaper's business:
// after a restart the inits are no longer the daemon's children at all
// (see model/init_watch: the init leaf's cgroup.events tells).
#pragma once

#include <sys/types.h>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/poll_thread.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

class Reaper {
 public:
  // Called once, before any other thread exists: makes the daemon a child
  // subreaper (a grandchild init is its child once the intermediate is
  // gone) and blocks SIGCHLD in every thread to come, for the signalfd.
  static void prepare_process();

  Reaper();

 private:
  void reap_exited();
  UniqueFd signals_;  // signalfd: SIGCHLD
  PollThread thread_;  // after signals_, which it serves
};

// Reaps one exited child by pidfd, waiting at most until it exits if `block`.
Status reap_pidfd(int pidfd, bool block);

}  // namespace containerfs::kernel
