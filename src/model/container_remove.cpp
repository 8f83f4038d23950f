// rmdir: kill every member (cgroup.kill), wait, remove the cgroup. The
// namespaces go with their last process.
#include <sys/syscall.h>
#include <unistd.h>

#include "containerfs/kernel/credentials.hpp"
#include "containerfs/model/containers.hpp"
#include <fmt/format.h>

#include "containerfs/util/log.hpp"

namespace containerfs::model {

Status Containers::remove(ContainerId parent_id, std::string_view name, Caller caller) {
  std::unique_lock lock(mutex_);
  auto* parent = find(parent_id);
  if (!parent) return fail(ENOENT);
  auto it = parent->children.find(name);
  if (it == parent->children.end()) return fail(ENOENT);
  auto* c = find(it->second);
  if (!c->children.empty())
    return fail(log::refuse(ENOTEMPTY, "rmdir {}: it has child containers", name));
  if (c->removing) return fail(log::refuse(EBUSY, "rmdir {}: already being removed", name));
  for (auto& [other_id, other] : by_id_)
    for (auto kind : kernel::kAllNsKinds)
      if (other->slot(kind).origin == NsOrigin::shared && other->slot(kind).source == c->id)
        return fail(log::refuse(EBUSY, "rmdir {}: its {} namespace is shared by {}", name,
                                kernel::ns_file_name(kind), other->name));
  c->removing = true;
  ContainerId id = c->id;
  pid_t init = c->init_pid;
  std::string cgroup_name = c->cgroup_name;
  auto cgroup = parent->cgroup.open_child(cgroup_name);
  lock.unlock();

  // Long waits happen without the lock; `removing` keeps the entry stable
  // (and keeps processes from entering meanwhile).
  Status done;
  if (!cgroup) done = fail(cgroup.error());
  if (done && !caller.is_root()) {
    if (auto may = check_may_kill_all(*cgroup, caller, fmt::format("rmdir {}", name), init); !may) {
      lock.lock();
      if ((c = find(id))) c->removing = false;
      return may;
    }
  }
  if (done) done = cgroup->kill_all();
  if (done) done = cgroup->wait_empty(config_.teardown_timeout);
  if (done) done = parent->cgroup.remove_child_tree(cgroup_name, config_.teardown_timeout);

  lock.lock();
  c = find(id);
  parent = find(parent_id);
  if (!done) {
    c->removing = false;
    return fail(log::refuse(done.error(), "rmdir {}: teardown of cgroup {} failed", name, cgroup_name));
  }
  parent->children.erase(std::string(name));
  by_id_.erase(id);
  return {};
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
