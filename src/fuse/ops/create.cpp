// touch C/<kind>: the container gets a fresh namespace of that kind. The
// answer is a throw-away regular file (FileKind::created): what open(2)
// with O_CREAT must get; the next lookup finds the new namespace link.
// Nothing else can be created (ENOENT for unknown names).
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

namespace {

// 0 when a fresh namespace was made; an errno otherwise.
int create_file(fuse_req_t req, fuse_ino_t parent, const char* name, model::ContainerId* id) {
  auto& fs = filesystem(req);
  auto dir = container_dir(parent);
  if (!dir) return dir.error();
  *id = *dir;
  auto kind = model::file_kind_from_name(name);
  if (kind) {
    if (existing(fs, Node{*dir, *kind})) return EEXIST;
    if (!model::is_ns_file(*kind))
      return log::refuse(EPERM, "create {}: containers get this file by themselves", name);
    auto made = fs.containers->fresh_namespace(*dir, model::ns_of_file(*kind));
    return made ? 0 : made.error();
  }
  if (fs.containers->child(*dir, name) || fs.containers->find_pending_link(*dir, name)) return EEXIST;
  return log::refuse(ENOENT, "create {}: unknown file", name);
}

void reply_created(fuse_req_t req, model::ContainerId id, fuse_file_info* fi) {
  Node node{id, model::FileKind::created};
  auto st = stat_of(filesystem(req), node, fuse_req_ctx(req)->pid);
  if (!st) return (void)fuse_reply_err(req, st.error());
  fuse_entry_param e{};
  e.ino = st->st_ino;
  e.attr = *st;
  if (!fi) return (void)fuse_reply_entry(req, &e);
  auto* file = new OpenFile{};
  file->node = node;
  fi->fh = reinterpret_cast<uint64_t>(file);
  fi->direct_io = 1;
  if (fuse_reply_create(req, &e, fi) != 0) delete file;
}

}  // namespace

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, fuse_file_info* fi) {
  model::ContainerId id = 0;
  if (int err = create_file(req, parent, name, &id)) return (void)fuse_reply_err(req, err);
  reply_created(req, id, fi);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, dev_t) {
  model::ContainerId id = 0;
  if (int err = create_file(req, parent, name, &id)) return (void)fuse_reply_err(req, err);
  reply_created(req, id, nullptr);
}

}  // namespace containerfs::fuse
