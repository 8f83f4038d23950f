// A container ends with its init. The daemon learns of an init's death from
// the cgroup.events of the container's init leaf ("populated 0"), watched
// through one inotify instance for every container (kernel/file_watch.hpp):
// no descriptor per init, and it works the same for inits that are the
// daemon's children and for those a restarted daemon found.
#include <signal.h>

#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

void Containers::watch_locked(Container& c) {
  if (c.id != kHostId) {
    auto path = cgroup_dir(c.cgroup_path, fmt::format("{}/cgroup.events", state::kInitLeaf));
    auto wd = watch_->add(path, c.id);
    if (wd) c.init_watch = *wd;
    // Without it the container would outlive its init unnoticed.
    else log::error("container {}: cannot watch its init ({}: {})", c.name, path, log::errno_text(wd.error()));
  }
  auto controls = cgroup_dir(c.cgroup_path, "cgroup.subtree_control");
  auto wd = watch_->add(controls, c.id | kControlsKey);
  if (wd) c.controls_watch = *wd;
  else log::warn("cannot watch {} ({}): controller files of its children may show late", controls,
                 log::errno_text(wd.error()));
}

void Containers::on_watch_event(kernel::FileWatch::Key key) {
  if (key & kControlsKey) on_controls_event(key & ~kControlsKey);
  else on_init_event(key);
}

void Containers::on_controls_event(ContainerId id) {
  std::vector<ContainerId> children;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return;
    for (const auto& [name, child] : c->children) children.push_back(child);
  }
  for (auto child : children) notify(TreeChange{TreeChange::Kind::files_changed, id, {}, child});
}

bool Containers::init_alive(pid_t pid, unsigned long long start) {
  auto now = kernel::process_start_time(pid);
  if (!now || *now != start) return false;
  // A zombie (dead, not yet reaped by its parent) is gone too.
  auto state = kernel::status_field(pid, "State");
  return !(state && !state->empty() && ((*state)[0] == 'Z' || (*state)[0] == 'X'));
}

void Containers::on_init_event(ContainerId id) {
  pid_t pid;
  unsigned long long start;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    // Being removed, or changing its init (the old one is killed on purpose).
    if (!c || c->busy()) return;
    pid = c->init_pid;
    start = c->init_start;
  }
  // Also a freeze or a thaw changes cgroup.events: only a dead init counts.
  if (!init_alive(pid, start)) end_container(id);
}

void Containers::end_container(ContainerId id) {
  std::string cgroup_path, name, path;
  ContainerId parent = kHostId;
  {
    Lock lock(tree_);
    auto* c = find_locked(id);
    if (!c || c->busy() || init_alive(c->init_pid, c->init_start)) return;
    // Killed from outside: without its init (pid 1 of its pid namespace,
    // holder of its namespaces) the container cannot go on, nor anything
    // below it.
    c->removing = true;
    cgroup_path = c->cgroup_path;
    name = c->name;
    parent = c->parent;
    path = path_locked(*c);
  }
  // One cgroup.kill of the container's cgroup kills everything below it.
  if (auto done = tear_down_cgroup(cgroup_path); !done)
    log::error("container {}: cgroup {} not removed: {}", path, cgroup_path, log::errno_text(done.error()));
  {
    Lock lock(tree_);
    erase_subtree_locked(id);
  }
  notify(TreeChange{TreeChange::Kind::removed, parent, name, id});
  log::warn("init of container {} exited: the container has ended with it", path);
}

}  // namespace containerfs::model
