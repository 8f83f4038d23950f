#include <catch2/catch.hpp>

#include "containerfs/fuse/inode.hpp"

using namespace containerfs;
using fuse::Node;
using model::FileKind;

TEST_CASE("the host directory is the FUSE root inode") {
  CHECK(fuse::to_ino(Node{}) == FUSE_ROOT_ID);
  auto back = fuse::from_ino(FUSE_ROOT_ID);
  REQUIRE(back);
  CHECK(*back == Node{});
}

TEST_CASE("inodes round-trip for every container and file kind") {
  for (model::ContainerId id : {0ull, 1ull, 2ull, 1000ull, (1ull << 40)}) {
    for (int k : {0, 1, 5, static_cast<int>(FileKind::count_) - 1, model::kPendingLinkFirst,
                  model::kControllerFileFirst, (1 << model::kKindBits) - 1}) {
      Node node{id, static_cast<FileKind>(k)};
      auto ino = fuse::to_ino(node);
      auto back = fuse::from_ino(ino);
      REQUIRE(back);
      CHECK(*back == node);
    }
  }
}

TEST_CASE("inodes of different nodes differ") {
  CHECK(fuse::to_ino(Node{1, FileKind::tasks}) != fuse::to_ino(Node{2, FileKind::tasks}));
  CHECK(fuse::to_ino(Node{1, FileKind::tasks}) != fuse::to_ino(Node{1, FileKind::init}));
  CHECK(fuse::to_ino(Node{0, FileKind::tasks}) != FUSE_ROOT_ID);
}

TEST_CASE("garbage inode numbers are refused") {
  CHECK_FALSE(fuse::from_ino(0));
  CHECK_FALSE(fuse::from_ino(1u << 12));  // host directory in packed form: only 1 names it
  CHECK_FALSE(fuse::from_ino((5u << 12) | 0x3f));  // unknown kind
  CHECK(fuse::from_ino((5u << 12) | 0x40));        // a pending link's kind
  CHECK(fuse::from_ino((5u << 12) | 0xfff));       // a controller file's kind
}
