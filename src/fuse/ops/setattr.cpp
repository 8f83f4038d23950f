// Truncation of a writable file is accepted (a shell's `>` opens with
// O_TRUNC) and changes nothing; chown of any of a container's files
// delegates the container; modes are fixed.
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/invalidator.hpp"

namespace containerfs::fuse {

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  auto& fs = filesystem(req);
  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto node = from_ino(ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  auto st = stat_of(fs, *node, ctx->pid);
  if (!st) return (void)fuse_reply_err(req, st.error());
  constexpr int kTimes = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                         FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
  if (to_set & FUSE_SET_ATTR_MODE) return (void)fuse_reply_err(req, EPERM);
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    // chown delegates the container: its directory and files have one
    // owner, the container's (chown -R reaches the files first).
    uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : st->st_uid;
    gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : st->st_gid;
    auto done = fs.containers->set_owner(node->id, uid, gid, model::Caller{ctx->uid, ctx->gid});
    if (!done) return (void)fuse_reply_err(req, done.error());
    st = stat_of(fs, *node, ctx->pid);
    if (!st) return (void)fuse_reply_err(req, st.error());
  }
  // Read-only by kind, or (controller files) by the kernel's mode.
  if ((to_set & FUSE_SET_ATTR_SIZE) && (!is_writable(node->kind) || !(st->st_mode & 0222)))
    return (void)fuse_reply_err(req, EACCES);
  (void)kTimes;  // touching times is accepted and changes nothing, as on /proc
  fuse_reply_attr(req, &*st, attr_timeout(*node));
  // A file's chown changes its directory's owner too (files keep no
  // attributes in the kernel; directories do).
  if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && node->kind != model::FileKind::directory &&
      fs.invalidator)
    fs.invalidator->inode(Node{node->id, model::FileKind::directory});
}

}  // namespace containerfs::fuse
