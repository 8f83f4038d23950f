#include <sys/statvfs.h>

#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_namemax = 255;
  st.f_files = filesystem(req).containers->size();
  fuse_reply_statfs(req, &st);
}

}  // namespace containerfs::fuse
