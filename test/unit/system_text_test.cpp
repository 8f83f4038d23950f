#include <catch2/catch.hpp>

#include "containerfs/model/system_text.hpp"

using namespace containerfs;
using model::host_id_of_inside_root;
using model::parse_run_lines;
using model::root_target;

TEST_CASE("a write to run gives one command a line") {
  auto one = parse_run_lines("echo hi\n");
  REQUIRE(one);
  CHECK(*one == std::vector<std::string>{"echo hi"});
  auto several = parse_run_lines("a\n\n  \nb c\r\nlast without newline");
  REQUIRE(several);
  CHECK(*several == std::vector<std::string>{"a", "b c", "last without newline"});
}

TEST_CASE("a write to run without a command, or with a NUL, is EINVAL") {
  for (std::string_view bad : {std::string_view(""), std::string_view("\n"), std::string_view(" \t\n\r\n"),
                               std::string_view("echo a\0b\n", 9)}) {
    auto r = parse_run_lines(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
}

TEST_CASE("the host id of a user namespace's root comes from its map") {
  CHECK(host_id_of_inside_root("         0       1000          1\n") == 1000u);
  CHECK(host_id_of_inside_root("0 0 4294967295\n") == 0u);
  CHECK(host_id_of_inside_root("1 2000 5\n0 100000 1\n") == 100000u);
  auto unmapped = host_id_of_inside_root("1 1000 1\n");
  REQUIRE_FALSE(unmapped);
  CHECK(unmapped.error() == ENOENT);
  CHECK(host_id_of_inside_root("").error() == ENOENT);
  for (std::string_view bad : {"0 1000\n", "0 x 1\n", "0 1000 1 extra\n"}) {
    auto r = host_id_of_inside_root(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
}

TEST_CASE("a root target is an absolute path, kept without trailing slashes") {
  CHECK(root_target("/srv/web") == std::string("/srv/web"));
  CHECK(root_target("/srv/web//") == std::string("/srv/web"));
  CHECK(root_target("/") == std::string("/"));
  for (std::string_view bad : {std::string_view("srv/web"), std::string_view(""), std::string_view("./x"),
                               std::string_view("/a\0b", 4)}) {
    auto r = root_target(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
}
