// Which nodes exist and what stat(2) says of them.
#include <time.h>
#include <unistd.h>

#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/model/controller_files.hpp"

namespace containerfs::fuse {

using model::FileKind;
using model::NsOrigin;

namespace {
// The tree has no modification times of its own: everything shows the
// moment the daemon started, as /proc shows its mount time.
const timespec kStarted = [] {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}();
}  // namespace

Filesystem& filesystem(fuse_req_t req) { return *static_cast<Filesystem*>(fuse_req_userdata(req)); }

std::vector<FileKind> files_of(const model::ContainerView& c) {
  std::vector<FileKind> files;
  bool host = c.id == model::kHostId;
  if (host) files.push_back(FileKind::self);
  files.push_back(FileKind::tasks);
  if (!host) files.push_back(FileKind::init);
  for (auto kind : kernel::kAllNsKinds)
    if (host || c.ns[static_cast<size_t>(kind)].origin != NsOrigin::inherited)
      files.push_back(model::ns_file_kind(kind));
  if (!host) {
    auto own = [&](kernel::NsKind k) { return c.ns[static_cast<size_t>(k)].origin == NsOrigin::own; };
    if (own(kernel::NsKind::uts)) files.push_back(FileKind::hostname);
    if (own(kernel::NsKind::time)) files.push_back(FileKind::timens_offsets);
    if (own(kernel::NsKind::user)) {
      files.push_back(FileKind::uid_map);
      files.push_back(FileKind::gid_map);
    }
    files.push_back(FileKind::freeze);
    files.push_back(FileKind::kill);
    files.push_back(FileKind::events);
    if (!c.root.empty()) files.push_back(FileKind::root);
    files.push_back(FileKind::console);
    files.push_back(FileKind::run);
    files.push_back(FileKind::devices);
  }
  return files;
}

Result<model::ContainerView> existing(Filesystem& fs, Node node) {
  auto c = fs.containers->get(node.id);
  if (!c) return fail(c.error());
  if (node.kind == FileKind::directory || node.kind == FileKind::created) return c;
  if (model::is_controller_file(node.kind)) {
    auto mode = fs.containers->controller_file_mode(node.id, model::controller_file_name(node.kind));
    if (!mode) return fail(ENOENT);
    return c;
  }
  if (model::is_pending_link(node.kind)) {
    for (auto& [slot, name] : c->pending)
      if (slot == static_cast<int>(node.kind)) return c;
    return fail(ENOENT);
  }
  for (auto kind : files_of(*c))
    if (kind == node.kind) return c;
  return fail(ENOENT);
}

Result<std::string> link_target(Filesystem& fs, Node node, pid_t caller) {
  if (node.kind == FileKind::self) {
    // The caller's container, relative to the root: "web/db", or ".".
    auto id = fs.containers->container_of_process(caller);
    return id ? fs.containers->path_of(*id) : fail(id.error());
  }
  if (model::is_pending_link(node.kind))
    return fs.containers->pending_link_target(node.id, static_cast<int>(node.kind));
  if (node.kind == FileKind::root) return fs.containers->root_of(node.id);
  if (!model::is_ns_file(node.kind)) return fail(EINVAL);
  return fs.containers->ns_link(node.id, model::ns_of_file(node.kind));
}

Result<struct stat> stat_of(Filesystem& fs, Node node, pid_t caller) {
  auto c = existing(fs, node);
  if (!c) return fail(c.error());
  struct stat st {};
  st.st_ino = to_ino(node);
  st.st_mode = model::file_mode(node.kind);
  if (model::is_controller_file(node.kind)) {
    auto mode = fs.containers->controller_file_mode(node.id, model::controller_file_name(node.kind));
    if (mode) st.st_mode = S_IFREG | (*mode & 0777);
  }
  st.st_nlink = node.kind == FileKind::directory ? 2 : 1;
  st.st_uid = c->owner_uid;
  st.st_gid = c->owner_gid;
  if (model::is_controller_file(node.kind) || node.kind == FileKind::devices) {
    // Limits are set by whoever owns the parent (cgroupfs delegation).
    st.st_uid = c->limits_uid;
    st.st_gid = c->limits_gid;
  }
  st.st_blksize = 4096;
  st.st_atim = st.st_mtim = st.st_ctim = kStarted;
  if (node.kind == FileKind::console) {
    // The bytes written to it so far: `tail -f` follows it.
    auto written = fs.containers->console_size(node.id);
    if (!written) return fail(written.error());
    st.st_size = static_cast<off_t>(*written);
  } else if (node.kind == FileKind::directory) {
    auto kids = fs.containers->children(node.id);
    if (kids) st.st_nlink += kids->size();
  } else if (S_ISLNK(st.st_mode)) {
    // A symlink's size is its target's length, as lstat(2) and readlink's
    // callers expect (`self`'s depends on who asks).
    // (0 where readlink fails as well, e.g. for a caller outside the
    // daemon's pid namespace.)
    if (auto target = link_target(fs, node, caller)) st.st_size = static_cast<off_t>(target->size());
  }
  return st;
}

void reply_entry(fuse_req_t req, Filesystem& fs, Node node) {
  auto st = stat_of(fs, node, fuse_req_ctx(req)->pid);
  if (!st) {
    fuse_reply_err(req, st.error());
    return;
  }
  fuse_entry_param e{};
  e.ino = st->st_ino;
  e.attr = *st;
  // Nothing is cached: `self` and `tasks` differ by reader, and the tree
  // changes under the kernel (inits die, processes move).
  e.attr_timeout = 0;
  e.entry_timeout = 0;
  fuse_reply_entry(req, &e);
}

Result<model::ContainerId> container_dir(fuse_ino_t ino) {
  auto node = from_ino(ino);
  if (!node) return fail(ENOENT);
  if (node->kind != FileKind::directory) return fail(ENOTDIR);
  return node->id;
}

}  // namespace containerfs::fuse
