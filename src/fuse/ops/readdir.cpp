// readdir and readdirplus: pieces of the listing an open directory took
// (listing.cpp) when it was read from the start. readdirplus hands the
// kernel every entry's attributes too, so `ls -l` needs no lookup each.
#include <vector>

#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_dir.hpp"

namespace containerfs::fuse {

namespace {

// The piece from `off`, with the open directory's lock held: it may not be
// touched once the reply is out (the reader may close it at once, and
// another thread release it).
Result<std::vector<char>> piece(fuse_req_t req, OpenDir& dir, size_t size, off_t off, bool plus) {
  Lock lock(dir.mutex);
  if (off == 0 || !dir.taken) {
    auto entries = list_directory_of(filesystem(req), dir.id, fuse_req_ctx(req)->pid);
    if (!entries) return fail(entries.error());
    dir.entries = std::move(*entries);
    dir.taken = true;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < dir.entries.size(); ++i) {
    const auto& e = dir.entries[i];
    size_t len;
    if (plus) {
      fuse_entry_param param{};
      param.attr = e.st;
      // The kernel makes no entry of "." and ".."; the others it keeps as a
      // lookup would have.
      if (e.name != "." && e.name != "..") {
        param.ino = e.st.st_ino;
        param.attr_timeout = attr_timeout(e.node);
        param.entry_timeout = entry_timeout(e.node);
      }
      len = fuse_add_direntry_plus(req, buf.data() + used, size - used, e.name.c_str(), &param,
                                   static_cast<off_t>(i + 1));
    } else {
      len = fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &e.st,
                              static_cast<off_t>(i + 1));
    }
    if (len > size - used) break;
    used += len;
  }
  buf.resize(used);
  return buf;
}

void serve(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  auto buf = piece(req, *reinterpret_cast<OpenDir*>(fi->fh), size, off, plus);
  if (!buf) return (void)fuse_reply_err(req, buf.error());
  fuse_reply_buf(req, buf->data(), buf->size());
}

}  // namespace

void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  serve(req, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  serve(req, size, off, fi, true);
}

}  // namespace containerfs::fuse
