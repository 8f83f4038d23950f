// ln -s TARGET C/<kind>: share (a target in the tree) or adopt (outside).
// Under any other free name the link is kept as it is, for `ln -sf`, which
// links a temporary name and renames it over the namespace file.
#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  auto& fs = filesystem(req);
  auto dir = container_dir(parent);
  if (!dir) return (void)fuse_reply_err(req, dir.error());
  if (std::string_view(name).size() > 255) return (void)fuse_reply_err(req, ENAMETOOLONG);
  auto kind = model::file_kind_from_name(name);
  if (kind && model::is_ns_file(*kind)) {
    if (existing(fs, Node{*dir, *kind})) return (void)fuse_reply_err(req, EEXIST);
    auto linked = fs.containers->link_namespace(*dir, model::ns_of_file(*kind), target,
                                                fuse_req_ctx(req)->uid, fuse_req_ctx(req)->pid);
    if (!linked) return (void)fuse_reply_err(req, linked.error());
    return reply_entry(req, fs, Node{*dir, *kind});
  }
  if (kind == model::FileKind::root) {
    if (existing(fs, Node{*dir, *kind})) return (void)fuse_reply_err(req, EEXIST);
    const fuse_ctx* ctx = fuse_req_ctx(req);
    auto set = fs.containers->set_root(*dir, target, {ctx->uid, ctx->gid});
    if (!set) return (void)fuse_reply_err(req, set.error());
    return reply_entry(req, fs, Node{*dir, *kind});
  }
  if (kind) return (void)fuse_reply_err(req, EEXIST);
  auto slot = fs.containers->add_pending_link(*dir, name, target);
  if (!slot) return (void)fuse_reply_err(req, slot.error());
  reply_entry(req, fs, Node{*dir, static_cast<model::FileKind>(*slot)});
}

}  // namespace containerfs::fuse
