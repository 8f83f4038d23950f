#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/model/controller_files.hpp"

namespace containerfs::fuse {

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& fs = filesystem(req);
  auto dir = container_dir(parent);
  if (!dir) return (void)fuse_reply_err(req, dir.error());
  std::string_view n = name;
  if (n.size() > 255) return (void)fuse_reply_err(req, ENAMETOOLONG);
  if (auto kind = model::file_kind_from_name(n)) return reply_entry(req, fs, Node{*dir, *kind});
  if (auto kind = model::controller_file_kind(n)) return reply_entry(req, fs, Node{*dir, *kind});
  if (auto slot = fs.containers->find_pending_link(*dir, n))
    return reply_entry(req, fs, Node{*dir, static_cast<model::FileKind>(*slot)});
  auto child = fs.containers->child(*dir, n);
  if (!child) return (void)fuse_reply_err(req, child.error());
  reply_entry(req, fs, Node{*child, model::FileKind::directory});
}

}  // namespace containerfs::fuse
