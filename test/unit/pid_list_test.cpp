#include <catch2/catch.hpp>

#include "containerfs/fuse/tasks_write.hpp"

using containerfs::fuse::parse_pid_list;

TEST_CASE("pid lists: one a line, as echo and printf write them") {
  CHECK(parse_pid_list("123\n") == std::vector<pid_t>{123});
  CHECK(parse_pid_list("123") == std::vector<pid_t>{123});
  CHECK(parse_pid_list("1\n2\n3\n") == std::vector<pid_t>{1, 2, 3});
  CHECK(parse_pid_list("0\n") == std::vector<pid_t>{0});
  CHECK(parse_pid_list(" 7 \n\n8\r\n") == std::vector<pid_t>{7, 8});
  CHECK(parse_pid_list("4194303") == std::vector<pid_t>{4194303});
}

TEST_CASE("bad pid lists are EINVAL") {
  for (const char* bad : {"", "\n", "abc", "-1", "+1", "1 2", "12abc", "0x10", "4194304", "4194305",
                          "99999999999999999999", "1\nx\n", "1.5"}) {
    INFO(bad);
    auto r = parse_pid_list(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
  auto nul = parse_pid_list(std::string_view("12\0" "3", 4));
  REQUIRE_FALSE(nul);
  CHECK(nul.error() == EINVAL);
}
