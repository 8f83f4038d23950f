// mkdir: a cgroup named by a fresh id, an init process inside it, the record.
#include <fmt/format.h>

#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/mountinfo.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/names.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/file_io.hpp"
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

}  // namespace

Result<ContainerId> Containers::create(ContainerId parent_id, std::string_view name, Caller caller) {
  if (int err = check_container_name(name))
    return fail(log::refuse(err, "mkdir {:?}: not a container name", name));

  std::lock_guard lock(mutex_);
  auto* parent = find(parent_id);
  if (!parent || parent->removing) return fail(ENOENT);
  if (parent->children.contains(name)) return fail(EEXIST);
  if (caller.uid != 0 && (parent_id == kHostId || parent->owner_uid != caller.uid))
    return fail(log::refuse(EACCES, "mkdir {}: uid {} was not delegated the parent", name, caller.uid));
  std::shared_lock gate(freeze_gate_);
  if (auto thawed = refuse_if_frozen_locked(*parent, fmt::format("mkdir {}", name)); !thawed)
    return fail(thawed.error());

  auto c = std::make_unique<Container>();
  c->id = next_id_++;
  c->name = std::string(name);
  c->parent = parent_id;
  c->owner_uid = caller.uid;
  c->owner_gid = caller.uid != 0 ? caller.gid : 0;
  c->cgroup_name = state::cgroup_name_of(c->id);
  auto cgroup = parent->cgroup.create_child(c->cgroup_name);
  if (!cgroup) return fail(log::refuse(cgroup.error(), "mkdir {}: cgroup {}", name, c->cgroup_name));
  c->cgroup = std::move(*cgroup);

  // Undo everything made so far unless the container is complete.
  bool complete = false;
  pid_t spawned = 0;
  struct Undo {
    bool& complete;
    Container& c;
    Container& parent;
    pid_t& spawned;
    ~Undo() {
      if (complete) return;
      if (spawned > 0) {
        (void)c.cgroup.kill_all();
        (void)c.cgroup.wait_empty(std::chrono::seconds(5));
      }
      if (auto removed = parent.cgroup.remove_child_tree(c.cgroup_name, std::chrono::seconds(5)); !removed)
        log::error("mkdir {}: could not remove cgroup {} after failure: errno {}", c.name,
                   c.cgroup_name, removed.error());
    }
  } undo{complete, *c, *parent, spawned};

  auto init_leaf = c->cgroup.create_child(state::kInitLeaf);
  if (!init_leaf) return fail(init_leaf.error());
  auto members = c->cgroup.create_child(state::kMembersLeaf);
  if (!members) return fail(members.error());
  c->members = std::move(*members);

  kernel::InitSpec spec;
  spec.init_path = config_.init_path;
  spec.cgroup = &c->cgroup;
  spec.leaf = &*init_leaf;
  spec.fresh = config_.fresh_namespaces;
  if (caller.uid != 0) {
    // Below a container whose user namespace the caller owns (one it made),
    // the new one stays in that user namespace, as the caller's processes
    // there could make it themselves; elsewhere it gets one of its own,
    // owned by the caller, which maps the caller to 0.
    if (!in_user_ns_of_locked(*parent, caller.uid)) spec.fresh |= CLONE_NEWUSER;
    spec.owner_uid = caller.uid;
    spec.owner_gid = caller.gid;
  }
  if (parent_id != kHostId) {
    for (auto kind : kernel::kAllNsKinds) {
      auto path = effective_path_locked(*parent, kind);
      if (kind == kernel::NsKind::pid) spec.pid_parent = path;
      else if (!(spec.fresh & kernel::ns_clone_flag(kind)) || kind == kernel::NsKind::user)
        spec.join.emplace_back(kind, path);
    }
  }
  // A hostname has at most 64 bytes (HOST_NAME_MAX); a longer name is cut.
  spec.hostname = c->name.substr(0, 64);
  spec.title = path_locked(*c);
  if (spec.fresh & CLONE_NEWNS) spec.detach_mounts = containerfs_mounts();
  auto init = kernel::spawn_init(spec);
  if (!init) return fail(log::refuse(init.error(), "mkdir {}: starting init", name));
  spawned = init->pid;
  c->init_pid = init->pid;
  c->init_pidfd = std::move(init->pidfd);
  if (auto watched = reaper_->watch(c->init_pid, c->init_pidfd.get()); !watched)
    return fail(watched.error());
  auto start = kernel::process_start_time(c->init_pid);
  if (!start) return fail(start.error());
  c->init_start = *start;
  for (auto kind : kernel::kAllNsKinds)
    if (spec.fresh & kernel::ns_clone_flag(kind)) c->slot(kind).origin = NsOrigin::own;
  if ((spec.fresh & CLONE_NEWUSER) && caller.uid != 0) {
    // The owner is root inside: its processes entering keep their uid.
    if (auto ok = write_owner_maps(c->init_pid, caller.uid, caller.gid); !ok)
      return fail(log::refuse(ok.error(), "mkdir {}: the owner's id maps", name));
  }

  // Controllers for what lies below, now that the init has passed through
  // the container's own cgroup (its cgroup namespace is rooted there).
  if (auto enabled = c->cgroup.enable_controllers(); !enabled)
    log::debug("mkdir {}: not every controller could be enabled: errno {}", name, enabled.error());
  if (auto saved = persist(*c); !saved) return fail(saved.error());
  complete = true;
  ContainerId id = c->id;
  parent->children.emplace(c->name, id);
  by_id_[id] = std::move(c);
  return id;
}

}  // namespace containerfs::model
