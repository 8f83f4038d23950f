// Files are generated: a read-open takes a snapshot of the content (as
// seq_file does), served with direct I/O since sizes are not known ahead.
#include <fcntl.h>

#include "containerfs/fuse/events_watch.hpp"
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"

namespace containerfs::fuse {

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = filesystem(req);
  auto node = from_ino(ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  auto c = existing(fs, *node);
  if (!c) return (void)fuse_reply_err(req, c.error());
  if (node->kind == model::FileKind::directory) return (void)fuse_reply_err(req, EISDIR);
  int mode = fi->flags & O_ACCMODE;
  bool reads = mode == O_RDONLY || mode == O_RDWR;
  bool writes = mode == O_WRONLY || mode == O_RDWR;
  if ((reads && !is_readable(node->kind)) || (writes && !is_writable(node->kind)))
    return (void)fuse_reply_err(req, EACCES);
  if (writes && model::is_controller_file(node->kind)) {
    // Read-only interface files (cpu.stat, memory.current): as cgroupfs.
    auto st = stat_of(fs, *node, fuse_req_ctx(req)->pid);
    if (!st) return (void)fuse_reply_err(req, st.error());
    if (!(st->st_mode & 0222)) return (void)fuse_reply_err(req, EACCES);
  }
  auto file = std::make_unique<OpenFile>();
  file->node = *node;
  if (node->kind == model::FileKind::console) {
    // Read as it grows (console_file.cpp): no snapshot; made when first opened.
    if (auto made = fs.containers->open_console(node->id); !made) return (void)fuse_reply_err(req, made.error());
  } else if (reads) {
    auto text = render_file(fs, *node, fuse_req_ctx(req)->pid);
    if (!text) return (void)fuse_reply_err(req, text.error());
    file->content = std::move(*text);
  }
  fi->fh = reinterpret_cast<uint64_t>(file.release());
  fi->direct_io = 1;
  fi->nonseekable = 0;
  if (fuse_reply_open(req, fi) == -ENOENT) delete reinterpret_cast<OpenFile*>(fi->fh);
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto* file = reinterpret_cast<OpenFile*>(fi->fh);
  // A poller of `events` ends with its open file.
  // A poller of `events` or `console` ends with its open file.
  if (file->node.kind == model::FileKind::events) filesystem(req).events->forget(file->node.id, fi->fh);
  if (file->node.kind == model::FileKind::console)
    filesystem(req).events->forget(EventsWatcher::kConsoleKey | file->node.id, fi->fh);
  delete file;
  fuse_reply_err(req, 0);
}

}  // namespace containerfs::fuse
