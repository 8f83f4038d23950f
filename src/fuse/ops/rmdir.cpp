#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& fs = filesystem(req);
  auto dir = container_dir(parent);
  if (!dir) return (void)fuse_reply_err(req, dir.error());
  if (auto kind = model::file_kind_from_name(name)) {
    auto exists = existing(fs, Node{*dir, *kind});
    return (void)fuse_reply_err(req, exists ? ENOTDIR : ENOENT);
  }
  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto removed = fs.containers->remove(*dir, name, {ctx->uid, ctx->gid});
  fuse_reply_err(req, removed ? 0 : removed.error());
}

}  // namespace containerfs::fuse
