#include "containerfs/kernel/console.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <optional>
#include <thread>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace containerfs::kernel {

namespace {

// One of the init's descriptors, as a new one of ours; EBADF if it has none
// at that number.
Result<UniqueFd> borrow(int init_pidfd, int fd) {
  int got = static_cast<int>(::syscall(SYS_pidfd_getfd, init_pidfd, fd, 0));
  if (got < 0) return fail_errno();
  return UniqueFd(got);
}

// What the init holds is the container's to tamper with (its root may
// ptrace the init, or reach its descriptors through /proc/1/fd): each one
// is checked before use, so that it can neither block nor crash the daemon.

// A memfd of the ring's size, sealed against shrinking and growing: it can
// be mapped without the risk of SIGBUS.
Status check_ring_file(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail_errno();
  int seals = ::fcntl(fd, F_GET_SEALS);
  constexpr int kNeeded = F_SEAL_SHRINK | F_SEAL_GROW;
  if (!S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(kConsoleRingFileSize) || seals < 0 ||
      (seals & kNeeded) != kNeeded)
    return fail(EIO);
  return {};
}

// A pseudo-terminal master, made non-blocking (as the init opened it).
Status check_master(int fd) {
  unsigned number;
  if (::ioctl(fd, TIOCGPTN, &number) != 0) return fail(EIO);
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return fail_errno();
  return {};
}

// An eventfd, made non-blocking (as the init made it).
Status check_eventfd(int fd) {
  char what[32] = {};
  if (::readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), what, sizeof what - 1) < 0) return fail_errno();
  if (std::string_view(what) != "anon_inode:[eventfd]") return fail(EIO);
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return fail_errno();
  return {};
}

// The ring, mapped read-only for one operation.
class MappedRing {
 public:
  static Result<MappedRing> of(int init_pidfd) {
    auto fd = borrow(init_pidfd, kConsoleRingFd);
    if (!fd) return fail(fd.error());
    if (auto ok = check_ring_file(fd->get()); !ok) return fail(ok.error());
    void* at = ::mmap(nullptr, kConsoleRingFileSize, PROT_READ, MAP_SHARED, fd->get(), 0);
    if (at == MAP_FAILED) return fail_errno();
    return MappedRing(at);
  }
  MappedRing(MappedRing&& o) noexcept : at_(std::exchange(o.at_, nullptr)) {}
  MappedRing& operator=(MappedRing&&) = delete;
  ~MappedRing() {
    if (at_) ::munmap(at_, kConsoleRingFileSize);
  }
  const ConsoleRingHeader& header() const { return *static_cast<const ConsoleRingHeader*>(at_); }
  const char* data() const { return static_cast<const char*>(at_) + kConsoleRingDataOffset; }
  bool ready() const {
    return __atomic_load_n(&header().ready, __ATOMIC_ACQUIRE) != 0;
  }
  unsigned attempts() const {
    return __atomic_load_n(&header().attempts, __ATOMIC_ACQUIRE);
  }

 private:
  explicit MappedRing(void* at) : at_(at) {}
  void* at_;
};

// The ring, or nullopt when the init has none (yet).
Result<std::optional<MappedRing>> ring_if_any(int init_pidfd) {
  auto ring = MappedRing::of(init_pidfd);
  if (!ring) {
    if (ring.error() == EBADF) return std::optional<MappedRing>();
    return fail(ring.error());
  }
  return std::optional<MappedRing>(std::move(*ring));
}

// A descriptor of a console that exists (ENXIO otherwise).
Result<UniqueFd> console_fd(int init_pidfd, int fd) {
  auto got = borrow(init_pidfd, fd);
  if (!got && got.error() == EBADF) return fail(ENXIO);
  return got;
}

}  // namespace

Result<bool> has_console(int init_pidfd) {
  auto ring = ring_if_any(init_pidfd);
  if (!ring) return fail(ring.error());
  return *ring && (*ring)->ready();
}

Status request_console(int init_pidfd, std::chrono::milliseconds bound) {
  auto ring = ring_if_any(init_pidfd);
  if (!ring) return fail(ring.error());
  if (*ring && (*ring)->ready()) return {};
  const unsigned before = *ring ? (*ring)->attempts() : 0;
  if (::syscall(SYS_pidfd_send_signal, init_pidfd, kConsoleRequestSignal, nullptr, 0) != 0) return fail_errno();
  // The init answers within microseconds unless it is stopped or starved:
  // look again at growing intervals until the bound.
  auto deadline = std::chrono::steady_clock::now() + bound;
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    auto now = ring_if_any(init_pidfd);
    if (!now) return fail(now.error());
    if (*now && (*now)->attempts() != before) {
      if ((*now)->ready()) return {};
      int err = (*now)->header().error;
      return fail(err > 0 && err < 4096 ? err : EIO);
    }
    if (std::chrono::steady_clock::now() >= deadline) return fail(ETIMEDOUT);
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
}

Result<ConsoleOutput> read_console(int init_pidfd) {
  auto ring = ring_if_any(init_pidfd);
  if (!ring) return fail(ring.error());
  if (!*ring) return ConsoleOutput{};
  return copy_console_ring((*ring)->header(), (*ring)->data());
}

Result<std::uint64_t> console_written(int init_pidfd) {
  auto ring = ring_if_any(init_pidfd);
  if (!ring) return fail(ring.error());
  if (!*ring) return 0;
  return __atomic_load_n(&(*ring)->header().written, __ATOMIC_ACQUIRE);
}

Result<std::size_t> type_on_console(int init_pidfd, std::string_view input, std::chrono::milliseconds bound) {
  auto master = console_fd(init_pidfd, kConsoleMasterFd);
  if (!master) return fail(master.error());
  if (auto ok = check_master(master->get()); !ok) return fail(ok.error());
  // The master is non-blocking (the init shares its file description): a
  // full input queue is waited out, within the bound.
  auto deadline = std::chrono::steady_clock::now() + bound;
  std::size_t done = 0;
  while (done < input.size()) {
    ssize_t n = ::write(master->get(), input.data() + done, input.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return done ? Result<std::size_t>(done) : fail_errno();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd room{master->get(), POLLOUT, 0};
    (void)::poll(&room, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
  }
  if (done == 0 && !input.empty()) return fail(EAGAIN);
  return done;
}

Result<UniqueFd> open_console_terminal(int init_pidfd) {
  auto master = console_fd(init_pidfd, kConsoleMasterFd);
  if (!master) return fail(master.error());
  if (auto ok = check_master(master->get()); !ok) return fail(ok.error());
  int fd = ::ioctl(master->get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return fail_errno();
  return UniqueFd(fd);
}

Result<UniqueFd> console_event_fd(int init_pidfd) {
  auto fd = console_fd(init_pidfd, kConsoleEventFd);
  if (!fd) return fail(fd.error());
  if (auto ok = check_eventfd(fd->get()); !ok) return fail(ok.error());
  std::uint64_t count;
  (void)!::read(fd->get(), &count, sizeof count);  // non-blocking: empty or emptied
  return fd;
}

}  // namespace containerfs::kernel
