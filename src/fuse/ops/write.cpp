// Each write(2) is one command, whatever its offset (as in cgroupfs and
// /proc); the write handler of tasks may have replied already.
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"

namespace containerfs::fuse {

void op_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t, fuse_file_info* fi) {
  const Node node = reinterpret_cast<OpenFile*>(fi->fh)->node;
  auto written = write_file(filesystem(req), req, node, std::string_view(buf, size));
  if (!written) {
    if (written.error() == kAlreadyReplied) return;
    return (void)fuse_reply_err(req, written.error());
  }
  fuse_reply_write(req, *written);
}

}  // namespace containerfs::fuse
