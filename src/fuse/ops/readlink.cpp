#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto node = from_ino(ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  auto target = link_target(filesystem(req), *node, fuse_req_ctx(req)->pid);
  if (!target) return (void)fuse_reply_err(req, target.error());
  fuse_reply_readlink(req, target->c_str());
}

}  // namespace containerfs::fuse
