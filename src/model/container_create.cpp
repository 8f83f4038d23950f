// mkdir: a cgroup named by a fresh id, an init process inside it, the record.
//
// The tree lock is held only to reserve the name and copy out what the
// spawn needs, and again to insert the container: the spawn runs without
// it, so lookups and other mkdirs go on meanwhile.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>

#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/mountinfo.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/names.hpp"
#include "containerfs/model/record_of.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

namespace {

// Every containerfs mount this daemon can see: a fresh mount namespace
// detaches them, or the container would keep them (and their daemons) alive
// after they are unmounted on the host.
std::vector<std::string> containerfs_mounts() {
  auto text = kernel::read_own_mountinfo();
  if (!text) return {};
  return kernel::find_mounts_of_type(*text, "fuse.containerfs");
}

// What a mkdir made so far, undone unless it completes: the init killed
// through the pidfd the spawn returned, the cgroup directories removed by
// path from the daemon's own directory. Neither needs a new descriptor, so
// a mkdir that failed for want of descriptors (EMFILE) still leaves nothing.
struct Undo {
  int root_fd;
  std::string cgroup;         // "c1/c5", once made
  kernel::InitProcess init;   // once spawned
  bool complete = false;

  ~Undo() {
    if (complete) return;
    if (init.pidfd) {
      ::syscall(SYS_pidfd_send_signal, init.pidfd.get(), SIGKILL, nullptr, 0);
      pollfd pfd{init.pidfd.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 5000) <= 0) log::error("mkdir: init {} did not die of SIGKILL", init.pid);
      (void)kernel::reap_pidfd(init.pidfd.get(), false);
    }
    if (cgroup.empty()) return;
    for (const char* leaf : {"/init", "/tasks", ""}) {
      std::string dir = cgroup + leaf;
      for (int attempt = 0;; ++attempt) {
        if (::unlinkat(root_fd, dir.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) break;
        if (errno != EBUSY || attempt == 250) {
          log::error("mkdir: could not remove cgroup {} after failure: {}", dir, log::errno_text(errno));
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a dying init leaves
      }
    }
  }
};

}  // namespace

Result<ContainerId> Containers::create(ContainerId parent_id, std::string_view name, Caller caller) {
  if (int err = check_container_name(name))
    return fail(log::refuse(err, "mkdir {:?}: not a container name", name));

  // Reserve the name and copy out what the spawn needs.
  auto c = std::make_unique<Container>();
  kernel::InitSpec spec;
  UniqueFd root_dir;  // a root file system, opened (held until the spawn)
  std::vector<FreezeLink> freeze_chain;
  {
    Lock lock(tree_);
    auto* parent = find_locked(parent_id);
    if (!parent || parent->removing) return fail(ENOENT);
    if (parent->replacing_init)
      return fail(log::refuse(EBUSY, "mkdir {}: its parent is changing its namespaces", name));
    if (parent->children.contains(name) || parent->reserved.contains(name)) return fail(EEXIST);
    if (!caller.is_root() && (parent_id == kHostId || parent->owner_uid != caller.uid))
      return fail(log::refuse(EACCES, "mkdir {}: uid {} was not delegated the parent", name, caller.uid));
    c->id = next_id_++;
    c->name = std::string(name);
    c->parent = parent_id;
    c->owner_uid = caller.uid;
    c->owner_gid = caller.is_root() ? 0 : caller.gid;
    auto cgroup_name = state::cgroup_name_of(c->id);
    c->cgroup_path = parent->cgroup_path.empty() ? cgroup_name : parent->cgroup_path + "/" + cgroup_name;

    spec.init_path = config_.init_path;
    spec.fresh = config_.fresh_namespaces;
    if (!caller.is_root()) {
      // Below a container whose user namespace the caller owns (one it
      // made), the new one stays in that user namespace, as the caller's
      // processes there could make it themselves; elsewhere it gets one of
      // its own, owned by the caller, which maps the caller to 0.
      if (!in_user_ns_of_locked(*parent, caller.uid)) spec.fresh |= CLONE_NEWUSER;
      spec.owner_uid = caller.uid;
      spec.owner_gid = caller.gid;
    }
    if (parent_id != kHostId) {
      for (auto kind : kernel::kAllNsKinds) {
        auto path = effective_ns_path_locked(*parent, kind);
        if (kind == kernel::NsKind::pid) spec.pid_parent = path;
        else if (!(spec.fresh & kernel::ns_clone_flag(kind)) || kind == kernel::NsKind::user)
          spec.join.emplace_back(kind, path);
      }
    }
    // A hostname has at most 64 bytes (HOST_NAME_MAX); a longer name is cut.
    spec.hostname = c->name.substr(0, 64);
    spec.title = parent_id == kHostId ? c->name : path_locked(*parent) + "/" + c->name;
    freeze_chain = freeze_chain_locked(*parent);
    if (auto system = add_system_to_spec_locked(*c, spec.fresh, spec, root_dir); !system)
      return fail(system.error());
    parent->reserved.insert(c->name);
  }
  // Whatever happens, the name is free again unless the container is in.
  struct Reservation {
    Containers& self;
    ContainerId parent;
    std::string name;
    ~Reservation() {
      Lock lock(self.tree_);
      if (auto* p = self.find_locked(parent)) p->reserved.erase(name);
    }
  } reservation{*this, parent_id, c->name};

  if (spec.fresh & CLONE_NEWNS) spec.detach_mounts = containerfs_mounts();
  Undo undo{root().fd(), {}, {}};
  {
    SharedLock gate(freeze_gate_);
    if (auto thawed = refuse_if_frozen(freeze_chain, fmt::format("mkdir {}", name)); !thawed)
      return fail(thawed.error());
    if (::mkdirat(root().fd(), c->cgroup_path.c_str(), 0755) != 0)
      return fail(log::refuse(errno, "mkdir {}: cgroup {}", name, c->cgroup_path));
    undo.cgroup = c->cgroup_path;
    for (const char* leaf : {state::kInitLeaf, state::kMembersLeaf})
      if (::mkdirat(root().fd(), fmt::format("{}/{}", c->cgroup_path, leaf).c_str(), 0755) != 0)
        return fail(log::refuse(errno, "mkdir {}: cgroup {}/{}", name, c->cgroup_path, leaf));
    auto cgroup = kernel::Cgroup::open_below(root().fd(), c->cgroup_path, cgroup_dir(c->cgroup_path));
    if (!cgroup) return fail(log::refuse(cgroup.error(), "mkdir {}: cgroup {}", name, c->cgroup_path));
    auto init_leaf = cgroup->open_child(state::kInitLeaf);
    if (!init_leaf) return fail(log::refuse(init_leaf.error(), "mkdir {}: cgroup {}", name, c->cgroup_path));
    spec.cgroup = &*cgroup;
    spec.leaf = &*init_leaf;
    auto init = kernel::spawn_init(spec);
    if (!init) return fail(log::refuse(init.error(), "mkdir {}: starting init", name));
    undo.init = std::move(*init);
    // Controllers for what lies below, now that the init has passed through
    // the container's own cgroup (its cgroup namespace is rooted there).
    if (auto enabled = cgroup->enable_controllers(); !enabled)
      log::debug("mkdir {}: not every controller could be enabled: {}", name, log::errno_text(enabled.error()));
  }
  c->init_pid = undo.init.pid;
  auto start = kernel::process_start_time(c->init_pid);
  if (!start) return fail(log::refuse(start.error(), "mkdir {}: its init ended at once", name));
  c->init_start = *start;
  for (auto kind : kernel::kAllNsKinds)
    if (spec.fresh & kernel::ns_clone_flag(kind)) c->ns[kind].origin = NsOrigin::own;
  if ((spec.fresh & CLONE_NEWUSER) && !caller.is_root()) {
    // The owner is root inside: its processes entering keep their uid.
    if (auto ok = write_owner_maps(c->init_pid, caller.uid, caller.gid); !ok)
      return fail(log::refuse(ok.error(), "mkdir {}: the owner's id maps", name));
  }
  auto record = kernel::Cgroup::open_below(root().fd(), c->cgroup_path, cgroup_dir(c->cgroup_path));
  if (!record) return fail(log::refuse(record.error(), "mkdir {}: cgroup {}", name, c->cgroup_path));
  if (auto saved = record->set_record(state::encode_record(record_of(*c))); !saved)
    return fail(log::refuse(saved.error(), "mkdir {}: its record", name));

  ContainerId id = c->id;
  {
    Lock lock(tree_);
    // The parent ended meanwhile (its init died): so does this one.
    auto* parent = find_locked(parent_id);
    if (!parent || parent->removing) return fail(log::refuse(ENOENT, "mkdir {}: its parent ended", name));
    watch_locked(*c);
    insert_locked(std::move(c));
  }
  undo.complete = true;
  // Died before its watch was in place: the watch cannot have told.
  if (!init_alive(undo.init.pid, *start)) end_container(id);
  return id;
}

}  // namespace containerfs::model
