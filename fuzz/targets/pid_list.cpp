// containerfs::fuse::parse_pid_list: what a write to a tasks file is parsed as.
// Properties: a parsed list is non-empty, every pid is in [0, 2^22], and the
// list written back one pid a line parses to the same list.
#include <cstdint>
#include <string>
#include <string_view>

#include "common.hpp"
#include "containerfs/fuse/tasks_write.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto pids = containerfs::fuse::parse_pid_list(text);
  if (!pids) {
    FUZZ_CHECK(pids.error() == EINVAL);
    return 0;
  }
  FUZZ_CHECK(!pids->empty());
  std::string again;
  for (pid_t p : *pids) {
    FUZZ_CHECK(p >= 0 && p <= (1 << 22));
    again += std::to_string(p) + "\n";
  }
  auto reparsed = containerfs::fuse::parse_pid_list(again);
  FUZZ_CHECK(reparsed && *reparsed == *pids);
  return 0;
}
