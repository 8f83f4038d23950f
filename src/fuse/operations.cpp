// The operations table: one handler per file in src/fuse/ops/.
#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_lookup(fuse_req_t, fuse_ino_t, const char*);
void op_getattr(fuse_req_t, fuse_ino_t, fuse_file_info*);
void op_setattr(fuse_req_t, fuse_ino_t, struct stat*, int, fuse_file_info*);
void op_readdir(fuse_req_t, fuse_ino_t, size_t, off_t, fuse_file_info*);
void op_readlink(fuse_req_t, fuse_ino_t);
void op_mkdir(fuse_req_t, fuse_ino_t, const char*, mode_t);
void op_rmdir(fuse_req_t, fuse_ino_t, const char*);
void op_rename(fuse_req_t, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned int);
void op_open(fuse_req_t, fuse_ino_t, fuse_file_info*);
void op_release(fuse_req_t, fuse_ino_t, fuse_file_info*);
void op_read(fuse_req_t, fuse_ino_t, size_t, off_t, fuse_file_info*);
void op_write(fuse_req_t, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*);
void op_unlink(fuse_req_t, fuse_ino_t, const char*);
void op_create(fuse_req_t, fuse_ino_t, const char*, mode_t, fuse_file_info*);
void op_mknod(fuse_req_t, fuse_ino_t, const char*, mode_t, dev_t);
void op_symlink(fuse_req_t, const char*, fuse_ino_t, const char*);
void op_statfs(fuse_req_t, fuse_ino_t);
void op_poll(fuse_req_t, fuse_ino_t, fuse_file_info*, fuse_pollhandle*);
void op_opendir(fuse_req_t, fuse_ino_t, fuse_file_info*);
void op_releasedir(fuse_req_t, fuse_ino_t, fuse_file_info*);
void op_readdirplus(fuse_req_t, fuse_ino_t, size_t, off_t, fuse_file_info*);

namespace {

void op_init(void*, fuse_conn_info* conn) {
  // Listings hand every entry's attributes along (ls -l needs no lookup
  // per entry), always: the kernel's "auto" mode would stop after the
  // first piece of a large directory, before ls asks for attributes.
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  // Symlinks are not cached by the kernel: `self` names a different
  // container for each reader.
  conn->want &= ~FUSE_CAP_CACHE_SYMLINKS;
}

}  // namespace

fuse_lowlevel_ops make_operations() {
  fuse_lowlevel_ops ops{};
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.readdir = op_readdir;
  ops.readlink = op_readlink;
  ops.mkdir = op_mkdir;
  ops.rmdir = op_rmdir;
  ops.rename = op_rename;
  ops.open = op_open;
  ops.release = op_release;
  ops.read = op_read;
  ops.write = op_write;
  ops.unlink = op_unlink;
  ops.create = op_create;
  ops.mknod = op_mknod;
  ops.symlink = op_symlink;
  ops.statfs = op_statfs;
  ops.poll = op_poll;
  ops.init = op_init;
  ops.opendir = op_opendir;
  ops.releasedir = op_releasedir;
  ops.readdirplus = op_readdirplus;
  return ops;
}

}  // namespace containerfs::fuse
