#include <catch2/catch.hpp>

#include "containerfs/model/time_offsets.hpp"

using namespace containerfs::model;

TEST_CASE("time offsets: each write updates the clocks it names") {
  CHECK(merge_time_offsets("", "monotonic 86400 0\n") == "monotonic 86400 0\n");
  CHECK(merge_time_offsets("monotonic 86400 0\n", "boottime 3600 5\n") ==
        "monotonic 86400 0\nboottime 3600 5\n");
  CHECK(merge_time_offsets("monotonic 1 0\nboottime 2 0\n", "monotonic -7 999999999") ==
        "monotonic -7 999999999\nboottime 2 0\n");
  CHECK(merge_time_offsets("", "1 5 0\n7 6 0\n") == "monotonic 5 0\nboottime 6 0\n");
  CHECK(merge_time_offsets("", "  monotonic\t10   0  \n\n") == "monotonic 10 0\n");
}

TEST_CASE("bad time offsets are EINVAL") {
  for (const char* bad : {"realtime 1 0", "monotonic 1", "monotonic 1 0 0", "monotonic x 0",
                          "monotonic 1 1000000000", "monotonic 1 -1", "boottime 99999999999999999999 0",
                          "garbage"}) {
    INFO(bad);
    auto r = merge_time_offsets("", bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
}
