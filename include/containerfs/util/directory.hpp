// Listing a directory without a DIR* to forget: the entries, read at once.
#pragma once

#include <string>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs {

struct DirEntry {
  std::string name;  // never "." or ".."
  unsigned char type = 0;  // DT_*
};

// The entries of `path` (relative to `dirfd`; AT_FDCWD for absolute paths).
Result<std::vector<DirEntry>> list_directory(int dirfd, const std::string& path);

}  // namespace containerfs
