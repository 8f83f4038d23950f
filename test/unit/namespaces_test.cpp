#include <sched.h>

#include <catch2/catch.hpp>

#include "containerfs/kernel/namespaces.hpp"

using namespace containerfs::kernel;

TEST_CASE("every namespace kind maps to its file, /proc name and flag and back") {
  for (auto kind : kAllNsKinds) {
    auto file = ns_file_name(kind);
    REQUIRE(ns_kind_from_file_name(file) == kind);
    REQUIRE(ns_kind_from_clone_flag(ns_clone_flag(kind)) == kind);
  }
  CHECK(ns_proc_name(NsKind::network) == "net");
  CHECK(ns_proc_name(NsKind::mount) == "mnt");
  CHECK(ns_proc_path(42, NsKind::uts) == "/proc/42/ns/uts");
}

TEST_CASE("namespace lists parse into clone masks") {
  CHECK(parse_ns_list("network,uts") == (CLONE_NEWNET | CLONE_NEWUTS));
  CHECK(parse_ns_list("time") == CLONE_NEWTIME);
  CHECK(parse_ns_list("") == 0);
}

TEST_CASE("bad namespace lists are EINVAL") {
  for (const char* bad : {"net", "network,", ",uts", "uts,,ipc", "uts,uts", "UTS", "network uts"}) {
    INFO(bad);
    auto r = parse_ns_list(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
}

TEST_CASE("namespace identity and type come from the kernel") {
  auto a = ns_id_of_path("/proc/self/ns/net");
  auto b = ns_id_of_path("/proc/thread-self/ns/net");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == *b);
  CHECK_FALSE(ns_id_of_path("/proc/self/ns/nonexistent"));
}
