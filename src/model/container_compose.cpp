// Namespace composition: ln -s (share, adopt), rm (inherit), touch (fresh),
// and new time offsets.
//
// Invariant: a container's init is in exactly the container's namespaces.
// A change therefore replaces the init (init_replace.cpp; the container has
// no members, so nobody notices).
#include <fcntl.h>

#include <fmt/format.h>

#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/files.hpp"
#include "containerfs/model/link_target.hpp"
#include "containerfs/model/time_offsets.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

using kernel::NsKind;

namespace {

// Kinds whose namespace identity a change from `cur` to `next` alters.
int changing_kinds(const NsSlots& cur, const NsSlots& next) {
  int mask = 0;
  bool user_changes = !(cur[NsKind::user] == next[NsKind::user]);
  for (auto kind : kernel::kAllNsKinds) {
    if (!(cur[kind] == next[kind]) || (cur.own(kind) && (kind == NsKind::pid || user_changes)))
      mask |= kernel::ns_clone_flag(kind);
  }
  return mask;
}

}  // namespace

Status Containers::check_composable_locked(const Container& c, int changing) const {
  if (c.id == kHostId) return fail(log::refuse(EPERM, "the host's namespaces cannot be changed"));
  if (c.removing) return fail(ENOENT);
  if (c.replacing_init)
    return fail(log::refuse(EBUSY, "{}: another namespace change is under way", c.name));
  if (c.entering > 0)
    return fail(log::refuse(EBUSY, "{}: a process is entering it; its namespaces are fixed", c.name));
  if (!c.children.empty() || !c.reserved.empty())
    return fail(log::refuse(EBUSY, "{}: namespaces of a container with child containers are fixed", c.name));
  auto members = open_cgroup_locked(c, state::kMembersLeaf);
  if (!members) return fail(members.error());
  auto procs = members->procs();
  if (!procs) return fail(procs.error());
  if (!procs->empty())
    return fail(log::refuse(EBUSY, "{}: has members (pid {}); its namespaces are fixed", c.name,
                            procs->front()));
  for (const auto& [other, kind] : c.shared_by) {
    if (changing & kernel::ns_clone_flag(kind))
      return fail(log::refuse(EBUSY, "{}: its {} namespace is shared by {}", c.name,
                              kernel::ns_file_name(kind), find_locked(other)->name));
  }
  return {};
}

Status Containers::change_namespace(Container& c, NsKind kind, NsSlot slot, const UniqueFd& adopted) {
  auto next = c.ns;
  next[kind] = std::move(slot);
  if (auto ok = check_composable_locked(c, changing_kinds(c.ns, next) | root_renewal(c)); !ok) return ok;
  return replace_init(c, next, adopted, 0, c.time_offsets);
}

Status Containers::link_namespace(ContainerId id, NsKind kind, std::string_view target, uid_t caller,
                                  pid_t caller_pid) {
  std::vector<std::string> names;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    names = names_of_locked(*c);
  }
  auto resolved = resolve_link_target(config_.mount_point, names, target);
  if (!resolved) return fail(log::refuse(resolved.error(), "ln {:?}: empty target", target));

  if (auto* outside = std::get_if<OutsideTarget>(&*resolved)) {
    // Adoption: opened without the lock held, since the path may lead back
    // through this very mount.
    if (caller != 0) return fail(log::refuse(EPERM, "ln {}: only root may adopt a namespace", target));
    std::string path = outside->path;
    if (caller_pid > 0) {
      for (std::string_view self : {"/proc/self", "/proc/thread-self"}) {
        if (path == self || path.starts_with(std::string(self) + "/"))
          path = fmt::format("/proc/{}{}", caller_pid, path.substr(self.size()));
      }
    }
    auto fd = open_at(AT_FDCWD, path, O_RDONLY);
    if (!fd) return fail(log::refuse(fd.error(), "ln {}: cannot open {}", target, outside->path));
    auto type = kernel::ns_type_of_fd(fd->get());
    if (!type) return fail(log::refuse(EINVAL, "ln {}: not a namespace", target));
    if (*type != kernel::ns_clone_flag(kind))
      return fail(log::refuse(EINVAL, "ln {}: not a {} namespace", target, kernel::ns_file_name(kind)));
    Lock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    return change_namespace(*c, kind, NsSlot{NsOrigin::adopted, std::string(target), kHostId}, *fd);
  }

  const auto& tree = std::get<TreeTarget>(*resolved);
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  auto* source = find_path_locked(tree.containers);
  if (!source) return fail(log::refuse(ENOENT, "ln {}: no such container", target));
  auto file_kind = kernel::ns_kind_from_file_name(tree.file);
  if (!file_kind) {
    bool exists = tree.file.empty() || file_kind_from_name(tree.file) || source->children.contains(tree.file);
    return fail(log::refuse(exists ? EINVAL : ENOENT, "ln {}: not a namespace file", target));
  }
  if (*file_kind != kind)
    return fail(log::refuse(EINVAL, "ln {}: a {} namespace cannot be {}", target, tree.file,
                            kernel::ns_file_name(kind)));
  if (source->id != kHostId && source->ns[kind].origin == NsOrigin::inherited)
    return fail(log::refuse(ENOENT, "ln {}: {} has no such file", target, source->name));
  // A delegated user shares only namespaces of containers it owns: anything
  // else would pin (and let it enter) namespaces of others.
  if (caller != 0 && (source->id == kHostId || source->owner_uid != caller))
    return fail(log::refuse(EPERM, "ln {}: uid {} does not own {}", target, caller,
                            source->id == kHostId ? std::string("the host") : source->name));
  // No cycles: the source must not (through its own shares) be this one.
  for (auto* s = source; s;) {
    if (s == c) return fail(log::refuse(ELOOP, "ln {}: would share {} with itself", target, c->name));
    if (s->id == kHostId || s->ns[kind].origin != NsOrigin::shared) break;
    s = find_locked(s->ns[kind].source);
  }
  if (source->busy()) return fail(log::refuse(EBUSY, "ln {}: {} is changing", target, source->name));
  return change_namespace(*c, kind, NsSlot{NsOrigin::shared, std::string(target), source->id}, UniqueFd());
}

Status Containers::unlink_namespace(ContainerId id, NsKind kind) {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return fail(log::refuse(EPERM, "the host's namespaces cannot be changed"));
  if (c->ns[kind].origin == NsOrigin::inherited) return fail(ENOENT);
  return change_namespace(*c, kind, NsSlot{}, UniqueFd());
}

Status Containers::fresh_namespace(ContainerId id, NsKind kind) {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return fail(log::refuse(EPERM, "the host's namespaces cannot be changed"));
  if (c->ns[kind].origin != NsOrigin::inherited) return fail(EEXIST);
  return change_namespace(*c, kind, NsSlot{NsOrigin::own, {}, kHostId}, UniqueFd());
}

Status Containers::set_time_offsets(ContainerId id, std::string_view offsets) {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  if (c->ns[NsKind::time].origin != NsOrigin::own) return fail(ENOENT);
  auto merged = merge_time_offsets(c->time_offsets, offsets);
  if (!merged) return fail(log::refuse(merged.error(), "{}: not clock offsets: {:?}", c->name, log::excerpt(offsets)));
  if (auto ok = check_composable_locked(*c, CLONE_NEWTIME | root_renewal(*c)); !ok) return ok;
  // The kernel checks the text when the new init's namespace takes it.
  return replace_init(*c, c->ns, UniqueFd(), CLONE_NEWTIME, *merged);
}

}  // namespace containerfs::model
