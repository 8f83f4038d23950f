#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto node = from_ino(ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  auto st = stat_of(filesystem(req), *node, fuse_req_ctx(req)->pid);
  if (!st) return (void)fuse_reply_err(req, st.error());
  fuse_reply_attr(req, &*st, attr_timeout(*node));
}

}  // namespace containerfs::fuse
