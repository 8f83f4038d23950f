#include "containerfs/model/names.hpp"

#include <array>

#include "containerfs/model/files.hpp"

namespace containerfs::model {

namespace {

// Prefixes of cgroup v2 interface files, which appear in container
// directories where their controller is enabled.
constexpr std::array<std::string_view, 10> kControllerPrefixes = {
    "cgroup.", "memory.", "cpu.", "cpuset.", "io.", "pids.", "hugetlb.", "rdma.", "misc.", "freezer."};

}  // namespace

bool is_reserved_name(std::string_view name) {
  if (file_kind_from_name(name)) return true;
  for (auto prefix : kControllerPrefixes)
    if (name.starts_with(prefix)) return true;
  return false;
}

int check_container_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return EINVAL;
  if (name.find('/') != std::string_view::npos) return EINVAL;
  // No control characters (NUL, newline, escape...): the name is the
  // container's hostname, a line in logs and in `ls` output.
  for (unsigned char ch : name)
    if (ch < 0x20 || ch == 0x7f) return EINVAL;
  if (name.size() > kNameMax) return ENAMETOOLONG;
  if (is_reserved_name(name)) return EEXIST;
  return 0;
}

}  // namespace containerfs::model
