// mv of a container: a new name under the same parent. mv of a stray
// symlink over a namespace file (what `ln -sf` does): that link applies.
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) {
  auto& fs = filesystem(req);
  auto from = container_dir(parent);
  auto to = container_dir(newparent);
  if (!from) return (void)fuse_reply_err(req, from.error());
  if (!to) return (void)fuse_reply_err(req, to.error());
  if (auto slot = fs.containers->find_pending_link(*from, name)) {
    auto kind = model::file_kind_from_name(newname);
    if (*from == *to && kind == model::FileKind::root && !flags) {
      const fuse_ctx* ctx = fuse_req_ctx(req);
      auto done = fs.containers->commit_pending_root(*from, *slot, {ctx->uid, ctx->gid});
      return (void)fuse_reply_err(req, done ? 0 : done.error());
    }
    if (*from != *to || !kind || !model::is_ns_file(*kind) || flags)
      return (void)fuse_reply_err(
          req, log::refuse(EPERM, "rename {} -> {}: a symlink here can only become a namespace file or root",
                           name, newname));
    auto done = fs.containers->commit_pending_link(*from, *slot, model::ns_of_file(*kind),
                                                   fuse_req_ctx(req)->uid, fuse_req_ctx(req)->pid);
    return (void)fuse_reply_err(req, done ? 0 : done.error());
  }
  if (auto kind = model::file_kind_from_name(name)) {
    auto exists = existing(fs, Node{*from, *kind});
    if (!exists) return (void)fuse_reply_err(req, ENOENT);
    return (void)fuse_reply_err(req, log::refuse(EPERM, "rename {}: a container's files stay put", name));
  }
  auto renamed = fs.containers->rename(*from, name, *to, newname, flags);
  fuse_reply_err(req, renamed ? 0 : renamed.error());
}

}  // namespace containerfs::fuse
