// What an open file handle (fi->fh) holds.
#pragma once

#include <string>

#include "containerfs/fuse/inode.hpp"
#include "containerfs/kernel/console_ring.hpp"

namespace containerfs::fuse {

struct OpenFile {
  Node node;
  std::string content;  // the snapshot a read-open took
  bool read_before = false;
  kernel::ConsoleReader console;  // `console`: where its reads are
};

// A write handler that has replied to the request itself returns this.
inline constexpr int kAlreadyReplied = -1;

}  // namespace containerfs::fuse
