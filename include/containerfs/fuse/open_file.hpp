// What an open file handle (fi->fh) holds, and how a write to it ends.
#pragma once

#include <cstddef>
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

// How a write handler ended: the bytes it took, for op_write to reply with
// (fewer than written is a short write, which write(2)'s caller goes on
// from), or the request answered by the handler itself (a writer that moved
// itself is answered before its move ends).
struct WriteOutcome {
  static WriteOutcome written(std::size_t bytes) { return {bytes, false}; }
  static WriteOutcome answered() { return {0, true}; }
  std::size_t bytes = 0;
  bool replied = false;
};

}  // namespace containerfs::fuse
