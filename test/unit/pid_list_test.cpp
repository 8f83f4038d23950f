#include <catch2/catch.hpp>

#include "containerfs/fuse/tasks_write.hpp"

using containerfs::fuse::parse_pid_lines;
using containerfs::fuse::PidLine;

namespace {

std::vector<pid_t> pids_of(std::string_view text) {
  std::vector<pid_t> out;
  const auto lines = parse_pid_lines(text);
  for (const PidLine& line : lines.value()) out.push_back(line.pid);
  return out;
}

}  // namespace

TEST_CASE("pid lists: one a line, as echo and printf write them") {
  CHECK(pids_of("123\n") == std::vector<pid_t>{123});
  CHECK(pids_of("123") == std::vector<pid_t>{123});
  CHECK(pids_of("1\n2\n3\n") == std::vector<pid_t>{1, 2, 3});
  CHECK(pids_of("0\n") == std::vector<pid_t>{0});
  CHECK(pids_of(" 7 \n\n8\r\n") == std::vector<pid_t>{7, 8});
  CHECK(pids_of("4194303") == std::vector<pid_t>{4194303});
  // Blank lines only: nothing (the newline echo writes after a refused line).
  CHECK(pids_of("").empty());
  CHECK(pids_of("\n").empty());
  CHECK(pids_of(" \n\t\r\n").empty());
}

TEST_CASE("pid lists: each pid's line ends where a short write after it would end") {
  // Through its newline; blank lines before it are its own; a last line
  // without a newline ends with the text.
  CHECK(parse_pid_lines("12\n345\n6").value() == std::vector<PidLine>{{12, 3}, {345, 7}, {6, 8}});
  CHECK(parse_pid_lines("\n\n 12 \n\n345\n\n").value() == std::vector<PidLine>{{12, 7}, {345, 12}});
  CHECK(parse_pid_lines("1\r\n2\r\n").value() == std::vector<PidLine>{{1, 3}, {2, 6}});
}

TEST_CASE("bad pid lists are EINVAL") {
  for (const char* bad : {"abc", "-1", "+1", "1 2", "12abc", "0x10", "4194304", "4194305",
                          "99999999999999999999", "1\nx\n", "1.5"}) {
    INFO(bad);
    auto r = parse_pid_lines(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
  auto nul = parse_pid_lines(std::string_view("12\0" "3", 4));
  REQUIRE_FALSE(nul);
  CHECK(nul.error() == EINVAL);
}
