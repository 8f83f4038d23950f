#include "containerfs/kernel/init_title.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "containerfs/kernel/process.hpp"
#include "containerfs/util/file_io.hpp"

namespace containerfs::kernel {

namespace {

constexpr std::string_view kCutMarker = "...";
constexpr std::string_view kRoomName = "CONTAINERFS_TITLE_ROOM=";
constexpr size_t kRoom = 255;  // a rename of one component always fits
// The kernel reads at most a page of a rewritten argument area.
constexpr size_t kMaxArea = 4096;
// Field numbers in /proc/PID/stat (proc(5)).
constexpr int kStartTimeField = 22;
constexpr int kArgStartField = 48;
constexpr int kArgEndField = 49;
constexpr int kEnvStartField = 50;
constexpr int kEnvEndField = 51;

// "containerfs-init PATH" in at most `room` bytes, the path cut at its
// beginning if need be; empty if not even a cut one fits.
std::string title_within(std::string_view path, size_t room) {
  std::string title = fmt::format("{} ", kInitArgv0);
  if (title.size() + path.size() <= room) return title + std::string(path);
  if (room < title.size() + kCutMarker.size() + 1) return {};
  size_t from = path.size() - (room - title.size() - kCutMarker.size());
  // Not in the middle of a UTF-8 character.
  while (from < path.size() && (static_cast<unsigned char>(path[from]) & 0xC0) == 0x80) ++from;
  return title + std::string(kCutMarker) + std::string(path.substr(from));
}

struct ArgArea {
  unsigned long long start = 0;
  size_t args = 0;  // bytes of arguments
  size_t total = 0;  // with the environment after them, at most a page
};

// Where the argument area is; nullopt while the process is still in its
// execve (arg_end is set last).
Result<std::optional<ArgArea>> arg_area(std::string_view stat) {
  auto arg_start = stat_field(stat, kArgStartField);
  auto arg_end = stat_field(stat, kArgEndField);
  auto env_start = stat_field(stat, kEnvStartField);
  auto env_end = stat_field(stat, kEnvEndField);
  if (!arg_start || !arg_end || !env_start || !env_end) return fail(EIO);
  if (*arg_end <= *arg_start) return std::optional<ArgArea>();
  ArgArea a;
  a.start = *arg_start;
  a.args = *arg_end - *arg_start;
  size_t env = *env_start == *arg_end && *env_end > *env_start ? *env_end - *env_start : 0;
  a.total = std::min(a.args + env, kMaxArea);
  if (a.args > a.total) return fail(EINVAL);
  return std::optional<ArgArea>(a);
}

}  // namespace

InitTitleArgs init_title_args(std::string_view path) {
  // Short enough that argv[0], argv[1] and the room stay within a page.
  size_t room = kMaxArea - kInitArgv0.size() - 1 - 1 - kRoom - 1;
  auto title = title_within(path, kInitArgv0.size() + 1 + room);
  InitTitleArgs args;
  args.path = title.substr(kInitArgv0.size() + 1);
  args.room = std::string(kRoomName);
  args.room.resize(kRoom, ' ');
  return args;
}

std::string init_title_bytes(std::string_view path, size_t arg_area, size_t area) {
  if (arg_area == 0 || arg_area > area) return {};
  // The title's NUL, and the last argument byte if the title ends before
  // it. (A NUL right there reads the same: the arguments, one string.)
  auto title = title_within(path, area - 2);
  if (title.empty()) return {};
  bool ends_early = title.size() + 1 < arg_area;
  title.resize(area, '\0');
  if (ends_early) title[arg_area - 1] = ' ';
  return title;
}

Status set_init_title(pid_t pid, unsigned long long start_time, std::string_view path) {
  // Everything through one /proc/PID directory fd: it keeps meaning this
  // process even if the pid is reused, and the start time read through it
  // says that it is the init.
  auto dir = open_at(AT_FDCWD, fmt::format("/proc/{}", pid), O_RDONLY | O_DIRECTORY);
  if (!dir) return fail(dir.error() == ENOENT ? ESRCH : dir.error());
  std::optional<ArgArea> area;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (long pause_ns = 20'000;; pause_ns = std::min(pause_ns * 2, 10'000'000L)) {
    auto stat = read_file_at(dir->get(), "stat");
    if (!stat) return fail(stat.error() == ENOENT ? ESRCH : stat.error());
    auto start = stat_field(*stat, kStartTimeField);
    if (!start) return fail(EIO);
    if (*start != start_time) return fail(ESRCH);
    auto found = arg_area(*stat);
    if (!found) return fail(found.error());
    if (*found) {
      area = **found;
      break;
    }
    // Just started: still in its execve.
    if (std::chrono::steady_clock::now() > deadline) return fail(ETIMEDOUT);
    timespec pause{0, pause_ns};
    ::nanosleep(&pause, nullptr);
  }
  auto want = init_title_bytes(path, area->args, area->total);
  if (want.empty()) return fail(ENOSPC);
  // Shown already (as started, or as written before)?
  auto shown = read_file_at(dir->get(), "cmdline");
  if (!shown) return fail(shown.error());
  if (shown->ends_with('\0')) shown->pop_back();
  std::replace(shown->begin(), shown->end(), '\0', ' ');
  if (*shown == want.substr(0, want.find('\0'))) return {};

  auto mem = open_at(dir->get(), "mem", O_RDWR);
  if (!mem) return fail(mem.error());
  auto offset = static_cast<off_t>(area->start);
  std::string now(area->total, '\0');
  ssize_t got = ::pread(mem->get(), now.data(), now.size(), offset);
  if (got < 0) return fail_errno();
  if (static_cast<size_t>(got) != now.size()) return fail(EIO);
  // An init's own area: "containerfs-init" then its NUL or a title's space.
  if (!now.starts_with(kInitArgv0) || now.size() == kInitArgv0.size() ||
      (now[kInitArgv0.size()] != '\0' && now[kInitArgv0.size()] != ' '))
    return fail(EINVAL);
  ssize_t put = ::pwrite(mem->get(), want.data(), want.size(), offset);
  if (put < 0) return fail_errno();
  if (static_cast<size_t>(put) != want.size()) return fail(EIO);
  return {};
}

}  // namespace containerfs::kernel
