#include <catch2/catch.hpp>

#include "containerfs/fuse/libfuse_options.hpp"

using containerfs::fuse::libfuse_refusal;

TEST_CASE("libfuse's own options are accepted as libfuse takes them") {
  for (const char* option : {"allow_other", "default_permissions", "fsname=a,b", "fsname=x\\y",
                             "max_threads=4", "max_idle_threads=2", "clone_fd", "subtype=x", "ro",
                             "rw", "dev", "suid", "nosuid", "auto_unmount",
                             "debug", "-d", "-f", "-s"}) {
    INFO(option);
    CHECK_FALSE(libfuse_refusal(option));
  }
}

TEST_CASE("libfuse says which options it does not take, and why") {
  auto unknown = libfuse_refusal("cgroupp=/x");
  REQUIRE(unknown);
  CHECK(unknown->find("unknown option") != std::string::npos);
  CHECK(unknown->find("cgroupp=/x") != std::string::npos);
  auto flag = libfuse_refusal("-x");
  REQUIRE(flag);
  CHECK(flag->find("unknown option") != std::string::npos);
  auto bad = libfuse_refusal("max_threads=abc");
  REQUIRE(bad);
  CHECK(bad->find("unknown option") == std::string::npos);
  CHECK(bad->find("max_threads=abc") != std::string::npos);
}
