// Rebuilding the tree from what an earlier daemon left: the cgroup
// directories under the daemon's own, and the record on each.
#include <sys/syscall.h>
#include <unistd.h>

#include "containerfs/kernel/init_process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Status Containers::load() {
  std::lock_guard lock(mutex_);
  auto loaded = load_children(*find(kHostId));
  resolve_shares();
  return loaded;
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
      log::warn("cgroup {}: no valid containerfs record (errno {}); left alone", cgroup->path(),
                record.error());
      continue;
    }
    auto start = kernel::process_start_time(record->init_pid);
    if (!start || *start != record->init_start) {
      log::warn("container {} (cgroup {}): its init {} is gone; left alone", record->name,
                cgroup->path(), record->init_pid);
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
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, c->init_pid, 0));
    if (pidfd >= 0) {
      c->init_pidfd.reset(pidfd);
      // Reaped here only if it is still our child (it is not after a restart).
      (void)reaper_->watch(c->init_pid, pidfd);
    }
    auto& ref = *c;
    parent.children.emplace(c->name, c->id);
    by_id_[c->id] = std::move(c);
    if (auto loaded = load_children(ref); !loaded) return loaded;
  }
  return {};
}

}  // namespace containerfs::model
