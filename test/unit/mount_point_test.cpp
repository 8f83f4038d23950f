#include <catch2/catch.hpp>

#include "containerfs/mount_point.hpp"

using namespace containerfs;

TEST_CASE("a mount point made absolute without looking at the file system") {
  CHECK(lexically_absolute("/home/u", "containers") == "/home/u/containers");
  CHECK(lexically_absolute("/home/u", "./containers/") == "/home/u/containers");
  CHECK(lexically_absolute("/home/u", "../x//y/.") == "/home/x/y");
  CHECK(lexically_absolute("/home/u", "/containers//") == "/containers");
  CHECK(lexically_absolute("/", "..") == "/");
  CHECK(lexically_absolute("/a", "") == "/a");
}

TEST_CASE("a mount point that is a containerfs mount already is refused, also when unreachable") {
  // A dead daemon's mount cannot be resolved; it is found by its path.
  std::string mountinfo =
      "30 1 0:25 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
      "99 30 0:77 / /no/such/dir/containers rw,nosuid - fuse.containerfs containerfs rw\n";
  auto r = check_mount_point("/no/such/dir/containers/", mountinfo);
  REQUIRE_FALSE(r);
  CHECK(r.error() == "/no/such/dir/containers/ is already a containerfs mount (umount it first, or "
                     "choose another mount point)");
}

TEST_CASE("a missing or non-directory mount point is refused, a directory taken") {
  auto missing = check_mount_point("/no/such/dir/containers", "");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == "mount point /no/such/dir/containers does not exist");
  auto file = check_mount_point("/proc/self/stat", "");
  REQUIRE_FALSE(file);
  CHECK(file.error() == "mount point /proc/self/stat is not a directory");
  auto dir = check_mount_point("/proc/self/../self/.", "");
  REQUIRE(dir);
  CHECK(dir->starts_with("/proc/"));
}
