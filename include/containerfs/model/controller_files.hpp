// cgroup interface files shown in container directories (memory.max,
// cpu.stat, hugetlb.2MB.max, ...): which names qualify, and a stable number
// per name for the daemon's lifetime (part of the inode number).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "containerfs/model/files.hpp"

namespace containerfs::model {

// memory.*, cpu.*, pids.*, io.*, hugetlb.*, cpuset.*, rdma.*, misc.*: the
// controllers' files; cgroup.* (the core's own) are the daemon's business.
bool is_controller_file_name(std::string_view name);

// The kind of a controller file name, numbering it on first sight;
// nullopt for other names or when the numbers are used up.
std::optional<FileKind> controller_file_kind(std::string_view name);
// Every name numbered so far (what the kernel may have been told of).
std::vector<std::string> known_controller_file_names();
// The name of a controller file kind; empty if unknown.
std::string controller_file_name(FileKind kind);

}  // namespace containerfs::model
