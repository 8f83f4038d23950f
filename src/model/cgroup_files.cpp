// The cgroup side of a container directory: members, controller files,
// events, freeze and kill. Each opens the container's cgroup when asked
// (no descriptor is kept) and does its waits with no lock held.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>

#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/controller_files.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/directory.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"
#include "containerfs/util/text.hpp"

namespace containerfs::model {

namespace {

// A cgroup file read while rmdir removes its container's cgroups fails with
// ENODEV: the container is gone, as for any container that is no more.
int gone_as_enoent(int err) { return err == ENODEV ? ENOENT : err; }

template <typename T>
Result<T> gone_as_enoent(Result<T> read) {
  if (!read) return fail(gone_as_enoent(read.error()));
  return read;
}

std::vector<pid_t> all_processes() {
  std::vector<pid_t> pids;
  auto names = list_directory(AT_FDCWD, "/proc");
  if (!names) return pids;
  for (const auto& entry : *names) {
    if (auto pid = whole_number<pid_t>(entry.name)) pids.push_back(*pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace

Result<std::vector<pid_t>> Containers::members(ContainerId id) const {
  if (id == kHostId) {
    std::vector<pid_t> out;
    for (pid_t pid : all_processes()) {
      auto cg = kernel::cgroup_of_process(pid);
      if (!cg) continue;  // exited, or a kernel thread without cgroup v2 line
      const std::string& root_path = config_.root_cgroup_path;
      bool ours = cg->starts_with(root_path) && (cg->size() == root_path.size() || (*cg)[root_path.size()] == '/');
      if (!ours) out.push_back(pid);
    }
    return out;
  }
  Result<kernel::Cgroup> members = fail(ENOENT);
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    members = open_cgroup_locked(*c, state::kMembersLeaf);
  }
  if (!members) return fail(gone_as_enoent(members.error()));
  return gone_as_enoent(members->procs());
}

Result<std::string> Containers::read_cgroup_file(ContainerId id, const std::string& file) const {
  Result<kernel::Cgroup> cgroup = fail(ENOENT);
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    cgroup = open_cgroup_locked(*c);
  }
  if (!cgroup) return fail(gone_as_enoent(cgroup.error()));
  return gone_as_enoent(cgroup->read(file));
}

Status Containers::write_cgroup_file(ContainerId id, const std::string& file, std::string_view text,
                                     Caller caller) const {
  Result<kernel::Cgroup> cgroup = fail(ENOENT);
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    if (!caller.is_root() && (id == kHostId || find_locked(c->parent)->owner_uid != caller.uid))
      return fail(log::refuse(EPERM, "{} of {}: uid {} may not change the limits of what was delegated to it",
                              file, c->name, caller.uid));
    cgroup = open_cgroup_locked(*c);
  }
  if (!cgroup) return fail(cgroup.error());
  return cgroup->write(file, text);
}

Result<std::vector<std::string>> Containers::controller_files(ContainerId id) const {
  if (id == kHostId) return std::vector<std::string>{};
  std::string path;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    path = c->cgroup_path;
  }
  auto entries = list_directory(root().fd(), path);
  if (!entries) return fail(entries.error());
  std::vector<std::string> names;
  for (auto& e : *entries)
    if (e.type == DT_REG && is_controller_file_name(e.name)) names.push_back(std::move(e.name));
  std::sort(names.begin(), names.end());
  return names;
}

Result<mode_t> Containers::controller_file_mode(ContainerId id, const std::string& name) const {
  if (id == kHostId || !is_controller_file_name(name)) return fail(ENOENT);
  std::string path;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    path = fmt::format("{}/{}", c->cgroup_path, name);
  }
  struct stat st {};
  if (::fstatat(root().fd(), path.c_str(), &st, 0) != 0) return fail_errno();
  return st.st_mode;
}

Result<std::string> Containers::events(ContainerId id) const {
  if (id == kHostId) return fail(ENOENT);
  std::string path;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    path = c->cgroup_path;
  }
  auto own = gone_as_enoent(read_file_at(root().fd(), path + "/cgroup.events"));
  auto members = gone_as_enoent(read_file_at(root().fd(), fmt::format("{}/{}/cgroup.events", path, state::kMembersLeaf)));
  if (!own) return fail(own.error());
  if (!members) return fail(members.error());
  bool populated = members->find("populated 1") != std::string::npos;
  bool frozen = own->find("frozen 1") != std::string::npos;
  return fmt::format("populated {}\nfrozen {}\n", populated ? 1 : 0, frozen ? 1 : 0);
}

Result<std::vector<std::string>> Containers::events_files(ContainerId id) const {
  if (id == kHostId) return fail(ENOENT);
  SharedLock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  return std::vector<std::string>{cgroup_dir(c->cgroup_path, "cgroup.events"),
                                  cgroup_dir(c->cgroup_path, fmt::format("{}/cgroup.events", state::kMembersLeaf))};
}

Status Containers::kill_members(ContainerId id, Caller caller) const {
  Result<kernel::Cgroup> members = fail(ENOENT);
  std::string name;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c || id == kHostId) return fail(ENOENT);
    members = open_cgroup_locked(*c, state::kMembersLeaf);
    name = c->name;
  }
  if (!members) return fail(members.error());
  if (!caller.is_root())
    if (auto may = check_may_kill_all(*members, caller, fmt::format("kill of {}", name)); !may) return may;
  if (auto ok = members->kill_all(); !ok) return ok;
  return members->wait_empty(config_.teardown_timeout);
}

Status Containers::set_frozen(ContainerId id, bool frozen) const {
  Result<kernel::Cgroup> cgroup = fail(ENOENT);
  std::vector<FreezeLink> above;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c || id == kHostId) return fail(ENOENT);
    cgroup = open_cgroup_locked(*c);
    above = freeze_chain_locked(*find_locked(c->parent));
  }
  if (!cgroup) return fail(gone_as_enoent(cgroup.error()));
  {
    // Not while a process is being started inside (bounded): it would
    // stop before its exec.
    Lock gate(freeze_gate_);
    if (auto ok = cgroup->write("cgroup.freeze", frozen ? "1" : "0"); !ok) return fail(gone_as_enoent(ok.error()));
  }
  // Below a frozen container, a thawed one stays frozen until that one is
  // thawed (the kernel's rule): its request is taken, nothing to wait for.
  if (!frozen) {
    if (auto held = first_frozen(above); held && *held) return {};
  }
  return cgroup->wait_frozen(frozen, config_.teardown_timeout);
}

}  // namespace containerfs::model
