// containerfs::kernel::parse_mountinfo, unescape_mount_field,
// find_cgroup2_mount, find_mounts_of_type: /proc/self/mountinfo.
// Properties: no crash; an unescaped field is never longer than the
// escaped one; text without a backslash unescapes to itself; every
// cgroup2 mount found is one parse_mountinfo lists.
#include <cstdint>
#include <string>
#include <string_view>

#include "common.hpp"
#include "containerfs/kernel/mountinfo.hpp"

namespace kn = containerfs::kernel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto u = kn::unescape_mount_field(text);
  FUZZ_CHECK(u.size() <= text.size());
  if (text.find('\\') == std::string_view::npos) FUZZ_CHECK(u == text);

  auto entries = kn::parse_mountinfo(text);
  auto cg = kn::find_cgroup2_mount(text);
  if (cg) {
    bool listed = false;
    for (const auto& e : entries) listed |= e.fs_type == "cgroup2" && e.mount_point == *cg;
    FUZZ_CHECK(listed);
  } else {
    FUZZ_CHECK(cg.error() == ENOENT);
  }
  auto fuse = kn::find_mounts_of_type(text, "fuse.containerfs");
  FUZZ_CHECK(fuse.size() <= entries.size());
  return 0;
}
