#include "containerfs/util/file_io.hpp"

#include <unistd.h>

namespace containerfs {

Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return fail_errno();
  return UniqueFd(fd);
}

Result<std::string> read_fd(int fd) {
  std::string out;
  char buf[4096];
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ESPIPE) {
        n = ::read(fd, buf, sizeof buf);
        if (n < 0) return fail_errno();
      } else {
        return fail_errno();
      }
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

Result<std::string> read_file(const std::string& path) { return read_file_at(AT_FDCWD, path); }

Result<std::string> read_file_at(int dirfd, const std::string& name) {
  auto fd = open_at(dirfd, name, O_RDONLY);
  if (!fd) return fail(fd.error());
  return read_fd(fd->get());
}

Status write_fd(int fd, std::string_view text) {
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno();
  if (static_cast<size_t>(n) != text.size()) return fail(EIO);
  return {};
}

Status write_file_at(int dirfd, const std::string& name, std::string_view text) {
  auto fd = open_at(dirfd, name, O_WRONLY);
  if (!fd) return fail(fd.error());
  return write_fd(fd->get(), text);
}

}  // namespace containerfs
