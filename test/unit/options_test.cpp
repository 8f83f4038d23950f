#include <sched.h>

#include <catch2/catch.hpp>

#include "containerfs/options.hpp"

using namespace containerfs;

TEST_CASE("containerfs options are recognised and applied") {
  Options o;
  CHECK(apply_option(o, "cgroup=/sys/fs/cgroup/x/") == true);
  CHECK(o.cgroup == "/sys/fs/cgroup/x");
  CHECK(apply_option(o, "state=/tmp/s") == true);
  CHECK(o.state == "/tmp/s");
  CHECK(apply_option(o, "namespaces=network,pid") == true);
  CHECK(o.namespaces == (CLONE_NEWNET | CLONE_NEWPID));
  CHECK(apply_option(o, "namespaces=") == true);
  CHECK(o.namespaces == 0);
}

TEST_CASE("other options are left to libfuse") {
  Options o;
  CHECK(apply_option(o, "allow_other") == false);
  CHECK(apply_option(o, "fsname=x") == false);
  CHECK(apply_option(o, "cgroupx=1") == false);
}

TEST_CASE("invalid containerfs options are EINVAL and change nothing") {
  Options o;
  auto before = o.cgroup;
  for (const char* bad : {"cgroup", "cgroup=", "cgroup=relative", "state=rel", "namespaces=bogus",
                          "namespaces=uts,uts"}) {
    INFO(bad);
    auto r = apply_option(o, bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
  CHECK(o.cgroup == before);
  CHECK(o.namespaces == 0);
}

TEST_CASE("default namespaces are network,uts,ipc,pid,mount,cgroup") {
  CHECK(default_namespaces() ==
        (CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWCGROUP));
}
