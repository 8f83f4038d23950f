#include <catch2/catch.hpp>

#include "containerfs/model/controller_files.hpp"
#include "containerfs/model/names.hpp"

using namespace containerfs::model;

TEST_CASE("controller interface files are recognised, the core's are not") {
  for (const char* name : {"memory.max", "cpu.stat", "pids.max", "io.weight", "hugetlb.2MB.max",
                           "cpuset.cpus", "rdma.max", "misc.current", "cpu.pressure"})
    CHECK(is_controller_file_name(name));
  for (const char* name : {"cgroup.procs", "cgroup.kill", "memory.", "memory", "tasks", "web",
                           "a.memory.max", "memory.max/x"})
    CHECK_FALSE(is_controller_file_name(name));
}

TEST_CASE("controller file kinds are stable and map back to their names") {
  auto a = controller_file_kind("memory.max");
  auto b = controller_file_kind("pids.max");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  CHECK(controller_file_kind("memory.max") == a);
  CHECK(is_controller_file(*a));
  CHECK_FALSE(is_pending_link(*a));
  CHECK(controller_file_name(*a) == "memory.max");
  CHECK(controller_file_name(FileKind::tasks).empty());
  CHECK_FALSE(controller_file_kind("cgroup.procs"));
}

TEST_CASE("controller file names cannot name containers") {
  CHECK(check_container_name("memory.max") == EEXIST);
  CHECK(check_container_name("hugetlb.1GB.max") == EEXIST);
}
