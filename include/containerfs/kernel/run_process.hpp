// Starting a program inside a container (`run`), with no help from its
// init: an intermediate child of the daemon joins the container's members'
// cgroup and the init's namespaces (setns(2) on its pidfd), forks once
// inside the pid namespace, and that child forks the program and exits, so
// that the program is an orphan adopted by the container's init (a pid
// namespace's init reaps its orphans): a child of the init, inside its pid
// namespace, in its root, on its console.
#pragma once

#include <sys/types.h>

#include <string>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

// The environment of a program `run` starts: a default PATH, HOME /.
inline constexpr const char* kRunPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
inline constexpr const char* kRunHome = "HOME=/";
inline constexpr const char* kRunTerm = "TERM=vt220";

struct RunSpec {
  int init_pidfd = -1;     // the container's init: its namespaces are joined
  int cgroup_procs_fd = -1;  // cgroup.procs of the members' cgroup, opened for writing
  int terminal_fd = -1;    // stdin, stdout, stderr and controlling terminal
  std::string command;     // run as /bin/sh -c COMMAND
  // When the init's user namespace is not the daemon's: the host ids that
  // are root inside it, taken before joining it, so that the program has
  // exactly the rights of that namespace's owner and no more.
  bool join_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Returns once /bin/sh is executing (each step waited for within
// kChildStepBound): ENOENT if the container has no /bin/sh, the errno of
// any step that failed otherwise (ESRCH: the init is gone).
Status run_in_container(const RunSpec& spec);

}  // namespace containerfs::kernel
