// A container's root file system: ln -s DIR C/root, ln -sf, rm C/root.
//
// A root is set up by the container's init, in a fresh mount namespace,
// before it execs (kernel/root_fs.hpp). So a change of root replaces the
// init, as a namespace change does (container_compose.cpp): the container
// must have no members, and a new init with a new pid namespace, a new
// mount namespace and the root takes the old one's place.
#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "containerfs/kernel/console.hpp"
#include "containerfs/kernel/credentials.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/system_text.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

using kernel::NsKind;

namespace {

// How long the init of a container with a new root is given to make its
// console (bound over /dev/console).
constexpr std::chrono::milliseconds kConsoleBound{2000};

bool own(int kinds, NsKind kind) { return kinds & kernel::ns_clone_flag(kind); }

// The directory, opened as the container's owner: it must be able to reach
// it, and own it unless it is root. ENOENT, ENOTDIR, EACCES, EPERM.
Result<UniqueFd> open_root_dir(const Container& c, const std::string& dir) {
  Result<UniqueFd> fd = fail(EIO);
  {
    auto as = kernel::ActingAs::assume(kernel::UserIds{c.owner_uid, c.owner_gid});
    if (!as) return fail(as.error());
    fd = open_at(AT_FDCWD, dir, O_PATH | O_DIRECTORY);
  }
  if (!fd) return fail(fd.error());
  if (c.owner_uid != 0) {
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return fail_errno();
    if (st.st_uid != c.owner_uid)
      return fail(log::refuse(EPERM, "root of {}: {} is not owned by uid {}, to whom {} is delegated", c.name,
                              dir, c.owner_uid, c.name));
  }
  return fd;
}

}  // namespace

int Containers::own_kinds_of(const NsSlots& slots) {
  int kinds = 0;
  for (auto kind : kernel::kAllNsKinds)
    if (slots.own(kind)) kinds |= kernel::ns_clone_flag(kind);
  return kinds;
}

Status Containers::add_system_to_spec_locked(const Container& c, int own_kinds, kernel::InitSpec& spec,
                                             UniqueFd& root_dir) const {
  spec.own_proc = own(own_kinds, NsKind::mount) && own(own_kinds, NsKind::pid);
  if ((spec.fresh & CLONE_NEWNS) && c.parent != kHostId)
    spec.join.emplace_back(NsKind::mount, effective_ns_path_locked(*find_locked(c.parent), NsKind::mount));
  if (c.root.empty()) return {};
  auto dir = open_root_dir(c, c.root);
  if (!dir) return fail(log::refuse(dir.error(), "root of {}: cannot open {}", c.name, c.root));
  root_dir = std::move(*dir);
  spec.root_fd = root_dir.get();
  return {};
}

Status Containers::replace_root_locked(Container& c, std::string root) {
  int changing = CLONE_NEWNS | (own_kinds_of(c.ns) & CLONE_NEWPID);
  if (auto ok = check_composable_locked(c, changing); !ok) return ok;
  std::string old = std::exchange(c.root, std::move(root));
  auto done = sync_device_filter_locked(c);
  if (done) done = replace_init(c, c.ns, UniqueFd(), CLONE_NEWNS, c.time_offsets);
  if (!done) {
    std::swap(c.root, old);
    if (auto back = sync_device_filter_locked(c); !back)
      log::error("root of {}: its device filter could not be put back: {}", c.name, log::errno_text(back.error()));
    return fail(log::refuse(done.error(), "root of {}: {:?} not taken", c.name, old.empty() ? "the host's tree" : old));
  }
  return {};
}

Status Containers::set_root(ContainerId id, std::string_view dir, Caller caller, bool replace) {
  auto target = root_target(dir);
  if (!target)
    return fail(log::refuse(EINVAL, "ln -s {:?} root: a root is an absolute path on the host", log::excerpt(dir)));
  // Its init sets the root up as root of the container's user namespace.
  if (auto maps = ensure_user_maps(id); !maps) return fail(maps.error());
  {
    Lock lock(tree_);
    auto* c = find_locked(id);
    if (!c || c->removing) return fail(ENOENT);
    if (id == kHostId) return fail(log::refuse(EPERM, "the host's root cannot be changed"));
    if (!caller.is_root() && caller.uid != c->owner_uid)
      return fail(log::refuse(EPERM, "root of {}: uid {} does not own it", c->name, caller.uid));
    if (!replace && !c->root.empty()) return fail(EEXIST);
    if (!c->ns.own(NsKind::mount))
      return fail(log::refuse(EINVAL, "root of {}: it needs a mount namespace of its own (touch {}/mount)", c->name,
                              c->name));
    if (auto reachable = open_root_dir(*c, *target); !reachable)
      return fail(log::refuse(reachable.error(), "root of {}: {} is no directory it may have", c->name, *target));
    if (auto done = replace_root_locked(*c, *target); !done) return done;
    log::info("container {}: root {}", c->name, c->root);
  }
  // /dev/console is the console's terminal from now on: made at once.
  if (auto init = current_init(id)) {
    if (auto console = kernel::request_console(init->pidfd.get(), kConsoleBound); !console)
      log::warn("container {}: no console for its new root: {}", id, log::errno_text(console.error()));
  }
  return {};
}

Status Containers::clear_root(ContainerId id, Caller caller) {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c || c->removing) return fail(ENOENT);
  if (id == kHostId) return fail(log::refuse(EPERM, "the host's root cannot be changed"));
  if (c->root.empty()) return fail(ENOENT);
  if (!caller.is_root() && caller.uid != c->owner_uid)
    return fail(log::refuse(EPERM, "root of {}: uid {} does not own it", c->name, caller.uid));
  if (auto done = replace_root_locked(*c, std::string()); !done) return done;
  log::info("container {}: root removed", c->name);
  return {};
}

Result<std::string> Containers::root_of(ContainerId id) const {
  SharedLock lock(tree_);
  auto* c = find_locked(id);
  if (!c || c->root.empty()) return fail(ENOENT);
  return c->root;
}

Status Containers::commit_pending_root(ContainerId id, int slot, Caller caller) {
  auto target = pending_link_target(id, slot);
  if (!target) return fail(target.error());
  if (auto set = set_root(id, *target, caller, true); !set) return set;
  return remove_pending_link(id, slot);
}

}  // namespace containerfs::model
