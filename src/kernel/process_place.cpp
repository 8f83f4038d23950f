#include "containerfs/kernel/process_place.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "containerfs/util/fd.hpp"

namespace containerfs::kernel {

namespace {

// /proc/PID/<link> ("cwd", "root"): its inode through the magic link, its
// path from the caller's root, and that path checked to name the inode.
Result<KnownDir> known_dir(int procdir, const char* link) {
  struct stat at {};
  if (::fstatat(procdir, link, &at, 0) != 0) return fail(errno == ENOENT ? ESRCH : errno);
  char buf[PATH_MAX];
  const ssize_t n = ::readlinkat(procdir, link, buf, sizeof buf);
  if (n < 0) return fail(errno == ENOENT ? ESRCH : errno);
  if (static_cast<std::size_t>(n) == sizeof buf) return fail(ENAMETOOLONG);
  KnownDir dir{std::string(buf, static_cast<std::size_t>(n)), at.st_dev, at.st_ino};
  // "(unreachable)/..." outside the caller's root, "... (deleted)" gone:
  // neither names it any more.
  if (!dir.path.starts_with('/') || !still_names(AT_FDCWD, dir)) return fail(ENOENT);
  return dir;
}

}  // namespace

Result<ProcessPlace> place_of(pid_t pid) {
  UniqueFd procdir(::open(fmt::format("/proc/{}", pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!procdir) return fail(errno == ENOENT ? ESRCH : errno);
  struct stat theirs {}, ours {};
  if (::fstatat(procdir.get(), "ns/mnt", &theirs, 0) != 0) return fail(errno == ENOENT ? ESRCH : errno);
  if (::stat("/proc/self/ns/mnt", &ours) != 0) return fail(errno);
  if (theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev) return fail(EXDEV);
  auto cwd = known_dir(procdir.get(), "cwd");
  if (!cwd) return fail(cwd.error());
  auto root = known_dir(procdir.get(), "root");
  if (!root) return fail(root.error());
  return ProcessPlace{std::move(*cwd), std::move(*root)};
}

bool still_names(int from, const KnownDir& dir) {
  struct stat st {};
  // Relative to `from` (the leading '/' dropped), or absolute for AT_FDCWD.
  const char* path = from == AT_FDCWD ? dir.path.c_str() : dir.path.c_str() + 1;
  if (*path == '\0') path = ".";
  return ::fstatat(from, path, &st, 0) == 0 && S_ISDIR(st.st_mode) && st.st_dev == dir.dev &&
         st.st_ino == dir.ino;
}

}  // namespace containerfs::kernel
