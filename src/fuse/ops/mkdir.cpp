#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t) {
  auto& fs = filesystem(req);
  auto dir = container_dir(parent);
  if (!dir) return (void)fuse_reply_err(req, dir.error());
  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto id = fs.containers->create(*dir, name, model::Caller{ctx->uid, ctx->gid});
  if (!id) return (void)fuse_reply_err(req, id.error());
  reply_entry(req, fs, Node{*id, model::FileKind::directory});
}

}  // namespace containerfs::fuse
