// Rebuilding the tree from what an earlier daemon left: the cgroup
// directories under the daemon's own, and the record on each.
//
// What the records do not explain is cleaned up, deterministically:
// - a container cgroup without a valid record (a mkdir cut short), or whose
//   recorded init is gone (an rmdir cut short, or an init killed from
//   outside, which ends the container) is torn down with everything below
//   it: its processes killed through cgroup.kill, its cgroups removed;
// - a process in a container's init leaf other than its recorded init (a
//   namespace change cut short between starting the new init and killing
//   the old) is killed.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Status Containers::load() {
  std::lock_guard lock(mutex_);
  // Top-level containers get every controller the daemon's cgroup has (on
  // unified hosts: memory, cpu, pids, io, ...). It holds no process itself.
  if (auto enabled = find(kHostId)->cgroup.enable_controllers(); !enabled)
    log::info("not every controller could be enabled for containers: errno {}", enabled.error());
  auto& host = *find(kHostId);
  if (auto text = host.cgroup.get_xattr(state::kHostLinksXattr)) {
    if (auto links = state::decode_links(*text)) restore_links_locked(host, *links);
    else log::warn("ignoring a malformed {} on {}", state::kHostLinksXattr, host.cgroup.path());
  }
  auto loaded = load_children(host);
  resolve_shares();
  load_origins_locked();
  return loaded;
}

void Containers::tear_down_orphan(const kernel::Cgroup& parent, const std::string& name) {
  auto cgroup = parent.open_child(name);
  if (!cgroup) return;
  if (auto below = cgroup->children()) {
    for (const auto& child : *below)
      if (state::id_of_cgroup_name(child)) tear_down_orphan(*cgroup, child);
  }
  Status done = cgroup->kill_all();
  if (done) done = cgroup->wait_empty(config_.teardown_timeout);
  if (done) done = parent.remove_child_tree(name, config_.teardown_timeout);
  if (!done) log::error("cgroup {}: could not be removed: errno {}", cgroup->path(), done.error());
}

Status Containers::load_children(Container& parent) {
  auto names = parent.cgroup.children();
  if (!names) return fail(names.error());
  for (const auto& cgroup_name : *names) {
    auto id = state::id_of_cgroup_name(cgroup_name);
    if (!id) continue;  // not a container cgroup (e.g. a leaf of members)
    next_id_ = std::max(next_id_, *id + 1);
    auto cgroup = parent.cgroup.open_child(cgroup_name);
    if (!cgroup) return fail(cgroup.error());
    auto text = cgroup->get_record();
    auto record = text ? state::decode_record(*text) : fail(text.error());
    if (!record) {
      log::warn("cgroup {}: no valid containerfs record (errno {}): an unfinished container; removed",
                cgroup->path(), record.error());
      tear_down_orphan(parent.cgroup, cgroup_name);
      continue;
    }
    auto start = kernel::process_start_time(record->init_pid);
    // A zombie (dead, not yet reaped by its new parent) is gone too.
    auto state = kernel::status_field(record->init_pid, "State");
    bool zombie = state && !state->empty() && ((*state)[0] == 'Z' || (*state)[0] == 'X');
    if (!start || *start != record->init_start || zombie) {
      log::warn("container {} (cgroup {}): its init {} is gone, so is the container; removed",
                record->name, cgroup->path(), record->init_pid);
      tear_down_orphan(parent.cgroup, cgroup_name);
      continue;
    }
    if (parent.children.contains(record->name)) {
      log::warn("cgroup {}: name {} is taken twice; left alone", cgroup->path(), record->name);
      continue;
    }
    auto c = std::make_unique<Container>();
    c->id = *id;
    c->name = record->name;
    c->parent = parent.id;
    if (auto leaf = cgroup->open_child(state::kInitLeaf)) {
      if (auto procs = leaf->procs()) {
        for (pid_t p : *procs) {
          if (p == record->init_pid) continue;
          log::warn("container {}: stray process {} in its init leaf killed", record->name, p);
          ::kill(p, SIGKILL);
        }
      }
    }
    auto members = cgroup->open_child(state::kMembersLeaf);
    if (!members && members.error() == ENOENT) members = cgroup->create_child(state::kMembersLeaf);
    if (!members) {
      log::warn("container {}: members cgroup: errno {}; left alone", record->name, members.error());
      continue;
    }
    c->members = std::move(*members);
    c->cgroup = std::move(*cgroup);
    c->cgroup_name = cgroup_name;
    c->init_pid = record->init_pid;
    c->init_start = record->init_start;
    c->ns = record->ns;
    c->owner_uid = record->owner_uid;
    c->owner_gid = record->owner_gid;
    c->time_offsets = record->time_offsets;
    c->root = record->root;
    c->devices = record->devices;
    restore_links_locked(*c, record->links);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, c->init_pid, 0));
    if (pidfd >= 0) {
      c->init_pidfd.reset(pidfd);
      // Reaped here only if it is still our child (it is not after a restart).
      (void)reaper_->watch(c->init_pid, pidfd);
    }
    auto& ref = *c;
    parent.children.emplace(c->name, c->id);
    by_id_[c->id] = std::move(c);
    retitle_init_locked(ref);
    if (auto loaded = load_children(ref); !loaded) return loaded;
  }
  return {};
}

}  // namespace containerfs::model
