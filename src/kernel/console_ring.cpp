#include "containerfs/kernel/console_ring.hpp"

#include <algorithm>
#include <atomic>

namespace containerfs::kernel {

std::uint64_t ring_first_kept(std::uint64_t written, std::uint64_t capacity) {
  return written > capacity ? written - capacity : 0;
}

Result<ConsoleOutput> copy_console_ring(const ConsoleRingHeader& header, const char* data) {
  if (header.magic != kConsoleRingMagic || header.capacity != kConsoleRingCapacity) return fail(EIO);
  const std::uint64_t cap = header.capacity;
  // The init writes the count with a release store (its own atomic
  // builtins: it has no C++ library).
  auto load = [](const unsigned long long& v, int order) { return __atomic_load_n(&v, order); };
  const std::uint64_t written = load(header.written, __ATOMIC_ACQUIRE);
  std::uint64_t first = ring_first_kept(written, cap);
  std::string bytes(written - first, '\0');
  for (std::uint64_t pos = first; pos < written;) {
    std::uint64_t at = pos % cap;
    std::uint64_t n = std::min(written - pos, cap - at);
    std::copy_n(data + at, n, bytes.data() + (pos - first));
    pos += n;
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint64_t reserved = load(header.reserved, __ATOMIC_RELAXED);
  // Positions below reserved - capacity may hold newer bytes by now.
  std::uint64_t intact = std::max(first, ring_first_kept(reserved, cap));
  if (intact > written) intact = written;
  bytes.erase(0, intact - first);
  return ConsoleOutput{intact, std::move(bytes)};
}

std::string_view ConsoleReader::read(const ConsoleOutput& output, std::uint64_t offset, std::size_t size) {
  std::uint64_t pos = offset + shift_;
  if (pos < output.first) {
    shift_ += output.first - pos;
    pos = output.first;
  }
  if (pos >= output.end()) {
    next_ = std::max(next_, std::min(pos, output.end()));
    return {};
  }
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, output.end() - pos));
  next_ = pos + n;
  return std::string_view(output.bytes).substr(static_cast<std::size_t>(pos - output.first), n);
}

}  // namespace containerfs::kernel
