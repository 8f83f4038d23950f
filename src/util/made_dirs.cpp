#include "containerfs/util/made_dirs.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace containerfs {

MadeDirs::~MadeDirs() {
  // Children first; a directory something was put in meanwhile stays.
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) ::rmdir(it->c_str());
}

Status MadeDirs::make(const std::string& path, mode_t mode) {
  if (path.empty() || path[0] != '/') return fail(EINVAL);
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    std::string prefix = path.substr(0, end);
    if (::mkdir(prefix.c_str(), mode) == 0) {
      made_.push_back(prefix);
    } else if (errno == EEXIST) {
      struct stat st {};
      if (::stat(prefix.c_str(), &st) != 0) return fail_errno();
      if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR);
    } else {
      return fail_errno();
    }
    if (end == std::string::npos) return {};
  }
}

}  // namespace containerfs
