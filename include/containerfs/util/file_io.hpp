// Whole-file reads and writes with errno results, relative to a directory fd
// or absolute.
#pragma once

#include <fcntl.h>

#include <string>
#include <string_view>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs {

Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode = 0);
Result<std::string> read_fd(int fd);
Result<std::string> read_file(const std::string& path);
Result<std::string> read_file_at(int dirfd, const std::string& name);
// One write(2) of the whole text (as a shell's echo does); the kernel's errno
// is returned unchanged.
Status write_file_at(int dirfd, const std::string& name, std::string_view text);
Status write_fd(int fd, std::string_view text);

}  // namespace containerfs
