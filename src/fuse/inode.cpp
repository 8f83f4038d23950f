#include "containerfs/fuse/inode.hpp"

namespace containerfs::fuse {

namespace {
constexpr unsigned kKindBits = model::kKindBits;
}

fuse_ino_t to_ino(Node node) {
  if (node.id == model::kHostId && node.kind == model::FileKind::directory) return FUSE_ROOT_ID;
  return ((node.id + 1) << kKindBits) | static_cast<fuse_ino_t>(node.kind);
}

std::optional<Node> from_ino(fuse_ino_t ino) {
  if (ino == FUSE_ROOT_ID) return Node{};
  auto kind = ino & ((1u << kKindBits) - 1);
  auto id_plus_one = ino >> kKindBits;
  bool known = kind < static_cast<fuse_ino_t>(model::FileKind::count_) ||
               kind >= static_cast<fuse_ino_t>(model::kPendingLinkFirst);  // links, controller files
  if (id_plus_one == 0 || !known) return std::nullopt;
  Node node{id_plus_one - 1, static_cast<model::FileKind>(kind)};
  if (node.id == model::kHostId && node.kind == model::FileKind::directory) return std::nullopt;
  return node;
}

}  // namespace containerfs::fuse
