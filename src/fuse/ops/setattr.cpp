// Only truncation of a writable file is accepted (a shell's `>` opens with
// O_TRUNC); modes and owners are the daemon's to decide.
#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat*, int to_set, fuse_file_info*) {
  auto& fs = filesystem(req);
  auto node = from_ino(ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  auto st = stat_of(fs, *node);
  if (!st) return (void)fuse_reply_err(req, st.error());
  constexpr int kTimes = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                         FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
    return (void)fuse_reply_err(req, EPERM);
  if ((to_set & FUSE_SET_ATTR_SIZE) && !is_writable(node->kind))
    return (void)fuse_reply_err(req, EACCES);
  (void)kTimes;  // touching times is accepted and changes nothing, as on /proc
  fuse_reply_attr(req, &*st, 0);
}

}  // namespace containerfs::fuse
