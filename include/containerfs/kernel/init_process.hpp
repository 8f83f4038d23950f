// Starting a container's init process: pid 1 of a fresh pid namespace (when
// asked), born inside the container's cgroup, holding the container's fresh
// namespaces and joining its parent container's for the rest.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

struct InitSpec {
  std::string init_path;      // the containerfs-init program
  const Cgroup* cgroup;       // the container's cgroup: root of a fresh cgroup namespace
  const Cgroup* leaf;         // where the init lives (inside `cgroup`)
  int fresh = 0;              // CLONE_NEW* kinds created anew for the container
  // Namespaces joined before the fresh ones are made (paths that open them:
  // /proc/PID/ns/X, /proc/DAEMON/fd/N, a bind mount). A joined user
  // namespace (joined after the others) owns the fresh namespaces. Kinds listed nowhere are the
  // daemon's own.
  std::vector<std::pair<NsKind, std::string>> join;
  // The pid namespace the init is born in (path; empty: the daemon's). With
  // a fresh pid namespace, the new one is its child.
  std::string pid_parent;
  std::string hostname;       // set when the uts namespace is fresh
  std::string title;          // the container's path, for its command line
  // Written to timens_offsets of a fresh time namespace before the init's
  // exec enters it ("monotonic S N\nboottime S N"); empty: none.
  std::string time_offsets;
  // Non-zero: the fresh namespaces are made with these credentials (a
  // delegated container): in a fresh user namespace (CLONE_NEWUSER in
  // `fresh`), which this uid then owns, or in a joined user namespace this
  // uid owns, which is joined as the owner (the kernel's rule decides).
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  // Mount points (containerfs mounts) detached inside a fresh mount
  // namespace, so that a container never pins a containerfs mount.
  std::vector<std::string> detach_mounts;
  // The container's own root file system (kernel/root_fs.hpp): a host
  // directory opened O_PATH, -1 for none. Requires CLONE_NEWNS in `fresh`.
  int root_fd = -1;
  // A /proc of the init's pid namespace in its mount namespace (a container
  // with mount and pid namespaces of its own); with a root, always.
  bool own_proc = false;
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
