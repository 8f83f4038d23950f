// containerfs::fuse::parse_pid_lines: what a write to a tasks file is parsed as.
// Properties: every pid is in [0, 2^22], the lines end in increasing order
// within the text, and the list written back one pid a line parses to the
// same pids; an empty list comes from blank lines only.
#include <cstdint>
#include <string>
#include <string_view>

#include "common.hpp"
#include "containerfs/fuse/tasks_write.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto lines = containerfs::fuse::parse_pid_lines(text);
  if (!lines) {
    FUZZ_CHECK(lines.error() == EINVAL);
    return 0;
  }
  if (lines->empty()) FUZZ_CHECK(text.find_first_not_of(" \t\r\n") == std::string_view::npos);
  std::string again;
  std::size_t before = 0;
  for (const auto& line : *lines) {
    FUZZ_CHECK(line.pid >= 0 && line.pid <= (1 << 22));
    FUZZ_CHECK(line.end > before && line.end <= size);
    before = line.end;
    again += std::to_string(line.pid) + "\n";
  }
  auto reparsed = containerfs::fuse::parse_pid_lines(again);
  FUZZ_CHECK(reparsed && reparsed->size() == lines->size());
  for (std::size_t i = 0; reparsed && i < lines->size(); ++i) FUZZ_CHECK((*reparsed)[i].pid == (*lines)[i].pid);
  return 0;
}
