// Starting a container's init process: pid 1 of a fresh pid namespace (when
// asked), born inside the container's cgroup, holding the container's fresh
// namespaces and joining its parent container's for the rest.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

struct InitSpec {
  std::string init_path;      // the containerfs-init program
  const Cgroup* cgroup;       // born inside it
  int fresh = 0;              // CLONE_NEW* kinds the container gets of its own
  // Where the remaining kinds come from: the parent container's init, or 0
  // for the host (the daemon's own namespaces, nothing to join).
  pid_t parent_init = 0;
  std::string hostname;       // set when the uts namespace is fresh
  // Mount points (containerfs mounts) detached inside a fresh mount
  // namespace, so that a container never pins a containerfs mount.
  std::vector<std::string> detach_mounts;
};

struct InitProcess {
  pid_t pid = 0;
  UniqueFd pidfd;
};

// The daemon must be a child subreaper and must reap its children (see
// Reaper): the init is the daemon's child or, with a user namespace, is
// adopted by it.
Result<InitProcess> spawn_init(const InitSpec& spec);

// Start time of a process (field 22 of /proc/PID/stat), to tell a recorded
// init from a later process that reuses its pid.
Result<unsigned long long> process_start_time(pid_t pid);

}  // namespace containerfs::kernel
