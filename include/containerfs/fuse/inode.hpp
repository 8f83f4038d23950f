// Inode numbers: a container id and a file kind, packed. Stable for the
// life of a container (ids are never reused while the daemon runs), so the
// kernel's lookup counts need no table.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <optional>

#include "containerfs/model/container.hpp"
#include "containerfs/model/files.hpp"

namespace containerfs::fuse {

struct Node {
  model::ContainerId id = model::kHostId;
  model::FileKind kind = model::FileKind::directory;
  friend bool operator==(const Node&, const Node&) = default;
};

fuse_ino_t to_ino(Node node);
std::optional<Node> from_ino(fuse_ino_t ino);

}  // namespace containerfs::fuse
