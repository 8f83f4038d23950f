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

// How long the kernel may keep an entry or attributes without asking: until
// the daemon says they changed (Invalidator; the kernel tracks changes made
// through the mount itself). The hour is only a safety net.
constexpr double kUntilChanged = 3600;
}  // namespace

Filesystem& filesystem(fuse_req_t req) { return *static_cast<Filesystem*>(fuse_req_userdata(req)); }

std::vector<FileKind> files_of(const model::ContainerView& c) {
  std::vector<FileKind> files;
  bool host = c.id == model::kHostId;
  if (host) files.push_back(FileKind::self);
  files.push_back(FileKind::tasks);
  if (!host) files.push_back(FileKind::init);
  for (auto kind : kernel::kAllNsKinds)
    if (host || c.ns.present(kind)) files.push_back(model::ns_file_kind(kind));
  if (!host) {
    auto own = [&](kernel::NsKind k) { return c.ns.own(k); };
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

Status exists_in(Filesystem& fs, const model::ContainerView& c, Node node) {
  if (node.kind == FileKind::directory || node.kind == FileKind::created) return {};
  if (model::is_controller_file(node.kind)) {
    auto mode = fs.containers->controller_file_mode(node.id, model::controller_file_name(node.kind));
    return mode ? Status{} : fail(ENOENT);
  }
  if (model::is_pending_link(node.kind)) {
    for (auto& [slot, name] : c.pending)
      if (slot == static_cast<int>(node.kind)) return {};
    return fail(ENOENT);
  }
  for (auto kind : files_of(c))
    if (kind == node.kind) return {};
  return fail(ENOENT);
}

Result<model::ContainerView> existing(Filesystem& fs, Node node) {
  auto c = fs.containers->get(node.id);
  if (!c) return fail(c.error());
  if (auto here = exists_in(fs, *c, node); !here) return fail(here.error());
  return c;
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

struct stat directory_stat(model::ContainerId id, uid_t uid, gid_t gid, std::size_t children) {
  struct stat st {};
  st.st_ino = to_ino(Node{id, FileKind::directory});
  st.st_mode = model::file_mode(FileKind::directory);
  st.st_nlink = 2 + children;
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_blksize = 4096;
  st.st_atim = st.st_mtim = st.st_ctim = kStarted;
  return st;
}

Result<struct stat> stat_from_view(Filesystem& fs, const model::ContainerView& c, Node node, pid_t caller) {
  if (node.kind == FileKind::directory) return directory_stat(c.id, c.owner_uid, c.owner_gid, c.child_count);
  if (auto here = exists_in(fs, c, node); !here) return fail(here.error());
  struct stat st {};
  st.st_ino = to_ino(node);
  st.st_mode = model::file_mode(node.kind);
  st.st_nlink = 1;
  st.st_uid = c.owner_uid;
  st.st_gid = c.owner_gid;
  if (model::is_controller_file(node.kind)) {
    auto mode = fs.containers->controller_file_mode(node.id, model::controller_file_name(node.kind));
    if (mode) st.st_mode = S_IFREG | (*mode & 0777);
  }
  if (model::is_controller_file(node.kind) || node.kind == FileKind::devices) {
    // Limits are set by whoever owns the parent (cgroupfs delegation).
    st.st_uid = c.limits_uid;
    st.st_gid = c.limits_gid;
  }
  st.st_blksize = 4096;
  st.st_atim = st.st_mtim = st.st_ctim = kStarted;
  if (node.kind == FileKind::console) {
    // The bytes written to it so far: `tail -f` follows it.
    auto written = fs.containers->console_size(node.id);
    if (!written) return fail(written.error());
    st.st_size = static_cast<off_t>(*written);
  } else if (S_ISLNK(st.st_mode)) {
    // A symlink's size is its target's length, as lstat(2) and readlink's
    // callers expect (`self`'s depends on who asks).
    // (0 where readlink fails as well, e.g. for a caller outside the
    // daemon's pid namespace.)
    if (auto target = link_target(fs, node, caller)) st.st_size = static_cast<off_t>(target->size());
  }
  return st;
}

Result<struct stat> stat_of(Filesystem& fs, Node node, pid_t caller) {
  auto c = fs.containers->get(node.id);
  if (!c) return fail(c.error());
  return stat_from_view(fs, *c, node, caller);
}

// What the kernel may keep, and for how long (it asks again after that):
// - names that change only through the mount itself (container
//   directories, their fixed files, the host's files): until
//   the daemon says otherwise (the kernel tracks its own mkdir, rmdir, mv, ln
//   -s and rm; the Invalidator tells it of a container that ended by itself
//   and of controller files that came or went);
// - the names a namespace change adds, removes or repoints (namespace
//   links, hostname, uid_map, gid_map, timens_offsets) and stray symlinks
//   (which a rename turns into namespace links): not at all, so that
//   no reader ever sees the state before a change it could not wait for;
// - attributes: a directory's until changed; every file's not at all
//   (owners follow a chown of the container, link sizes a new init, `self`
//   depends on who asks), which costs little: files are few per directory.
double attr_timeout(Node node) { return node.kind == FileKind::directory ? kUntilChanged : 0; }

double entry_timeout(Node node) {
  switch (node.kind) {
    case FileKind::created:
    case FileKind::hostname:
    case FileKind::uid_map:
    case FileKind::gid_map:
    case FileKind::timens_offsets: return 0;
    default: break;
  }
  if (model::is_ns_file(node.kind) && node.id != model::kHostId) return 0;
  // A stray symlink is what `ln -sf` renames over a namespace file: the
  // kernel would keep the moved name pointing at the stray link's node.
  if (model::is_pending_link(node.kind)) return 0;
  return kUntilChanged;
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
  e.attr_timeout = attr_timeout(node);
  e.entry_timeout = entry_timeout(node);
  fuse_reply_entry(req, &e);
}

Result<model::ContainerId> container_dir(fuse_ino_t ino) {
  auto node = from_ino(ino);
  if (!node) return fail(ENOENT);
  if (node->kind != FileKind::directory) return fail(ENOTDIR);
  return node->id;
}

}  // namespace containerfs::fuse
