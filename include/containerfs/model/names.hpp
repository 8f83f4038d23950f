// Which names a container may have.
#pragma once

#include <string_view>

namespace containerfs::model {

inline constexpr size_t kNameMax = 255;

// True for the names of files that a container directory has or may get
// (tasks, init, the namespace files, hostname, ...), `self`, and cgroup
// interface file names (memory.max, cgroup.procs, ...).
bool is_reserved_name(std::string_view name);

// 0 if `name` may name a new container, else the errno that mkdir/rename
// reports: EEXIST reserved, ENAMETOOLONG over 255 bytes, EINVAL empty, "." or
// "..", or containing '/' or NUL.
int check_container_name(std::string_view name);

}  // namespace containerfs::model
