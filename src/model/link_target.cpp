#include "containerfs/model/link_target.hpp"

namespace containerfs::model {

namespace {

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    auto part = path.substr(pos, slash - pos);
    if (!part.empty()) parts.emplace_back(part);
    pos = slash + 1;
  }
  return parts;
}

// Folds "." and ".." of `parts` onto `base` (absolute components).
std::vector<std::string> fold(std::vector<std::string> base, const std::vector<std::string>& parts) {
  for (const auto& p : parts) {
    if (p == ".") continue;
    if (p == "..") {
      if (!base.empty()) base.pop_back();
      continue;
    }
    base.push_back(p);
  }
  return base;
}

}  // namespace

Result<LinkTarget> resolve_link_target(std::string_view mount_point,
                                       const std::vector<std::string>& container_path,
                                       std::string_view target) {
  if (target.empty()) return fail(EINVAL);
  auto mount = split(mount_point);
  std::vector<std::string> absolute;
  if (target.front() == '/') {
    absolute = fold({}, split(target));
  } else {
    auto dir = mount;
    dir.insert(dir.end(), container_path.begin(), container_path.end());
    absolute = fold(dir, split(target));
  }
  bool inside = absolute.size() >= mount.size() &&
                std::equal(mount.begin(), mount.end(), absolute.begin());
  if (!inside) {
    std::string path;
    for (const auto& p : absolute) path += "/" + p;
    return OutsideTarget{path.empty() ? "/" : path};
  }
  TreeTarget t;
  if (absolute.size() == mount.size()) return t;  // the mount's root: a directory
  t.containers.assign(absolute.begin() + static_cast<long>(mount.size()), absolute.end() - 1);
  t.file = absolute.back();
  return t;
}

}  // namespace containerfs::model
