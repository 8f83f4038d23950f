// Parsing of /proc/self/mountinfo: where cgroup v2 is, which containerfs
// mounts exist.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

struct MountEntry {
  std::string root;         // field 4: root of the mount within its filesystem
  std::string mount_point;  // field 5, octal escapes decoded
  std::string fs_type;      // after the " - " separator
  std::string source;
};

// Parses the whole text of a mountinfo file; malformed lines are skipped.
std::vector<MountEntry> parse_mountinfo(std::string_view text);

// Decodes the \040-style octal escapes the kernel uses in mountinfo.
std::string unescape_mount_field(std::string_view field);

// The first cgroup2 mount point in the text; ENOENT if none (v1-only host).
Result<std::string> find_cgroup2_mount(std::string_view mountinfo_text);

// Mount points of every FUSE mount of the given subtype ("fuse.containerfs").
std::vector<std::string> find_mounts_of_type(std::string_view mountinfo_text,
                                             std::string_view fs_type);

// Reads /proc/self/mountinfo.
Result<std::string> read_own_mountinfo();

}  // namespace containerfs::kernel
