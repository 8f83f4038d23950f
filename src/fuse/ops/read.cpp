#include <algorithm>

#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"

namespace containerfs::fuse {

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto* file = reinterpret_cast<OpenFile*>(fi->fh);
  const auto& text = file->content;
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  size_t start = std::min(static_cast<size_t>(off), text.size());
  size_t len = std::min(size, text.size() - start);
  fuse_reply_buf(req, text.data() + start, len);
}

}  // namespace containerfs::fuse
