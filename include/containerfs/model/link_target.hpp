// Where a namespace link points: into the tree (another container's
// namespace file, to share it) or outside it (a namespace to adopt).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::model {

// A file in the tree: the container path from the root (names, possibly
// empty for the host) and the file name at the end (empty: the root
// directory itself).
struct TreeTarget {
  std::vector<std::string> containers;
  std::string file;
};

// A path outside the mount (absolute, normalized).
struct OutsideTarget {
  std::string path;
};

using LinkTarget = std::variant<TreeTarget, OutsideTarget>;

// Resolves `target` as the kernel would for a symlink in the directory of
// the container at `container_path` (names from the root) of a mount at
// `mount_point`: relative targets from that directory, absolute ones as
// they are; `.` and `..` are folded lexically. EINVAL for an empty target.
Result<LinkTarget> resolve_link_target(std::string_view mount_point,
                                       const std::vector<std::string>& container_path,
                                       std::string_view target);

}  // namespace containerfs::model
