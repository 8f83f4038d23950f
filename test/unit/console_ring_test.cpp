#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "containerfs/kernel/console_ring.hpp"
#include "containerfs/kernel/root_fs.hpp"

using namespace containerfs;
using kernel::ConsoleOutput;
using kernel::ConsoleReader;
using kernel::ConsoleRingHeader;

namespace {

constexpr std::uint64_t kCap = kernel::kConsoleRingCapacity;

// A ring as the init fills it: byte N of the output is the letter N % 26.
struct Ring {
  ConsoleRingHeader header{kernel::kConsoleRingMagic, kCap, 0, 0, 1, 0, 1, 0};
  std::vector<char> data = std::vector<char>(kCap);
  static char byte(std::uint64_t n) { return static_cast<char>('a' + n % 26); }
  void append(std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) data[(header.written + i) % kCap] = byte(header.written + i);
    header.written += n;
    header.reserved = header.written;
  }
};

void check_bytes(const ConsoleOutput& out) {
  for (std::uint64_t i = 0; i < out.bytes.size(); ++i) REQUIRE(out.bytes[i] == Ring::byte(out.first + i));
}

}  // namespace

TEST_CASE("a console ring keeps the last capacity bytes") {
  CHECK(kernel::ring_first_kept(0, kCap) == 0);
  CHECK(kernel::ring_first_kept(kCap, kCap) == 0);
  CHECK(kernel::ring_first_kept(kCap + 1, kCap) == 1);
  Ring ring;
  auto empty = kernel::copy_console_ring(ring.header, ring.data.data());
  REQUIRE(empty);
  CHECK(empty->first == 0);
  CHECK(empty->bytes.empty());
  ring.append(100);
  auto some = kernel::copy_console_ring(ring.header, ring.data.data());
  REQUIRE(some);
  CHECK(some->first == 0);
  CHECK(some->end() == 100);
  check_bytes(*some);
  // Wrapped around, more than once.
  ring.append(3 * kCap + 1234);
  auto wrapped = kernel::copy_console_ring(ring.header, ring.data.data());
  REQUIRE(wrapped);
  CHECK(wrapped->end() == ring.header.written);
  CHECK(wrapped->bytes.size() == kCap);
  check_bytes(*wrapped);
}

TEST_CASE("bytes a writer may be overwriting are left out of a copy") {
  Ring ring;
  ring.append(2 * kCap + 10);
  // The init has reserved a chunk more and may be writing over the oldest
  // bytes kept: still at least 64 KiB left.
  ring.header.reserved = ring.header.written + kernel::kConsoleDrainChunk;
  auto out = kernel::copy_console_ring(ring.header, ring.data.data());
  REQUIRE(out);
  CHECK(out->end() == ring.header.written);
  CHECK(out->first == ring.header.written - kCap + kernel::kConsoleDrainChunk);
  CHECK(out->bytes.size() >= 64 * 1024);
  check_bytes(*out);
}

TEST_CASE("a header that is not a ring's is EIO") {
  Ring ring;
  ring.header.magic = 0;
  auto bad_magic = kernel::copy_console_ring(ring.header, ring.data.data());
  REQUIRE_FALSE(bad_magic);
  CHECK(bad_magic.error() == EIO);
  ring.header.magic = kernel::kConsoleRingMagic;
  ring.header.capacity = 4096;
  auto bad_capacity = kernel::copy_console_ring(ring.header, ring.data.data());
  REQUIRE_FALSE(bad_capacity);
  CHECK(bad_capacity.error() == EIO);
}

TEST_CASE("reading the console file: cat from 0 gets what is kept, then end of file") {
  Ring ring;
  ring.append(kCap + 5000);
  auto out = *kernel::copy_console_ring(ring.header, ring.data.data());
  ConsoleReader reader;
  std::string got;
  std::uint64_t offset = 0;
  for (;;) {
    auto chunk = reader.read(out, offset, 4096);
    if (chunk.empty()) break;
    got += chunk;
    offset += chunk.size();
  }
  CHECK(got == out.bytes);
  CHECK(reader.shift() == out.first);
  CHECK(reader.next() == out.end());
}

TEST_CASE("reading the console file: an offset within what is kept reads those very bytes") {
  Ring ring;
  ring.append(kCap + 5000);
  auto out = *kernel::copy_console_ring(ring.header, ring.data.data());
  ConsoleReader reader;
  // `tail` reads the end at the file's size minus a block.
  auto end = reader.read(out, out.end() - 100, 4096);
  REQUIRE(end.size() == 100);
  CHECK(end.front() == Ring::byte(out.end() - 100));
  CHECK(reader.shift() == 0);
  CHECK(reader.next() == out.end());
  // New output: the next read at the old end gets it.
  ring.append(10);
  auto more = *kernel::copy_console_ring(ring.header, ring.data.data());
  auto next = reader.read(more, out.end(), 4096);
  REQUIRE(next.size() == 10);
  CHECK(next.front() == Ring::byte(out.end()));
}

TEST_CASE("reading the console file: a reader overtaken by the writer skips to the oldest byte kept") {
  Ring ring;
  ring.append(100);
  auto out = *kernel::copy_console_ring(ring.header, ring.data.data());
  ConsoleReader reader;
  REQUIRE(reader.read(out, 0, 50).size() == 50);
  ring.append(2 * kCap);
  auto later = *kernel::copy_console_ring(ring.header, ring.data.data());
  auto chunk = reader.read(later, 50, 10);
  REQUIRE(chunk.size() == 10);
  CHECK(chunk.front() == Ring::byte(later.first));
  CHECK(reader.shift() == later.first - 50);
  // The file offset goes on as usual; the shift stays.
  auto after = reader.read(later, 60, 10);
  REQUIRE(after.size() == 10);
  CHECK(after.front() == Ring::byte(later.first + 10));
}

TEST_CASE("containerfs mounts inside a root directory are found relative to it") {
  std::vector<std::string> mounts = {"/containers", "/srv/web/containers", "/srv/webx/c", "/srv/web"};
  CHECK(kernel::mounts_inside("/srv/web", mounts) == std::vector<std::string>{"containers"});
  CHECK(kernel::mounts_inside("/srv/web/", mounts) == std::vector<std::string>{"containers"});
  CHECK(kernel::mounts_inside("/", mounts) ==
        std::vector<std::string>{"containers", "srv/web/containers", "srv/webx/c", "srv/web"});
  CHECK(kernel::mounts_inside("/srv/other", mounts).empty());
}
