// A container's own file system tree (`ln -s DIR C/root`) and its own
// /proc, set up by its init before the init execs.
//
// The directory is a host path: the daemon clones its mount tree
// (open_tree(2), OPEN_TREE_CLONE, recursive) in its own mount namespace,
// whatever namespace the init starts from. The init then, in a mount
// namespace of its own: attaches the clone, mounts /proc (its pid
// namespace), /sys (read-only, sysfs of its network namespace), /dev (a
// tmpfs with null zero full random urandom tty, a console placeholder,
// ptmx -> pts/ptmx, a devpts instance of its own at /dev/pts, a tmpfs at
// /dev/shm, fd stdin stdout stderr links into /proc/self/fd), and makes
// the clone its root with pivot_root(2), detaching the old root: nothing
// of the host's tree stays reachable. In a user namespace, where mknod is
// not allowed, the host's device nodes are bound instead (as runc does for
// rootless containers), and /sys is the host's, bound read-only, when
// sysfs may not be mounted.
#pragma once

#include <string>
#include <vector>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

// Daemon side: a detached clone of the mount tree at `dir_fd` (a directory,
// opened O_PATH by whoever may reach it).
Result<UniqueFd> clone_root_tree(int dir_fd);

// Of `mounts` (absolute paths), those inside the directory `root`, relative
// to it: the containerfs mounts a clone must not keep.
std::vector<std::string> mounts_inside(const std::string& root, const std::vector<std::string>& mounts);

// Child side: raw system calls only, no allocation; 0 or an errno.
// Makes the cloned tree the calling process's root as described above.
// Requires a private mount namespace of the process's own.
int enter_root_fs(int tree_fd, const char* const* detach, int detach_count);
// Mounts a /proc of the calling process's pid namespace over /proc; one
// that does not show the process (a stale /proc of a pid namespace the
// container had before) is detached first.
int mount_own_proc();

}  // namespace containerfs::kernel
