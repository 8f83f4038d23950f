// containerfs::kernel::parse_proc_cgroup: the "0::" line of /proc/PID/cgroup.
// Properties: no crash; a found path is the rest of one line (no newline).
#include <cstdint>
#include <string_view>

#include "common.hpp"
#include "containerfs/kernel/cgroup.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto path = containerfs::kernel::parse_proc_cgroup(text);
  if (path) {
    FUZZ_CHECK(path->find('\n') == std::string::npos);
    FUZZ_CHECK(text.find("0::" + *path) != std::string_view::npos);
  } else {
    FUZZ_CHECK(path.error() == ENOENT);
  }
  return 0;
}
