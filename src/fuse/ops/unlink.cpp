#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& fs = filesystem(req);
  auto dir = container_dir(parent);
  if (!dir) return (void)fuse_reply_err(req, dir.error());
  auto kind = model::file_kind_from_name(name);
  if (!kind) {
    auto child = fs.containers->child(*dir, name);
    return (void)fuse_reply_err(req, child ? EISDIR : ENOENT);
  }
  auto exists = existing(fs, Node{*dir, *kind});
  if (!exists) return (void)fuse_reply_err(req, ENOENT);
  fuse_reply_err(req, log::refuse(EPERM, "unlink {}: not removable", name));
}

}  // namespace containerfs::fuse
