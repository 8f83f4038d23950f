// Namespace composition: ln -s (share, adopt), rm (inherit), touch (fresh).
//
// Invariant: a container's init is in exactly the container's namespaces.
// A change therefore replaces the init (the container has no members, so
// nobody notices): the new init joins what the container keeps — its own
// namespaces keep their identity, except the pid namespace, of which a new
// init must be pid 1 — and the namespaces it now shares or adopts; then the
// old init is killed, and with it whatever only it held.
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>

#include <fmt/format.h>

#include "containerfs/kernel/credentials.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/mountinfo.hpp"
#include "containerfs/kernel/process.hpp"
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
int changing_kinds(const std::array<NsSlot, 8>& cur, const std::array<NsSlot, 8>& next) {
  int mask = 0;
  bool user_changes = !(cur[static_cast<size_t>(NsKind::user)] == next[static_cast<size_t>(NsKind::user)]);
  for (auto kind : kernel::kAllNsKinds) {
    auto i = static_cast<size_t>(kind);
    bool own = cur[i].origin == NsOrigin::own;
    if (!(cur[i] == next[i]) || (own && (kind == NsKind::pid || user_changes)))
      mask |= kernel::ns_clone_flag(kind);
  }
  return mask;
}

}  // namespace

Status Containers::check_composable(const Container& c, int changing) const {
  if (c.id == kHostId) return fail(log::refuse(EPERM, "the host's namespaces cannot be changed"));
  if (c.removing) return fail(ENOENT);
  if (c.entering > 0)
    return fail(log::refuse(EBUSY, "{}: a process is entering it; its namespaces are fixed", c.name));
  if (!c.children.empty())
    return fail(log::refuse(EBUSY, "{}: namespaces of a container with child containers are fixed", c.name));
  auto procs = c.members.procs();
  if (!procs) return fail(procs.error());
  if (!procs->empty())
    return fail(log::refuse(EBUSY, "{}: has members (pid {}); its namespaces are fixed", c.name,
                            procs->front()));
  for (auto& [id, other] : by_id_) {
    for (auto kind : kernel::kAllNsKinds) {
      const auto& slot = other->slot(kind);
      if ((changing & kernel::ns_clone_flag(kind)) && slot.origin == NsOrigin::shared &&
          slot.source == c.id)
        return fail(log::refuse(EBUSY, "{}: its {} namespace is shared by {}", c.name,
                                kernel::ns_file_name(kind), other->name));
    }
  }
  return {};
}

Status Containers::respawn_init(Container& c, const std::array<NsSlot, 8>& next, const UniqueFd& adopted,
                                int renew) {
  renew |= root_renewal(c);
  std::shared_lock gate(freeze_gate_);
  if (auto thawed = refuse_if_frozen_locked(c, fmt::format("{}: a new init", c.name)); !thawed)
    return fail(thawed.error());
  auto* parent = find(c.parent);
  const bool user_changes = !(c.slot(NsKind::user) == next[static_cast<size_t>(NsKind::user)]);
  kernel::InitSpec spec;
  spec.init_path = config_.init_path;
  spec.cgroup = &c.cgroup;
  auto leaf = c.cgroup.open_child(state::kInitLeaf);
  if (!leaf) return fail(leaf.error());
  spec.leaf = &*leaf;
  for (auto kind : kernel::kAllNsKinds) {
    auto i = static_cast<size_t>(kind);
    const auto& want = next[i];
    bool unchanged = c.ns[i] == want;
    std::string path;
    if (want.origin == NsOrigin::own) {
      if (unchanged && kind != NsKind::pid && !user_changes && !(renew & kernel::ns_clone_flag(kind))) {
        path = kernel::ns_proc_path(c.init_pid, kind);  // keep it: join it
      } else {
        spec.fresh |= kernel::ns_clone_flag(kind);
        if (kind == NsKind::pid) spec.pid_parent = effective_path_locked(*parent, kind);
        if (kind == NsKind::user && parent->id != kHostId)
          spec.join.emplace_back(kind, effective_path_locked(*parent, kind));
        continue;
      }
    } else if (unchanged) {
      path = kernel::ns_proc_path(c.init_pid, kind);
    } else if (want.origin == NsOrigin::shared) {
      auto* source = find(want.source);
      if (!source) return fail(ENOENT);
      path = effective_path_locked(*source, kind);
    } else if (want.origin == NsOrigin::adopted) {
      path = fmt::format("/proc/self/fd/{}", adopted.get());
    } else {
      path = effective_path_locked(*parent, kind);
    }
    if (kind == NsKind::pid) spec.pid_parent = path;
    else spec.join.emplace_back(kind, path);
  }
  if (spec.fresh & CLONE_NEWUTS) {
    auto old = c.slot(NsKind::uts).origin == NsOrigin::own ? kernel::read_hostname(c.init_pidfd.get())
                                                            : Result<std::string>(c.name);
    spec.hostname = old ? *old : c.name.substr(0, 64);
  }
  spec.time_offsets = c.time_offsets;
  if ((spec.fresh & CLONE_NEWUSER) && c.owner_uid != 0) {
    // A fresh user namespace of a delegated container is its owner's.
    spec.owner_uid = c.owner_uid;
    spec.owner_gid = c.owner_gid;
  }
  spec.title = path_locked(c);
  if (spec.fresh & CLONE_NEWNS) {
    if (auto text = kernel::read_own_mountinfo())
      spec.detach_mounts = kernel::find_mounts_of_type(*text, "fuse.containerfs");
  }
  UniqueFd root_dir;
  if (auto system = add_system_to_spec_locked(c, own_kinds_of(next), spec, root_dir); !system) return system;

  auto init = kernel::spawn_init(spec);
  if (!init) return fail(log::refuse(init.error(), "{}: a new init for the new namespaces", c.name));
  auto start = kernel::process_start_time(init->pid);
  if (!start) {
    ::syscall(SYS_pidfd_send_signal, init->pidfd.get(), SIGKILL, nullptr, 0);
    return fail(start.error());
  }
  (void)reaper_->watch(init->pid, init->pidfd.get());

  // The old init goes, and with it what only it held.
  UniqueFd old_pidfd = std::move(c.init_pidfd);
  c.init_pid = init->pid;
  c.init_pidfd = std::move(init->pidfd);
  c.init_start = *start;
  c.ns = next;
  if (auto saved = persist(c); !saved) log::error("{}: record not saved: errno {}", c.name, saved.error());
  if (old_pidfd) {
    ::syscall(SYS_pidfd_send_signal, old_pidfd.get(), SIGKILL, nullptr, 0);
    pollfd pfd{old_pidfd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(config_.teardown_timeout.count())) <= 0)
      log::warn("{}: the old init did not exit in time", c.name);
  }
  return {};
}

Status Containers::change_namespace(Container& c, NsKind kind, NsSlot slot, const UniqueFd& adopted) {
  auto next = c.ns;
  next[static_cast<size_t>(kind)] = std::move(slot);
  if (auto ok = check_composable(c, changing_kinds(c.ns, next) | root_renewal(c)); !ok) return ok;
  return respawn_init(c, next, adopted);
}

Status Containers::link_namespace(ContainerId id, NsKind kind, std::string_view target, uid_t caller,
                                  pid_t caller_pid) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mutex_);
    auto* c = find(id);
    if (!c) return fail(ENOENT);
    names = names_of(*c);
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
    std::lock_guard lock(mutex_);
    auto* c = find(id);
    if (!c) return fail(ENOENT);
    return change_namespace(*c, kind, NsSlot{NsOrigin::adopted, std::string(target), kHostId}, *fd);
  }

  const auto& tree = std::get<TreeTarget>(*resolved);
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  auto* source = find_path(tree.containers);
  if (!source) return fail(log::refuse(ENOENT, "ln {}: no such container", target));
  auto file_kind = kernel::ns_kind_from_file_name(tree.file);
  if (!file_kind) {
    bool exists = tree.file.empty() || file_kind_from_name(tree.file) || source->children.contains(tree.file);
    return fail(log::refuse(exists ? EINVAL : ENOENT, "ln {}: not a namespace file", target));
  }
  if (*file_kind != kind)
    return fail(log::refuse(EINVAL, "ln {}: a {} namespace cannot be {}", target, tree.file,
                            kernel::ns_file_name(kind)));
  if (source->id != kHostId && source->slot(kind).origin == NsOrigin::inherited)
    return fail(log::refuse(ENOENT, "ln {}: {} has no such file", target, source->name));
  // A delegated user shares only namespaces of containers it owns: anything
  // else would pin (and let it enter) namespaces of others.
  if (caller != 0 && (source->id == kHostId || source->owner_uid != caller))
    return fail(log::refuse(EPERM, "ln {}: uid {} does not own {}", target, caller,
                            source->id == kHostId ? std::string("the host") : source->name));
  // No cycles: the source must not (through its own shares) be this one.
  for (auto* s = source; s;) {
    if (s == c) return fail(log::refuse(ELOOP, "ln {}: would share {} with itself", target, c->name));
    if (s->id == kHostId || s->slot(kind).origin != NsOrigin::shared) break;
    s = find(s->slot(kind).source);
  }
  return change_namespace(*c, kind, NsSlot{NsOrigin::shared, std::string(target), source->id}, UniqueFd());
}

Status Containers::unlink_namespace(ContainerId id, NsKind kind) {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return fail(log::refuse(EPERM, "the host's namespaces cannot be changed"));
  if (c->slot(kind).origin == NsOrigin::inherited) return fail(ENOENT);
  return change_namespace(*c, kind, NsSlot{}, UniqueFd());
}

Status Containers::fresh_namespace(ContainerId id, NsKind kind) {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return fail(log::refuse(EPERM, "the host's namespaces cannot be changed"));
  if (c->slot(kind).origin != NsOrigin::inherited) return fail(EEXIST);
  return change_namespace(*c, kind, NsSlot{NsOrigin::own, {}, kHostId}, UniqueFd());
}

Status Containers::set_time_offsets(ContainerId id, std::string_view offsets) {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (c->slot(NsKind::time).origin != NsOrigin::own) return fail(ENOENT);
  auto merged = merge_time_offsets(c->time_offsets, offsets);
  if (!merged) return fail(log::refuse(merged.error(), "{}: not clock offsets: {:?}", c->name, log::excerpt(offsets)));
  if (auto ok = check_composable(*c, CLONE_NEWTIME | root_renewal(*c)); !ok) return ok;
  std::string old = std::move(c->time_offsets);
  c->time_offsets = std::move(*merged);
  // The kernel checks the text when the new init's namespace takes it.
  if (auto ok = respawn_init(*c, c->ns, UniqueFd(), CLONE_NEWTIME); !ok) {
    c->time_offsets = std::move(old);
    return ok;
  }
  return {};
}

Result<int> Containers::add_pending_link(ContainerId id, std::string_view name, std::string_view target) {
  if (target.empty()) return fail(ENOENT);
  if (target.size() >= 4096) return fail(ENAMETOOLONG);
  if (name.size() > 255) return fail(ENAMETOOLONG);
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c || c->removing) return fail(ENOENT);
  if (file_kind_from_name(name) || c->children.contains(name)) return fail(EEXIST);
  int free_slot = -1;
  for (int slot = kPendingLinkFirst; slot < kPendingLinkFirst + kPendingLinkSlots; ++slot) {
    auto it = c->pending.find(slot);
    if (it != c->pending.end() && it->second.name == name) return fail(EEXIST);
    if (it == c->pending.end() && free_slot < 0) free_slot = slot;
  }
  if (free_slot < 0) return fail(log::refuse(ENOSPC, "{}: too many stray symlinks", c->name));
  c->pending[free_slot] = Container::PendingLink{std::string(name), std::string(target)};
  if (auto saved = persist_links_locked(*c); !saved) {
    c->pending.erase(free_slot);
    return fail(saved.error());
  }
  return free_slot;
}

Result<int> Containers::find_pending_link(ContainerId id, std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  for (auto& [slot, link] : c->pending)
    if (link.name == name) return slot;
  return fail(ENOENT);
}

Result<std::string> Containers::pending_link_target(ContainerId id, int slot) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  auto it = c->pending.find(slot);
  if (it == c->pending.end()) return fail(ENOENT);
  return it->second.target;
}

Status Containers::remove_pending_link(ContainerId id, int slot) {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c || !c->pending.erase(slot)) return fail(ENOENT);
  if (auto saved = persist_links_locked(*c); !saved)
    log::error("{}: stray symlinks not saved: errno {}", c->id == kHostId ? "the host" : c->name, saved.error());
  return {};
}

Status Containers::persist_links_locked(const Container& c) const {
  if (c.id != kHostId) return persist(c);
  std::vector<std::pair<std::string, std::string>> links;
  for (const auto& [slot, link] : c.pending) links.emplace_back(link.name, link.target);
  return c.cgroup.set_xattr(state::kHostLinksXattr, state::encode_links(links));
}

void Containers::restore_links_locked(Container& c, const std::vector<std::pair<std::string, std::string>>& links) {
  int slot = kPendingLinkFirst;
  for (const auto& [name, target] : links) {
    if (slot == kPendingLinkFirst + kPendingLinkSlots) break;
    c.pending[slot++] = Container::PendingLink{name, target};
  }
}

Status Containers::commit_pending_link(ContainerId id, int slot, NsKind kind, uid_t caller,
                                       pid_t caller_pid) {
  auto target = pending_link_target(id, slot);
  if (!target) return fail(target.error());
  if (auto linked = link_namespace(id, kind, *target, caller, caller_pid); !linked) return linked;
  return remove_pending_link(id, slot);
}

Status Containers::ensure_user_maps(ContainerId id) {
  pid_t init;
  uid_t owner_uid;
  gid_t owner_gid;
  {
    std::lock_guard lock(mutex_);
    auto* c = find(id);
    if (!c) return fail(ENOENT);
    if (id == kHostId) return {};
    init = c->init_pid;
    owner_uid = c->owner_uid;
    owner_gid = c->owner_gid;
  }
  auto mine = kernel::ns_id_of_path(kernel::ns_proc_path(::getpid(), NsKind::user));
  auto theirs = kernel::ns_id_of_path(kernel::ns_proc_path(init, NsKind::user));
  if (!theirs) return fail(theirs.error());
  if (mine && *mine == *theirs) return {};
  if (owner_uid != 0) {
    // A delegated container: only what its owner could write itself.
    auto text = read_file(fmt::format("/proc/{}/uid_map", init));
    if (!text) return fail(text.error());
    if (!text->empty()) return {};
    if (auto ok = write_owner_maps(init, owner_uid, owner_gid); !ok) return ok;
    log::info("container {}: no uid_map was written before the first member; its owner {} mapped to 0", id,
              owner_uid);
    return {};
  }
  for (const char* map : {"uid_map", "gid_map"}) {
    auto path = fmt::format("/proc/{}/{}", init, map);
    auto text = read_file(path);
    if (!text) return fail(text.error());
    if (!text->empty()) continue;
    if (auto ok = write_file_at(AT_FDCWD, path, "0 0 4294967295\n"); !ok) return ok;
    log::info("container {}: no {} was written before the first member; identity map written", id, map);
  }
  return {};
}

Status Containers::write_owner_maps(pid_t init, uid_t uid, gid_t gid) const {
  auto as = kernel::ActingAs::assume(kernel::UserIds{uid, gid});
  if (!as) return fail(as.error());
  // The kernel lets an unprivileged owner write gid_map only once setgroups
  // is denied (dropping groups could otherwise lift a restriction).
  const std::pair<const char*, std::string> writes[] = {
      {"setgroups", "deny\n"}, {"uid_map", fmt::format("0 {} 1\n", uid)}, {"gid_map", fmt::format("0 {} 1\n", gid)}};
  for (const auto& [file, text] : writes) {
    if (auto ok = write_file_at(AT_FDCWD, fmt::format("/proc/{}/{}", init, file), text); !ok)
      return fail(log::refuse(ok.error(), "the user namespace of init {}: writing {} as uid {}", init, file, uid));
  }
  return {};
}

Result<Containers::InitHandle> Containers::current_init(ContainerId id) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c || c->removing) return fail(ENOENT);
  InitHandle init{c->init_pid, {}};
  if (!c->init_pidfd) {  // the host: the daemon stands for it
    init.pid = ::getpid();
    init.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, init.pid, 0)));
  } else {
    init.pidfd.reset(::fcntl(c->init_pidfd.get(), F_DUPFD_CLOEXEC, 0));
  }
  if (!init.pidfd) return fail(errno);
  return init;
}

namespace {
// A namespace change replaces the init (respawn_init): an operation on the
// one it had a moment ago fails with ESRCH, and is tried on the new one. An
// init that is simply gone means the container is (being) removed: ENOENT,
// as for any file of a container that is no more.
constexpr int kInitAttempts = 5;
}  // namespace

template <typename Op>
auto Containers::on_current_init(ContainerId id, Op op) const -> decltype(op(std::declval<InitHandle>())) {
  for (int attempt = 1;; ++attempt) {
    auto init = current_init(id);
    if (!init) return fail(init.error());
    const pid_t tried = init->pid;
    auto result = op(std::move(*init));
    if (result || result.error() != ESRCH) return result;
    auto now = current_init(id);
    if (!now || now->pid == tried || attempt == kInitAttempts) return fail(ENOENT);
  }
}

Result<std::string> Containers::hostname(ContainerId id) const {
  return on_current_init(id, [](InitHandle init) { return kernel::read_hostname(init.pidfd.get()); });
}

Status Containers::set_hostname(ContainerId id, std::string_view name) {
  if (name.ends_with('\n')) name.remove_suffix(1);
  if (name.empty() || name.size() > 64 || name.find('\n') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos)
    return fail(EINVAL);
  return on_current_init(id, [&](InitHandle init) { return kernel::write_hostname(init.pidfd.get(), name); });
}

Status Containers::write_id_map(ContainerId id, FileKind which, std::string_view text, Caller caller) {
  if (which != FileKind::uid_map && which != FileKind::gid_map) return fail(EINVAL);
  return on_current_init(id, [&](InitHandle init) -> Status {
    // Opened and written as the caller: the kernel applies its rules for
    // that writer (file->f_cred and the writer's capabilities).
    const kernel::UserIds as = caller;
    Result<UniqueFd> file = fail(EIO);
    {
      auto acting = kernel::ActingAs::assume(as);
      if (!acting) return fail(acting.error());
      file = open_at(AT_FDCWD, fmt::format("/proc/{}/{}", init.pid, file_name(which)), O_WRONLY);
    }
    if (!file) return fail(file.error() == ENOENT ? ESRCH : file.error());
    // Opened while the init lived: the file is the init's, not a successor's.
    if (::syscall(SYS_pidfd_send_signal, init.pidfd.get(), 0, nullptr, 0) != 0) return fail(ESRCH);
    auto acting = kernel::ActingAs::assume(as);
    if (!acting) return fail(acting.error());
    return write_fd(file->get(), text);
  });
}

void Containers::resolve_shares() {
  for (auto& [id, c] : by_id_) {
    for (auto kind : kernel::kAllNsKinds) {
      auto& slot = c->slot(kind);
      if (slot.origin != NsOrigin::shared) continue;
      auto t = resolve_link_target(config_.mount_point, names_of(*c), slot.link);
      Container* source = nullptr;
      if (t && std::holds_alternative<TreeTarget>(*t)) source = find_path(std::get<TreeTarget>(*t).containers);
      if (source) slot.source = source->id;
      else log::warn("{}: shared {} link {} no longer resolves", c->name, kernel::ns_file_name(kind), slot.link);
    }
  }
}

}  // namespace containerfs::model
