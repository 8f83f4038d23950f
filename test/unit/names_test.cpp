#include <catch2/catch.hpp>

#include <string>

#include "containerfs/model/names.hpp"

using namespace containerfs::model;

TEST_CASE("ordinary container names are accepted") {
  for (const char* name : {"web", "db-1", "a.b", "x y", "UPPER", "émoji", "0", "memoryless"})
    CHECK(check_container_name(name) == 0);
  CHECK(check_container_name(std::string(255, 'a')) == 0);
}

TEST_CASE("names of container files and cgroup files are reserved") {
  for (const char* name : {"tasks", "init", "self", "network", "uts", "ipc", "pid", "user", "mount",
                           "cgroup", "time", "hostname", "uid_map", "gid_map", "freeze", "kill",
                           "events", "memory.max", "pids.max", "cgroup.procs", "cpu.stat",
                           "hugetlb.2MB.max", "io.max"}) {
    INFO(name);
    CHECK(check_container_name(name) == EEXIST);
  }
}

TEST_CASE("malformed names are refused with the errno mkdir reports") {
  CHECK(check_container_name("") == EINVAL);
  CHECK(check_container_name(".") == EINVAL);
  CHECK(check_container_name("..") == EINVAL);
  CHECK(check_container_name("a/b") == EINVAL);
  CHECK(check_container_name(std::string("a\0b", 3)) == EINVAL);
  CHECK(check_container_name(std::string(256, 'a')) == ENAMETOOLONG);
}

TEST_CASE("names with control characters are EINVAL, as hostname writes are") {
  for (const char* name : {"a\nb", "a\tb", "\x1b[31m", "a\x7f", "\r", "x\x01"}) {
    INFO(name);
    CHECK(check_container_name(name) == EINVAL);
  }
}
