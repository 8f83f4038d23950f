// Each write(2) is one command, whatever its offset (as in cgroupfs and
// /proc); the write handler of tasks may have replied already.
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"
#include "containerfs/fuse/tasks_write.hpp"

namespace containerfs::fuse {

void op_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t, fuse_file_info* fi) {
  // Neither req nor the open file may be touched once the write is
  // answered: the writer may close it at once, and another thread release it.
  const Node node = reinterpret_cast<OpenFile*>(fi->fh)->node;
  Filesystem& fs = filesystem(req);
  const std::string_view data(buf, size);
  if (node.kind == model::FileKind::tasks) {
    auto outcome = write_tasks(fs, req, node, data);
    if (!outcome) return (void)fuse_reply_err(req, outcome.error());
    if (!outcome->replied) fuse_reply_write(req, outcome->bytes);
    return;
  }
  auto written = write_file(fs, req, node, data);
  if (!written) return (void)fuse_reply_err(req, written.error());
  fuse_reply_write(req, *written);
}

}  // namespace containerfs::fuse
