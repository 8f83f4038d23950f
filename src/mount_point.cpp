#include "containerfs/mount_point.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "containerfs/kernel/mountinfo.hpp"

namespace containerfs {

std::string lexically_absolute(std::string_view cwd, std::string_view path) {
  std::vector<std::string_view> parts;
  auto add = [&parts](std::string_view text) {
    while (!text.empty()) {
      auto slash = text.find('/');
      auto part = text.substr(0, slash);
      text = slash == std::string_view::npos ? std::string_view{} : text.substr(slash + 1);
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
        continue;
      }
      parts.push_back(part);
    }
  };
  if (!path.starts_with('/')) add(cwd);
  add(path);
  std::string out;
  for (auto part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? "/" : out;
}

std::expected<std::string, std::string> check_mount_point(const std::string& given,
                                                          std::string_view mountinfo) {
  auto mounts = kernel::find_mounts_of_type(mountinfo, "fuse.containerfs");
  auto is_containerfs = [&mounts](const std::string& path) {
    return std::find(mounts.begin(), mounts.end(), path) != mounts.end();
  };
  auto already = [&given] {
    return fmt::format("{} is already a containerfs mount (umount it first, or choose another "
                       "mount point)", given);
  };
  // Checked before resolving: the mount of a daemon that is gone cannot be
  // resolved (ENOTCONN).
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) && is_containerfs(lexically_absolute(cwd, given)))
    return std::unexpected(already());
  char resolved[PATH_MAX];
  if (!::realpath(given.c_str(), resolved)) {
    if (errno == ENOENT) return std::unexpected(fmt::format("mount point {} does not exist", given));
    return std::unexpected(fmt::format("mount point {}: {}", given, std::strerror(errno)));
  }
  if (is_containerfs(resolved)) return std::unexpected(already());
  struct stat st {};
  if (::stat(resolved, &st) != 0)
    return std::unexpected(fmt::format("mount point {}: {}", given, std::strerror(errno)));
  if (!S_ISDIR(st.st_mode))
    return std::unexpected(fmt::format("mount point {} is not a directory", given));
  return std::string(resolved);
}

}  // namespace containerfs
