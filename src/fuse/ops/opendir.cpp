// opendir/releasedir: a handle for the listing (open_dir.hpp).
//
// The kernel is not asked to keep listings (cache_readdir): it continues a
// listing from its cache by offset, also for a reader that began before the
// cache was complete, so a listing begun after a mkdir through the mount
// could miss the new container when another listing ran at the same time.
// Entries and attributes it keeps (readdirplus hands them over with the
// listing), which is what makes `ls -l` fast.
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_dir.hpp"

namespace containerfs::fuse {

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto id = container_dir(ino);
  if (!id) return (void)fuse_reply_err(req, id.error());
  if (!filesystem(req).containers->get(*id)) return (void)fuse_reply_err(req, ENOENT);
  auto* dir = new OpenDir;
  dir->id = *id;
  fi->fh = reinterpret_cast<uint64_t>(dir);
  if (fuse_reply_open(req, fi) != 0) delete dir;
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<OpenDir*>(fi->fh);
  fuse_reply_err(req, 0);
}

}  // namespace containerfs::fuse
