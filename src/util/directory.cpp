#include "containerfs/util/directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>

namespace containerfs {

Result<std::vector<DirEntry>> list_directory(int dirfd, const std::string& path) {
  int fd = ::openat(dirfd, path.empty() ? "." : path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail_errno();
  // From here the DIR owns the descriptor, and closes it on every path.
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd), ::closedir);
  if (!dir) {
    int err = errno;
    ::close(fd);
    return fail(err);
  }
  std::vector<DirEntry> out;
  errno = 0;
  while (auto* ent = ::readdir(dir.get())) {
    std::string_view n = ent->d_name;
    if (n != "." && n != "..") out.push_back({std::string(n), ent->d_type});
  }
  if (errno != 0) return fail_errno();
  return out;
}

}  // namespace containerfs
