// Membership: moving processes between container cgroups, and remembering
// where each came from so that the host's tasks file can take it home.
#include <fmt/format.h>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

std::optional<ContainerId> Containers::container_of_init(pid_t pid) const {
  std::lock_guard lock(mutex_);
  for (auto& [id, c] : by_id_)
    if (c->init_pid == pid) return id;
  return std::nullopt;
}

Status Containers::set_owner(ContainerId id, uid_t uid, gid_t gid, Caller caller) {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return fail(log::refuse(EPERM, "chown: the host is root's"));
  if (caller.uid != 0) return fail(log::refuse(EPERM, "chown {}: only root delegates", c->name));
  if (c->owner_uid == uid && c->owner_gid == gid) return {};
  auto old_uid = c->owner_uid;
  auto old_gid = c->owner_gid;
  c->owner_uid = uid;
  c->owner_gid = gid;
  if (auto saved = persist(*c); !saved) {
    c->owner_uid = old_uid;
    c->owner_gid = old_gid;
    return saved;
  }
  log::info("container {} delegated to uid {} gid {}", c->name, uid, gid);
  return {};
}

Status Containers::kill_members(ContainerId id) const {
  std::unique_lock lock(mutex_);
  auto* c = find(id);
  if (!c || id == kHostId) return fail(ENOENT);
  auto members = c->members.open_child(".");
  lock.unlock();
  if (!members) return fail(members.error());
  if (auto ok = members->kill_all(); !ok) return ok;
  return members->wait_empty(config_.teardown_timeout);
}

Status Containers::set_frozen(ContainerId id, bool frozen) const {
  std::unique_lock lock(mutex_);
  auto* c = find(id);
  if (!c || id == kHostId) return fail(ENOENT);
  auto cgroup = find(c->parent)->cgroup.open_child(c->cgroup_name);
  lock.unlock();
  if (!cgroup) return fail(cgroup.error());
  if (auto ok = cgroup->write("cgroup.freeze", frozen ? "1" : "0"); !ok) return ok;
  return cgroup->wait_frozen(frozen, config_.teardown_timeout);
}

Result<std::string> Containers::move_to_cgroup(ContainerId id, pid_t pid) {
  auto before = kernel::cgroup_of_process(pid);
  if (!before) return fail(before.error() == ENOENT ? ESRCH : before.error());
  const std::string& root = config_.root_cgroup_path;
  bool in_container = before->starts_with(root + "/");

  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) {
    if (!in_container) return *before;  // already home
    // The recorded origin, if it is about this very process (not a later
    // one with a reused pid); the cgroup2 root otherwise.
    auto origin = origins_.find(pid);
    auto start = kernel::process_start_time(pid);
    std::string home = "/";
    if (origin != origins_.end() && start && origin->second.first == *start) home = origin->second.second;
    if (auto ok = write_file_at(AT_FDCWD, config_.cgroup2_mount + home + "/cgroup.procs",
                                fmt::format("{}", pid));
        !ok)
      return fail(ok.error());
    if (origin != origins_.end()) origins_.erase(origin);
    return *before;
  }
  if (c->removing) return fail(ENOENT);
  if (auto ok = c->members.move_process(pid); !ok) return fail(ok.error());
  if (!in_container) {
    if (auto start = kernel::process_start_time(pid)) origins_[pid] = {*start, *before};
  }
  return *before;
}

Status Containers::restore_cgroup(pid_t pid, const std::string& cgroup_path) {
  {
    std::lock_guard lock(mutex_);
    const std::string& root = config_.root_cgroup_path;
    if (!cgroup_path.starts_with(root + "/")) origins_.erase(pid);
  }
  return write_file_at(AT_FDCWD, config_.cgroup2_mount + cgroup_path + "/cgroup.procs",
                       fmt::format("{}", pid));
}

}  // namespace containerfs::model
