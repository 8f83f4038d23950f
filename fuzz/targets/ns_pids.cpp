// containerfs::kernel::parse_ns_pids: the NSpid line of /proc/PID/status.
// Properties: no crash; a parsed list is non-empty with positive pids.
#include <cstdint>
#include <string_view>

#include "common.hpp"
#include "containerfs/kernel/process.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto pids = containerfs::kernel::parse_ns_pids(text);
  if (pids) {
    FUZZ_CHECK(!pids->empty());
    for (pid_t p : *pids) FUZZ_CHECK(p > 0);
  }
  return 0;
}
