#include <sched.h>

#include <catch2/catch.hpp>

#include "containerfs/options.hpp"

using namespace containerfs;

TEST_CASE("containerfs options are recognised and applied") {
  Options o;
  OptionParser p(o);
  CHECK(p.feed("cgroup=/sys/fs/cgroup/x/") == true);
  CHECK(o.cgroup == "/sys/fs/cgroup/x");
  CHECK(p.feed("state=/tmp/s") == true);
  CHECK(o.state == "/tmp/s");
  CHECK(p.feed("namespaces=network,pid") == true);
  CHECK(p.finish());
  CHECK(o.namespaces == (CLONE_NEWNET | CLONE_NEWPID));
  CHECK(p.feed("namespaces=") == true);
  CHECK(p.finish());
  CHECK(o.namespaces == 0);
}

TEST_CASE("a namespaces list split at its commas by libfuse is put together again") {
  Options o;
  OptionParser p(o);
  CHECK(p.feed("namespaces=network") == true);
  CHECK(p.feed("uts") == true);
  CHECK(p.feed("ipc") == true);
  CHECK(p.feed("allow_other") == false);  // ends the list
  CHECK(o.namespaces == (CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC));
  CHECK(p.feed("uts") == false);  // no list open: not ours
  CHECK(p.feed("namespaces=user:time") == true);
  CHECK(p.finish());
  CHECK(o.namespaces == (CLONE_NEWUSER | CLONE_NEWTIME));
}

TEST_CASE("other options are left to libfuse") {
  Options o;
  OptionParser p(o);
  CHECK(p.feed("allow_other") == false);
  CHECK(p.feed("fsname=x") == false);
  CHECK(p.feed("cgroupx=1") == false);
}

TEST_CASE("invalid containerfs options are EINVAL and change nothing") {
  for (const char* bad : {"cgroup", "cgroup=", "cgroup=relative", "state=rel"}) {
    INFO(bad);
    Options o;
    OptionParser p(o);
    auto r = p.feed(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
    CHECK(o.cgroup.empty());
    CHECK(o.state == "/run/containerfs");
  }
  for (const char* bad : {"namespaces=bogus", "namespaces=uts,uts", "namespaces=uts,,ipc"}) {
    INFO(bad);
    Options o;
    OptionParser p(o);
    CHECK(p.feed(bad) == true);
    auto r = p.finish();
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
    CHECK(o.namespaces == 0);
  }
  Options o;
  OptionParser p(o);
  CHECK(p.feed("namespaces=uts") == true);
  CHECK(p.feed("uts") == true);  // repeated
  CHECK_FALSE(p.finish());
}

TEST_CASE("default namespaces are network,uts,ipc,pid,mount,cgroup") {
  CHECK(default_namespaces() ==
        (CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWCGROUP));
}
