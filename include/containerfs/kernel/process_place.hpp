// Where a process stands in the file system: its working directory and its
// root, each as a path from the root of the caller's mount namespace and the
// inode it named when it was read. A path alone could name another directory
// later (renamed, deleted and made again); the inode tells.
#pragma once

#include <sys/types.h>

#include <string>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

struct KnownDir {
  std::string path;  // absolute
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const KnownDir&, const KnownDir&) = default;
};

struct ProcessPlace {
  KnownDir cwd;
  KnownDir root;
  friend bool operator==(const ProcessPlace&, const ProcessPlace&) = default;
};

// The place of `pid`, if it is in the caller's mount namespace and both
// directories are reachable there by their paths: EXDEV for a process in
// another mount namespace; ENOENT if a directory has no path that names it
// (deleted, or outside the caller's root); ESRCH if it is gone.
Result<ProcessPlace> place_of(pid_t pid);

// Whether `path`, looked up from the directory fd `from` (a process's root:
// /proc/PID/root), names `dir`'s inode.
bool still_names(int from, const KnownDir& dir);

}  // namespace containerfs::kernel
