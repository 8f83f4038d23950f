#include <unistd.h>

#include <catch2/catch.hpp>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/process.hpp"

using namespace containerfs::kernel;

TEST_CASE("NSpid lines list a pid per namespace level") {
  CHECK(parse_ns_pids("Name:\tx\nNSpid:\t812\t1\nNSsid:\t1\n") == std::vector<pid_t>{812, 1});
  CHECK(parse_ns_pids("NSpid:\t5\n") == std::vector<pid_t>{5});
  CHECK_FALSE(parse_ns_pids("Name:\tx\n"));
  CHECK_FALSE(parse_ns_pids("NSpid:\t\n"));
  CHECK_FALSE(parse_ns_pids("NSpid:\tx\n"));
}

TEST_CASE("the cgroup v2 line of /proc/PID/cgroup") {
  CHECK(parse_proc_cgroup("9:name=systemd:/\n0::/containerfs/c1/c2\n") == "/containerfs/c1/c2");
  CHECK(parse_proc_cgroup("0::/\n") == "/");
  CHECK_FALSE(parse_proc_cgroup("4:memory:/x\n"));
}

TEST_CASE("facts about this very process") {
  auto pids = ns_pids(::getpid());
  REQUIRE(pids);
  CHECK(pids->back() > 0);
  CHECK(tgid_of(::getpid()) == ::getpid());
  auto seen = pid_as_seen_by(::getpid(), ::getpid());
  REQUIRE(seen);
  CHECK(*seen == ::getpid());
  auto start = process_start_time(::getpid());
  REQUIRE(start);
  CHECK(*start > 0);
  CHECK_FALSE(process_start_time(-5));
}
