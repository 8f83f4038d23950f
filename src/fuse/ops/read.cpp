#include <algorithm>

#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"

namespace containerfs::fuse {

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto* file = reinterpret_cast<OpenFile*>(fi->fh);
  if (file->node.kind == model::FileKind::console) return read_console_file(req, *file, size, off);
  // A read from the start takes a new snapshot (as seq_file does after a
  // seek to 0): pollers of `events` re-read this way.
  if (off == 0 && file->read_before) {
    auto text = render_file(filesystem(req), file->node, fuse_req_ctx(req)->pid);
    if (!text) return (void)fuse_reply_err(req, text.error());
    file->content = std::move(*text);
  }
  file->read_before = true;
  const auto& text = file->content;
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  size_t start = std::min(static_cast<size_t>(off), text.size());
  size_t len = std::min(size, text.size() - start);
  // The reader may close the file (and another thread release it) as soon
  // as the reply is in: the bytes go from a copy of our own.
  std::string piece = text.substr(start, len);
  fuse_reply_buf(req, piece.data(), piece.size());
}

}  // namespace containerfs::fuse
