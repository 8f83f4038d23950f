#include <catch2/catch.hpp>

#include "containerfs/state/record.hpp"

using namespace containerfs;
using state::ContainerRecord;

TEST_CASE("records round-trip, including awkward names and links") {
  ContainerRecord r;
  r.name = "web server\n\\x";
  r.init_pid = 4242;
  r.init_start = 123456789;
  using Origin = state::NsRecord::Origin;
  r.ns[kernel::NsKind::network] = {Origin::shared, "../db/network"};
  r.ns[kernel::NsKind::uts] = {Origin::own, ""};
  r.ns[kernel::NsKind::ipc] = {Origin::adopted, "/run/netns/a b"};
  r.links = {{"tmp link", "../db/uts"}, {"note", "/x\ny"}};
  r.owner_uid = 1000;
  r.owner_gid = 1001;
  r.time_offsets = "monotonic 100 0\nboottime -5 0\n";
  auto text = state::encode_record(r);
  auto back = state::decode_record(text);
  REQUIRE(back);
  CHECK(*back == r);
}

TEST_CASE("records keep a root and a device whitelist, an empty one too") {
  ContainerRecord r;
  r.name = "web";
  r.init_pid = 7;
  r.init_start = 8;
  r.root = "/srv/my web";
  r.devices = "c 1:3 rwm\nc 136:* rw\n";
  auto back = state::decode_record(state::encode_record(r));
  REQUIRE(back);
  CHECK(*back == r);
  r.devices = "";  // nothing allowed: not the same as the default
  r.root.clear();
  auto empty = state::decode_record(state::encode_record(r));
  REQUIRE(empty);
  CHECK(empty->devices == std::optional<std::string>(""));
  CHECK(empty->root.empty());
  r.devices.reset();
  auto none = state::decode_record(state::encode_record(r));
  REQUIRE(none);
  CHECK_FALSE(none->devices);
}

TEST_CASE("malformed records are EINVAL") {
  for (const char* bad : {
           "",
           "containerfs-record 2\nname a\ninit 1 2\n",
           "containerfs-record 1\ninit 1 2\n",
           "containerfs-record 1\nname a\n",
           "containerfs-record 1\nname a\ninit x 2\n",
           "containerfs-record 1\nname a\ninit 1 2\nns bogus own\n",
           "containerfs-record 1\nname a\ninit 1 2\nns uts shared\n",
           "containerfs-record 1\nname a\ninit 1 2\nns uts own extra\n",
           "containerfs-record 1\nname a\ninit 1 2\nns uts own\nns uts own\n",
           "containerfs-record 1\nname a\ninit 1 2\nns uts inherited\n",
           "containerfs-record 1\nname a\\q\ninit 1 2\n",
           "containerfs-record 1\nname a\ninit 1 2\nwhat\n",
           "containerfs-record 1\nname a\ninit 1 2\nowner 1000\n",
           "containerfs-record 1\nname a\ninit 1 2\nowner x 1\n",
           "containerfs-record 1\nname a\ninit 1 2\nowner 1 1\nowner 1 1\n",
           "containerfs-record 1\nname a\ninit 1 2\nroot relative\n",
           "containerfs-record 1\nname a\ninit 1 2\nroot /a\nroot /b\n",
           "containerfs-record 1\nname a\ninit 1 2\nroot /a b\n",
           "containerfs-record 1\nname a\ninit 1 2\ndevices\ndevices\n",
           "containerfs-record 1\nname a\ninit 1 2\ndevices a b\n",
       }) {
    INFO(bad);
    auto r = state::decode_record(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
}

TEST_CASE("cgroup directory names carry the id") {
  CHECK(state::cgroup_name_of(17) == "c17");
  CHECK(state::id_of_cgroup_name("c17") == 17u);
  for (const char* bad : {"c", "17", "c01", "cx", "members", "c-1"}) {
    INFO(bad);
    CHECK_FALSE(state::id_of_cgroup_name(bad));
  }
}
