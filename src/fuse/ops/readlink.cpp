#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto& fs = filesystem(req);
  auto node = from_ino(ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  if (node->kind == model::FileKind::self) {
    // The caller's container, relative to the root: "web/db", or ".".
    auto id = fs.containers->container_of_process(fuse_req_ctx(req)->pid);
    auto path = id ? fs.containers->path_of(*id) : fail(id.error());
    if (!path) return (void)fuse_reply_err(req, path.error());
    return (void)fuse_reply_readlink(req, path->c_str());
  }
  if (model::is_pending_link(node->kind)) {
    auto target = fs.containers->pending_link_target(node->id, static_cast<int>(node->kind));
    if (!target) return (void)fuse_reply_err(req, target.error());
    return (void)fuse_reply_readlink(req, target->c_str());
  }
  if (!model::is_ns_file(node->kind)) return (void)fuse_reply_err(req, EINVAL);
  auto link = fs.containers->ns_link(node->id, model::ns_of_file(node->kind));
  if (!link) return (void)fuse_reply_err(req, link.error());
  fuse_reply_readlink(req, link->c_str());
}

}  // namespace containerfs::fuse
