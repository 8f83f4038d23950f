// Reading a container's console ring (console_layout.hpp) consistently
// while its init may be writing, and mapping the offsets of the `console`
// file onto it. Pure: works on any header and data in memory, the init's
// mapped memfd or a test's buffers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "containerfs/kernel/console_layout.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

// What a console has kept: the output bytes [first, first + bytes.size()),
// counted from the console's start; `written` is every byte so far.
struct ConsoleOutput {
  std::uint64_t first = 0;
  std::string bytes;
  std::uint64_t end() const { return first + bytes.size(); }
};

// The oldest byte a ring of `capacity` still holds after `written` bytes.
std::uint64_t ring_first_kept(std::uint64_t written, std::uint64_t capacity);

// A copy of what the ring keeps, taken while the writer may go on: the
// count of bytes is read before the copy and the writer's reservation after
// it, and bytes the writer may have overwritten meanwhile are left out.
// EIO if the header is not a ring's (magic, capacity).
Result<ConsoleOutput> copy_console_ring(const ConsoleRingHeader& header, const char* data);

// The reads of one open `console` file. The file's offsets are the
// console's byte counts (its size is the count written so far, so `tail -f`
// follows it); a read below what is kept starts at the oldest byte kept
// instead, and the reads after it go on from there (the offset shift grows
// by what was skipped), so `cat` gives the last 64 KiB.
class ConsoleReader {
 public:
  // The bytes of `output` that a read of `size` at `offset` returns.
  std::string_view read(const ConsoleOutput& output, std::uint64_t offset, std::size_t size);
  // Where this open file's next read continues, in console bytes: output
  // beyond it makes poll(2) say readable.
  std::uint64_t next() const { return next_; }
  std::uint64_t shift() const { return shift_; }

 private:
  std::uint64_t shift_ = 0;
  std::uint64_t next_ = 0;
};

}  // namespace containerfs::kernel
