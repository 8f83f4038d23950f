#include <catch2/catch.hpp>

#include "containerfs/model/link_target.hpp"

using namespace containerfs;
using namespace containerfs::model;

namespace {
TreeTarget tree(const Result<LinkTarget>& r) {
  REQUIRE(r);
  REQUIRE(std::holds_alternative<TreeTarget>(*r));
  return std::get<TreeTarget>(*r);
}
std::string outside(const Result<LinkTarget>& r) {
  REQUIRE(r);
  REQUIRE(std::holds_alternative<OutsideTarget>(*r));
  return std::get<OutsideTarget>(*r).path;
}
}  // namespace

TEST_CASE("relative links resolve from the container's directory") {
  auto t = tree(resolve_link_target("/containers", {"web"}, "../db/network"));
  CHECK(t.containers == std::vector<std::string>{"db"});
  CHECK(t.file == "network");
  t = tree(resolve_link_target("/containers", {"a", "b"}, "../../network"));
  CHECK(t.containers.empty());
  CHECK(t.file == "network");
  t = tree(resolve_link_target("/containers", {"web"}, "./../web/../db//uts"));
  CHECK(t.containers == std::vector<std::string>{"db"});
  CHECK(t.file == "uts");
}

TEST_CASE("absolute links into the mount are tree targets, wherever it is mounted") {
  auto t = tree(resolve_link_target("/tmp/x y/m", {"web"}, "/tmp/x y/m/db/network"));
  CHECK(t.containers == std::vector<std::string>{"db"});
  t = tree(resolve_link_target("/containers/", {}, "/containers/network"));
  CHECK(t.containers.empty());
  CHECK(t.file == "network");
}

TEST_CASE("links leaving the mount are outside targets") {
  CHECK(outside(resolve_link_target("/containers", {"web"}, "/run/netns/blue")) == "/run/netns/blue");
  CHECK(outside(resolve_link_target("/containers", {"web"}, "../../run/netns/blue")) ==
        "/run/netns/blue");
  CHECK(outside(resolve_link_target("/containers", {"web"}, "../..")) == "/");
  auto root = tree(resolve_link_target("/containers", {"web"}, ".."));
  CHECK(root.containers.empty());
  CHECK(root.file.empty());  // the mount's root directory, not a file
  CHECK(outside(resolve_link_target("/containers", {}, "/containersx/a")) == "/containersx/a");
}

TEST_CASE("an empty link target is EINVAL") {
  auto r = resolve_link_target("/containers", {"web"}, "");
  REQUIRE_FALSE(r);
  CHECK(r.error() == EINVAL);
}
