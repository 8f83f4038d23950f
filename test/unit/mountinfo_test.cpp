#include <catch2/catch.hpp>

#include "containerfs/kernel/mountinfo.hpp"

using namespace containerfs::kernel;

namespace {
const char* kHybrid =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    "50 22 0:50 / /tmp/my\\040mnt rw,nosuid shared:5 - fuse.containerfs web rw,user_id=0\n"
    "51 22 0:51 / /containers rw master:1 - fuse.containerfs containerfs rw\n"
    "garbage line\n";
const char* kUnified = "25 1 0:22 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
}  // namespace

TEST_CASE("cgroup v2 is found on hybrid and unified hosts") {
  CHECK(find_cgroup2_mount(kHybrid) == "/sys/fs/cgroup/unified");
  CHECK(find_cgroup2_mount(kUnified) == "/sys/fs/cgroup");
}

TEST_CASE("a v1-only host has no cgroup2 mount: ENOENT") {
  auto r = find_cgroup2_mount("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
  REQUIRE_FALSE(r);
  CHECK(r.error() == ENOENT);
}

TEST_CASE("containerfs mounts are listed with escapes decoded, optional fields skipped") {
  auto mounts = find_mounts_of_type(kHybrid, "fuse.containerfs");
  REQUIRE(mounts.size() == 2);
  CHECK(mounts[0] == "/tmp/my mnt");
  CHECK(mounts[1] == "/containers");
  auto entries = parse_mountinfo(kHybrid);
  CHECK(entries.size() == 5);  // the garbage line is skipped
  CHECK(entries[3].source == "web");
}

TEST_CASE("octal escapes") {
  CHECK(unescape_mount_field("a\\040b\\011c\\134d") == "a b\tc\\d");
  CHECK(unescape_mount_field("trailing\\04") == "trailing\\04");
  CHECK(unescape_mount_field("\\999") == "\\999");
}

TEST_CASE("this machine's own mountinfo has a cgroup2 mount") {
  auto text = read_own_mountinfo();
  REQUIRE(text);
  CHECK(find_cgroup2_mount(*text));
}
