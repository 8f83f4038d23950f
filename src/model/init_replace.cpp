// A namespace change replaces the container's init: the new init joins what
// the container keeps — its own namespaces keep their identity, except the
// pid namespace, of which a new init must be pid 1 — and the namespaces it
// now shares or adopts; then the old init is killed, and with it whatever
// only it held.
//
// The spawn and the old init's end happen with the tree lock dropped;
// `replacing_init` keeps the container in place and refuses other changes
// of it meanwhile (EBUSY).
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/mountinfo.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/record_of.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

using kernel::NsKind;

namespace {

// A pidfd of `pid` if it is still the process started at `start`.
UniqueFd pidfd_if_same(pid_t pid, unsigned long long start) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  auto now = kernel::process_start_time(pid);
  if (!fd || !now || *now != start) return UniqueFd();
  return fd;
}

}  // namespace

Status Containers::replace_init(Container& c, const NsSlots& next, const UniqueFd& adopted, int renew,
                                const std::string& offsets) {
  // What the new init joins or makes, copied out of the tree.
  renew |= root_renewal(c);
  const auto* parent = find_locked(c.parent);
  const bool user_changes = !(c.ns[NsKind::user] == next[NsKind::user]);
  kernel::InitSpec spec;
  spec.init_path = config_.init_path;
  for (auto kind : kernel::kAllNsKinds) {
    const auto& want = next[kind];
    bool unchanged = c.ns[kind] == want;
    std::string path;
    if (want.origin == NsOrigin::own) {
      if (unchanged && kind != NsKind::pid && !user_changes && !(renew & kernel::ns_clone_flag(kind))) {
        path = kernel::ns_proc_path(c.init_pid, kind);  // keep it: join it
      } else {
        spec.fresh |= kernel::ns_clone_flag(kind);
        if (kind == NsKind::pid) spec.pid_parent = effective_ns_path_locked(*parent, kind);
        if (kind == NsKind::user && parent->id != kHostId)
          spec.join.emplace_back(kind, effective_ns_path_locked(*parent, kind));
        continue;
      }
    } else if (unchanged) {
      path = kernel::ns_proc_path(c.init_pid, kind);
    } else if (want.origin == NsOrigin::shared) {
      auto* source = find_locked(want.source);
      if (!source) return fail(ENOENT);
      path = effective_ns_path_locked(*source, kind);
    } else if (want.origin == NsOrigin::adopted) {
      path = fmt::format("/proc/self/fd/{}", adopted.get());
    } else {
      path = effective_ns_path_locked(*parent, kind);
    }
    if (kind == NsKind::pid) spec.pid_parent = path;
    else spec.join.emplace_back(kind, path);
  }
  spec.time_offsets = offsets;
  if (c.owner_uid != 0) {
    // The init of a delegated container runs as its owner where the owner
    // may: in a fresh user namespace (which the owner then owns), or in one
    // the owner owns already (joined as the owner).
    bool owners = spec.fresh & CLONE_NEWUSER;
    for (const auto& [kind, path] : spec.join)
      if (kind == NsKind::user) owners = owners || kernel::user_ns_owner(path) == c.owner_uid;
    if (owners) {
      spec.owner_uid = c.owner_uid;
      spec.owner_gid = c.owner_gid;
    }
  }
  spec.title = path_locked(c);
  UniqueFd root_dir;  // a root file system, opened (held until the spawn)
  if (auto system = add_system_to_spec_locked(c, own_kinds_of(next), spec, root_dir); !system) return system;
  const bool keep_hostname = (spec.fresh & CLONE_NEWUTS) && c.ns.own(NsKind::uts);
  spec.hostname = c.name.substr(0, 64);
  const auto chain = freeze_chain_locked(c);
  const std::string cgroup_path = c.cgroup_path;
  const std::string name = c.name;
  const pid_t old_pid = c.init_pid;
  const unsigned long long old_start = c.init_start;
  const ContainerId id = c.id;
  c.replacing_init = true;

  tree_.unlock();
  kernel::InitProcess init;
  unsigned long long start = 0;
  UniqueFd old = pidfd_if_same(old_pid, old_start);
  Status spawned = [&]() -> Status {
    if (keep_hostname && old) {
      if (auto current = kernel::read_hostname(old.get())) spec.hostname = *current;
    }
    if (spec.fresh & CLONE_NEWNS) {
      if (auto text = kernel::read_own_mountinfo())
        spec.detach_mounts = kernel::find_mounts_of_type(*text, "fuse.containerfs");
    }
    SharedLock gate(freeze_gate_);
    if (auto thawed = refuse_if_frozen(chain, fmt::format("{}: a new init", name)); !thawed) return thawed;
    auto cgroup = kernel::Cgroup::open_below(root().fd(), cgroup_path, cgroup_dir(cgroup_path));
    if (!cgroup) return fail(cgroup.error());
    auto leaf = cgroup->open_child(state::kInitLeaf);
    if (!leaf) return fail(leaf.error());
    spec.cgroup = &*cgroup;
    spec.leaf = &*leaf;
    auto made = kernel::spawn_init(spec);
    if (!made) return fail(log::refuse(made.error(), "{}: a new init for the new namespaces", name));
    init = std::move(*made);
    auto started = kernel::process_start_time(init.pid);
    if (!started) {
      ::syscall(SYS_pidfd_send_signal, init.pidfd.get(), SIGKILL, nullptr, 0);
      return fail(started.error());
    }
    start = *started;
    return {};
  }();
  tree_.lock();

  c.replacing_init = false;
  if (!spawned) return spawned;
  by_init_.erase(old_pid);
  by_init_[init.pid] = id;
  index_shares_locked(c, false);
  c.ns = next;
  index_shares_locked(c, true);
  c.init_pid = init.pid;
  c.init_start = start;
  c.time_offsets = offsets;
  if (auto saved = persist_locked(c); !saved) log::error("{}: record not saved: {}", name, log::errno_text(saved.error()));

  // The old init goes, and with it what only it held (no lock held: the
  // wait is bounded, but a wait all the same).
  if (old) {
    tree_.unlock();
    ::syscall(SYS_pidfd_send_signal, old.get(), SIGKILL, nullptr, 0);
    pollfd pfd{old.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(config_.teardown_timeout.count())) <= 0)
      log::warn("{}: the old init did not exit in time", name);
    tree_.lock();
  }
  return {};
}

}  // namespace containerfs::model
