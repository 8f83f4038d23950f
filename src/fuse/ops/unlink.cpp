// rm C/<kind>: the container inherits that namespace from its parent again.
// rm of a stray symlink removes it. Other files stay.
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& fs = filesystem(req);
  auto dir = container_dir(parent);
  if (!dir) return (void)fuse_reply_err(req, dir.error());
  if (auto slot = fs.containers->find_pending_link(*dir, name)) {
    auto removed = fs.containers->remove_pending_link(*dir, *slot);
    return (void)fuse_reply_err(req, removed ? 0 : removed.error());
  }
  auto kind = model::file_kind_from_name(name);
  if (!kind) {
    auto child = fs.containers->child(*dir, name);
    return (void)fuse_reply_err(req, child ? EISDIR : ENOENT);
  }
  auto exists = existing(fs, Node{*dir, *kind});
  if (!exists) return (void)fuse_reply_err(req, ENOENT);
  if (*kind == model::FileKind::root) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    auto cleared = fs.containers->clear_root(*dir, {ctx->uid, ctx->gid});
    return (void)fuse_reply_err(req, cleared ? 0 : cleared.error());
  }
  if (!model::is_ns_file(*kind))
    return (void)fuse_reply_err(req, log::refuse(EPERM, "rm {}: not removable", name));
  auto done = fs.containers->unlink_namespace(*dir, model::ns_of_file(*kind));
  fuse_reply_err(req, done ? 0 : done.error());
}

}  // namespace containerfs::fuse
