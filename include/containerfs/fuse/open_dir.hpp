// An open container directory (fi->fh of opendir): the listing, taken at
// the first read from the start (as a seq_file would) and served from there
// in pieces, so that a directory of 20,000 containers is walked once per
// listing, not once per piece. Where the kernel serves the listing from its
// own cache, no snapshot is taken at all.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "containerfs/fuse/inode.hpp"
#include "containerfs/util/mutex.hpp"

namespace containerfs::fuse {

struct DirEntryOut {
  std::string name;
  Node node;
  struct stat st {};  // what stat(2) of it shows (for readdirplus)
};

struct OpenDir {
  model::ContainerId id = model::kHostId;
  Mutex mutex;  // readdir of one open directory may come from two threads
  bool taken GUARDED_BY(mutex) = false;
  std::vector<DirEntryOut> entries GUARDED_BY(mutex);
};

}  // namespace containerfs::fuse
