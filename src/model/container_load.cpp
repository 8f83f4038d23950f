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
// The tree is read under the lock; the teardowns and the init titles wait,
// so they come after it.
#include <signal.h>

#include <fmt/format.h>

#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/record_of.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Status Containers::load() {
  // Top-level containers get every controller the daemon's cgroup has (on
  // unified hosts: memory, cpu, pids, io, ...). It holds no process itself.
  if (auto enabled = root().enable_controllers(); !enabled)
    log::info("not every controller could be enabled for containers: {}", log::errno_text(enabled.error()));
  std::vector<InitTitle> titles;
  std::vector<std::string> orphans;
  Status loaded;
  {
    Lock lock(tree_);
    auto& host = *find_locked(kHostId);
    watch_locked(host);
    if (auto text = root().get_xattr(state::kHostLinksXattr)) {
      if (auto links = state::decode_links(*text)) restore_links_locked(host, *links);
      else log::warn("ignoring a malformed {} on {}", state::kHostLinksXattr, root().path());
    }
    loaded = load_children_locked(host);
    resolve_shares_locked();
    load_origins_locked();
    for (const auto& [name, id] : host.children) titles_locked(*find_locked(id), true, titles);
    orphans = std::move(orphans_);
    orphans_.clear();
  }
  for (const auto& path : orphans) tear_down_orphan(path);
  apply_titles(titles);
  return loaded;
}

Status Containers::load_children_locked(Container& parent) {
  auto cgroup = open_cgroup_locked(parent);
  if (!cgroup) return fail(cgroup.error());
  auto names = cgroup->children();
  if (!names) return fail(names.error());
  for (const auto& cgroup_name : *names) {
    auto id = state::id_of_cgroup_name(cgroup_name);
    if (!id) continue;  // not a container cgroup (e.g. a leaf of members)
    next_id_ = std::max(next_id_, *id + 1);
    std::string path = parent.cgroup_path.empty() ? cgroup_name : parent.cgroup_path + "/" + cgroup_name;
    auto child = cgroup->open_child(cgroup_name);
    if (!child) return fail(child.error());
    auto text = child->get_record();
    auto record = text ? state::decode_record(*text) : fail(text.error());
    if (!record) {
      log::warn("cgroup {}: no valid containerfs record (errno {}): an unfinished container; removed",
                child->path(), record.error());
      orphans_.push_back(path);
      continue;
    }
    if (!init_alive(record->init_pid, record->init_start)) {
      log::warn("container {} (cgroup {}): its init {} is gone, so is the container; removed",
                record->name, child->path(), record->init_pid);
      orphans_.push_back(path);
      continue;
    }
    if (parent.children.contains(record->name)) {
      log::warn("cgroup {}: name {} is taken twice; left alone", child->path(), record->name);
      continue;
    }
    if (auto leaf = child->open_child(state::kInitLeaf)) {
      if (auto procs = leaf->procs()) {
        for (pid_t p : *procs) {
          if (p == record->init_pid) continue;
          log::warn("container {}: stray process {} in its init leaf killed", record->name, p);
          ::kill(p, SIGKILL);
        }
      }
    }
    auto members = child->open_child(state::kMembersLeaf);
    if (!members && members.error() == ENOENT) members = child->create_child(state::kMembersLeaf);
    if (!members) {
      log::warn("container {}: members cgroup: errno {}; left alone", record->name, members.error());
      continue;
    }
    auto c = std::make_unique<Container>();
    c->id = *id;
    c->parent = parent.id;
    c->cgroup_path = path;
    apply_record(*c, *record);
    restore_links_locked(*c, record->links);
    watch_locked(*c);
    auto& ref = *c;
    insert_locked(std::move(c));
    if (auto loaded = load_children_locked(ref); !loaded) return loaded;
  }
  return {};
}

}  // namespace containerfs::model
