#include <sched.h>

#include <catch2/catch.hpp>

#include "containerfs/options.hpp"

#include <optional>
#include <string>

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

namespace {

// libfuse's verdict, as fuse::libfuse_refusal gives it, for a few options.
std::optional<std::string> fake_libfuse(std::string_view option) {
  for (std::string_view known : {"allow_other", "default_permissions", "fsname=x", "max_threads=4", "-d"})
    if (option == known) return std::nullopt;
  if (option == "max_threads=abc") return std::string("invalid parameter in option `max_threads=abc'");
  return "unknown option(s): `-o " + std::string(option) + "'";
}

}  // namespace

TEST_CASE("with a libfuse check, an option neither knows is refused by name") {
  Options o;
  OptionParser p(o, fake_libfuse);
  CHECK(p.feed("allow_other") == false);
  CHECK(p.feed("-d") == false);
  CHECK(p.problem().empty());
  auto r = p.feed("cgroupp=/x");
  REQUIRE_FALSE(r);
  CHECK(r.error() == EINVAL);
  CHECK(p.problem() == "unknown option 'cgroupp=/x' (did you mean 'cgroup='?)");
  CHECK(o.cgroup.empty());
  // The first problem is the one kept.
  CHECK_FALSE(p.feed("bogus"));
  CHECK(p.problem() == "unknown option 'cgroupp=/x' (did you mean 'cgroup='?)");
}

TEST_CASE("an unknown option far from every known one points at --help") {
  Options o;
  OptionParser p(o, fake_libfuse);
  CHECK_FALSE(p.feed("frobnicate"));
  CHECK(p.problem() == "unknown option 'frobnicate' (see containerfs --help)");
}

TEST_CASE("a value libfuse refuses is reported with libfuse's reason") {
  Options o;
  OptionParser p(o, fake_libfuse);
  CHECK_FALSE(p.feed("max_threads=abc"));
  CHECK(p.problem() == "invalid option 'max_threads=abc' (libfuse: invalid parameter in option `max_threads=abc')");
}

TEST_CASE("a bad name in a namespaces list is named, with the valid names") {
  for (auto* given : {"namespaces=net", "namespaces=net:uts"}) {
    INFO(given);
    Options o;
    OptionParser p(o, fake_libfuse);
    CHECK(p.feed(given) == true);
    CHECK_FALSE(p.finish());
    CHECK(p.problem().find("unknown namespace 'net' (did you mean 'network'? valid names: network uts ipc "
                           "pid user mount cgroup time)") != std::string::npos);
    CHECK(o.namespaces == 0);
  }
}

TEST_CASE("a word libfuse does not take after a namespaces list is a name of the list") {
  Options o;
  OptionParser p(o, fake_libfuse);
  CHECK(p.feed("namespaces=uts") == true);
  CHECK(p.feed("bogus") == true);  // collected, refused at the end of the list
  auto r = p.finish();
  REQUIRE_FALSE(r);
  CHECK(p.problem() ==
        "invalid option 'namespaces=uts,bogus': unknown namespace 'bogus' (valid names: network uts ipc pid user "
        "mount cgroup time)");
  // libfuse's own options still end the list.
  Options o2;
  OptionParser p2(o2, fake_libfuse);
  CHECK(p2.feed("namespaces=uts") == true);
  CHECK(p2.feed("allow_other") == false);
  CHECK(o2.namespaces == CLONE_NEWUTS);
}

TEST_CASE("what is wrong with a namespaces list") {
  CHECK_FALSE(ns_list_problem(""));
  CHECK_FALSE(ns_list_problem("network,uts,ipc,pid,user,mount,cgroup,time"));
  CHECK(ns_list_problem("uts,,ipc") == "an empty name in the list");
  CHECK(ns_list_problem("uts,") == "an empty name in the list");
  CHECK(ns_list_problem("uts,uts") == "'uts' is listed twice");
  CHECK(ns_list_problem("mnt")->starts_with("unknown namespace 'mnt' (did you mean 'mount'? valid names:"));
  CHECK(ns_list_problem("UTS")->starts_with("unknown namespace 'UTS' (valid names:"));
}

TEST_CASE("options without a value or with a relative path say what they take") {
  Options o;
  OptionParser p(o, fake_libfuse);
  CHECK_FALSE(p.feed("state"));
  CHECK(p.problem() == "option 'state' needs a value: state=DIR");
  Options o2;
  OptionParser p2(o2, fake_libfuse);
  CHECK_FALSE(p2.feed("cgroup=sys/fs/cgroup/x"));
  CHECK(p2.problem() == "invalid option 'cgroup=sys/fs/cgroup/x': cgroup= takes an absolute path");
}

TEST_CASE("close option names") {
  CHECK(close_option_name("cgroupp") == "cgroup=");
  CHECK(close_option_name("namespace") == "namespaces=");
  CHECK(close_option_name("stat") == "state=");
  CHECK(close_option_name("allow_others") == "allow_other");
  CHECK(close_option_name("allowother") == "allow_other");
  CHECK(close_option_name("max_thread") == "max_threads=");
  CHECK(close_option_name("xyzzy").empty());
  CHECK(close_option_name("").empty());
}
