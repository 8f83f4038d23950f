// Creating files: only the files a container has are there; nothing else
// can be made (mknod/create of an unknown name is ENOENT, of a known one
// EEXIST when present).
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

namespace {

int refuse_create(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& fs = filesystem(req);
  auto dir = container_dir(parent);
  if (!dir) return dir.error();
  if (auto kind = model::file_kind_from_name(name)) {
    if (existing(fs, Node{*dir, *kind})) return EEXIST;
    return log::refuse(EPERM, "create {}: not a file containers can be given", name);
  }
  if (fs.containers->child(*dir, name)) return EEXIST;
  return log::refuse(ENOENT, "create {}: unknown file", name);
}

}  // namespace

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, fuse_file_info*) {
  fuse_reply_err(req, refuse_create(req, parent, name));
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, dev_t) {
  fuse_reply_err(req, refuse_create(req, parent, name));
}

void op_symlink(fuse_req_t req, const char*, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, refuse_create(req, parent, name));
}

}  // namespace containerfs::fuse
