// rmdir: kill every member (cgroup.kill), wait, remove the cgroup. The
// namespaces go with their last process. The waits happen with the tree
// lock dropped; `removing` keeps the container in place meanwhile.
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "containerfs/kernel/credentials.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Status Containers::remove(ContainerId parent_id, std::string_view name, Caller caller) {
  std::string cgroup_path;
  ContainerId id;
  pid_t init;
  {
    Lock lock(tree_);
    auto* parent = find_locked(parent_id);
    if (!parent) return fail(ENOENT);
    auto it = parent->children.find(name);
    if (it == parent->children.end()) return fail(ENOENT);
    auto* c = find_locked(it->second);
    if (!c->children.empty() || !c->reserved.empty())
      return fail(log::refuse(ENOTEMPTY, "rmdir {}: it has child containers", name));
    if (c->busy()) return fail(log::refuse(EBUSY, "rmdir {}: already being removed or changed", name));
    if (!c->shared_by.empty()) {
      auto [other, kind] = *c->shared_by.begin();
      return fail(log::refuse(EBUSY, "rmdir {}: its {} namespace is shared by {}", name,
                              kernel::ns_file_name(kind), find_locked(other)->name));
    }
    // No process may enter from now on.
    c->removing = true;
    id = c->id;
    cgroup_path = c->cgroup_path;
    init = c->init_pid;
  }
  auto give_back = [&](int err) {
    Lock lock(tree_);
    if (auto* c = find_locked(id)) c->removing = false;
    return fail(err);
  };
  if (!caller.is_root()) {
    auto cgroup = kernel::Cgroup::open_below(root().fd(), cgroup_path, cgroup_dir(cgroup_path));
    if (!cgroup) return give_back(cgroup.error());
    if (auto may = check_may_kill_all(*cgroup, caller, fmt::format("rmdir {}", name), init); !may)
      return give_back(may.error());
  }
  if (auto done = tear_down_cgroup(cgroup_path); !done)
    return give_back(log::refuse(done.error(), "rmdir {}: teardown of cgroup {} failed", name, cgroup_path));
  Lock lock(tree_);
  erase_subtree_locked(id);
  return {};
}

Status Containers::tear_down_cgroup(const std::string& cgroup_path) const {
  auto cgroup = kernel::Cgroup::open_below(root().fd(), cgroup_path, cgroup_dir(cgroup_path));
  if (!cgroup) return cgroup.error() == ENOENT ? Status{} : fail(cgroup.error());
  Status done = cgroup->kill_all();
  if (done) done = cgroup->wait_empty(config_.teardown_timeout);
  if (done) done = root().remove_child_tree(cgroup_path, config_.teardown_timeout);
  return done;
}

void Containers::tear_down_orphan(const std::string& cgroup_path) const {
  if (auto done = tear_down_cgroup(cgroup_path); !done)
    log::error("cgroup {}: could not be removed: {}", cgroup_dir(cgroup_path), log::errno_text(done.error()));
}

Status Containers::check_may_kill_all(const kernel::Cgroup& cgroup, Caller caller,
                                      std::string_view what, pid_t init) const {
  auto pids = cgroup.procs_below();
  if (!pids) return fail(log::refuse(pids.error(), "{}: cannot list its processes", what));
  for (pid_t pid : *pids) {
    if (pid == init) continue;
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) continue;  // exited meanwhile
    auto may = kernel::may_signal(caller, pidfd.get());
    if (!may && may.error() == EPERM)
      return fail(log::refuse(EPERM, "{}: uid {} may not kill process {} in it", what, caller.uid, pid));
  }
  return {};
}

}  // namespace containerfs::model
