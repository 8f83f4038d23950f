// Queries over the tree, and its construction.
#include "containerfs/model/containers.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include <sys/stat.h>

#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/model/controller_files.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Containers::Containers(Config config) : config_(std::move(config)) {
  auto host = std::make_unique<Container>();
  host->id = kHostId;
  host->init_pid = ::getpid();
  host->cgroup = std::move(config_.root);
  by_id_[kHostId] = std::move(host);
  reaper_ = std::make_unique<kernel::Reaper>([this](pid_t pid) { on_process_exit(pid); });
}

Containers::~Containers() { reaper_.reset(); }

Container* Containers::find(ContainerId id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

size_t Containers::size() const {
  std::lock_guard lock(mutex_);
  return by_id_.size() - 1;
}

Result<ContainerView> Containers::get(ContainerId id) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  ContainerView view{c->id, c->parent, c->name, c->init_pid, c->ns, c->removing, {},
                     c->owner_uid, c->owner_gid, 0, 0};
  if (id != kHostId) {
    const auto* parent = find(c->parent);
    view.limits_uid = parent->owner_uid;
    view.limits_gid = parent->owner_gid;
  }
  for (auto& [slot, link] : c->pending) view.pending.emplace_back(slot, link.name);
  return view;
}

Result<ContainerId> Containers::child(ContainerId parent, std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto* p = find(parent);
  if (!p) return fail(ENOENT);
  auto it = p->children.find(name);
  if (it == p->children.end()) return fail(ENOENT);
  return it->second;
}

Result<std::vector<std::pair<std::string, ContainerId>>> Containers::children(ContainerId id) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  return std::vector<std::pair<std::string, ContainerId>>(c->children.begin(), c->children.end());
}

Result<std::string> Containers::path_of(ContainerId id) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string_view> parts;
  for (auto* c = find(id); c && c->id != kHostId; c = find(c->parent)) parts.push_back(c->name);
  if (!find(id)) return fail(ENOENT);
  if (parts.empty()) return std::string(".");
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) out += '/';
    out += *it;
  }
  return out;
}

Result<std::string> Containers::cgroup_path_of(const Container& c) const {
  std::string path;
  for (auto* p = &c; p && p->id != kHostId; p = find(p->parent)) path = "/" + p->cgroup_name + path;
  return config_.root_cgroup_path + path;
}

Result<ContainerId> Containers::container_of_process(pid_t pid) const {
  auto cg = kernel::cgroup_of_process(pid);
  if (!cg) return fail(cg.error());
  std::lock_guard lock(mutex_);
  return container_of_cgroup_locked(*cg);
}

ContainerId Containers::container_of_cgroup_locked(std::string_view cgroup) const {
  std::string_view rest = cgroup;
  const std::string& root = config_.root_cgroup_path;
  if (!rest.starts_with(root) || (rest.size() > root.size() && rest[root.size()] != '/'))
    return kHostId;
  rest.remove_prefix(root.size());
  ContainerId found = kHostId;
  // The deepest "c<id>" component that is one of ours.
  while (!rest.empty()) {
    rest.remove_prefix(1);
    auto slash = rest.find('/');
    auto part = rest.substr(0, slash);
    auto id = state::id_of_cgroup_name(part);
    if (!id || !find(*id)) break;
    found = *id;
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  }
  return found;
}

Result<Containers::Entry> Containers::begin_entry(ContainerId id) {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c || c->removing) return fail(ENOENT);
  ++c->entering;
  return Entry(this, id, c->init_pid);
}

Containers::Entry::~Entry() {
  if (!owner_) return;
  std::lock_guard lock(owner_->mutex_);
  if (auto* c = owner_->find(id_)) --c->entering;
}

Result<pid_t> Containers::ns_holder(ContainerId id) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  return c->init_pid;
}

std::string Containers::effective_path_locked(const Container& c, kernel::NsKind kind) const {
  // A container's init is always in exactly the container's namespaces
  // (own, shared, adopted, inherited): see respawn_init.
  return kernel::ns_proc_path(c.init_pid, kind);
}

bool Containers::in_user_ns_of_locked(const Container& c, uid_t uid) const {
  if (c.id == kHostId) return false;
  auto path = effective_path_locked(c, kernel::NsKind::user);
  auto theirs = kernel::ns_id_of_path(path);
  auto mine = kernel::ns_id_of_path(kernel::ns_proc_path(::getpid(), kernel::NsKind::user));
  if (!theirs || !mine || *theirs == *mine) return false;
  auto owner = kernel::user_ns_owner(path);
  return owner && *owner == uid;
}

Container* Containers::find_path(const std::vector<std::string>& names) const {
  auto* c = find(kHostId);
  for (const auto& n : names) {
    auto it = c->children.find(n);
    if (it == c->children.end()) return nullptr;
    c = find(it->second);
  }
  return c;
}

std::vector<std::string> Containers::names_of(const Container& c) const {
  std::vector<std::string> names;
  for (auto* p = &c; p && p->id != kHostId; p = find(p->parent)) names.insert(names.begin(), p->name);
  return names;
}

Result<std::string> Containers::effective_ns_path(ContainerId id, kernel::NsKind kind) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  return effective_path_locked(*c, kind);
}

Result<std::string> Containers::ns_link(ContainerId id, kernel::NsKind kind) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return kernel::ns_proc_path(c->init_pid, kind);
  const auto& slot = c->slot(kind);
  switch (slot.origin) {
    case NsOrigin::inherited: return fail(ENOENT);
    case NsOrigin::own: return kernel::ns_proc_path(c->init_pid, kind);
    case NsOrigin::adopted:
      // Reached through the init that holds it: the path as written may be
      // swapped for another namespace (a bind mount replaced, a /proc/PID
      // reused) or mean each reader's own (/proc/self).
      return kernel::ns_proc_path(c->init_pid, kind);
    case NsOrigin::shared: return slot.link;
  }
  return fail(ENOENT);
}

namespace {

// A cgroup file read while rmdir removes its container's cgroups fails with
// ENODEV: the container is gone, as for any container that is no more.
template <typename T>
Result<T> gone_as_enoent(Result<T> read) {
  if (!read && read.error() == ENODEV) return fail(ENOENT);
  return read;
}

std::vector<pid_t> all_processes() {
  std::vector<pid_t> pids;
  DIR* dir = ::opendir("/proc");
  if (!dir) return pids;
  while (auto* ent = ::readdir(dir)) {
    pid_t pid = 0;
    std::string_view name = ent->d_name;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec == std::errc() && end == name.data() + name.size()) pids.push_back(pid);
  }
  ::closedir(dir);
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
      const std::string& root = config_.root_cgroup_path;
      bool ours = cg->starts_with(root) && (cg->size() == root.size() || (*cg)[root.size()] == '/');
      if (!ours) out.push_back(pid);
    }
    return out;
  }
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  return gone_as_enoent(c->members.procs());
}

Result<std::string> Containers::read_cgroup_file(ContainerId id, const std::string& file) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  return gone_as_enoent(c->cgroup.read(file));
}

Result<std::vector<std::string>> Containers::controller_files(ContainerId id) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return std::vector<std::string>{};
  auto dup = c->cgroup.open_child(".");
  if (!dup) return fail(dup.error());
  DIR* dir = ::fdopendir(::dup(dup->fd()));
  if (!dir) return fail_errno();
  std::vector<std::string> names;
  while (auto* ent = ::readdir(dir))
    if (ent->d_type == DT_REG && is_controller_file_name(ent->d_name)) names.emplace_back(ent->d_name);
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Result<mode_t> Containers::controller_file_mode(ContainerId id, const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c || id == kHostId || !is_controller_file_name(name)) return fail(ENOENT);
  struct stat st {};
  if (::fstatat(c->cgroup.fd(), name.c_str(), &st, 0) != 0) return fail_errno();
  return st.st_mode;
}

Result<std::string> Containers::events(ContainerId id) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c || id == kHostId) return fail(ENOENT);
  auto own = gone_as_enoent(c->cgroup.read("cgroup.events"));
  auto members = gone_as_enoent(c->members.read("cgroup.events"));
  if (!own) return fail(own.error());
  if (!members) return fail(members.error());
  bool populated = members->find("populated 1") != std::string::npos;
  bool frozen = own->find("frozen 1") != std::string::npos;
  return fmt::format("populated {}\nfrozen {}\n", populated ? 1 : 0, frozen ? 1 : 0);
}

Result<std::pair<int, int>> Containers::events_fds(ContainerId id) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c || id == kHostId) return fail(ENOENT);
  return std::make_pair(c->cgroup.fd(), c->members.fd());
}

Status Containers::write_cgroup_file(ContainerId id, const std::string& file, std::string_view text,
                                     Caller caller) const {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (!caller.is_root() && (id == kHostId || find(c->parent)->owner_uid != caller.uid))
    return fail(log::refuse(EPERM, "{} of {}: uid {} may not change the limits of what was delegated to it",
                            file, c->name, caller.uid));
  return c->cgroup.write(file, text);
}

Status Containers::persist(const Container& c) const {
  return c.cgroup.set_record(state::encode_record(state::record_of(c)));
}

void Containers::on_process_exit(pid_t pid) {
  std::lock_guard lock(mutex_);
  Container* dead = nullptr;
  for (auto& [id, c] : by_id_)
    if (id != kHostId && c->init_pid == pid && !c->removing) dead = c.get();
  if (!dead) return;
  // Killed from outside: without its init (pid 1 of its pid namespace,
  // holder of its namespaces) the container cannot go on.
  log::warn("init {} of container {} exited: the container ends with it", pid, dead->name);
  end_container_locked(*dead);
}

void Containers::end_container_locked(Container& c) {
  std::vector<ContainerId> kids;
  for (auto& [name, id] : c.children) kids.push_back(id);
  for (auto id : kids)
    if (auto* k = find(id)) end_container_locked(*k);
  auto* parent = find(c.parent);
  Status done = c.cgroup.kill_all();
  if (done) done = c.cgroup.wait_empty(config_.teardown_timeout);
  if (done) done = parent->cgroup.remove_child_tree(c.cgroup_name, config_.teardown_timeout);
  if (!done) log::error("container {}: cgroup {} not removed: errno {}", c.name, c.cgroup_name, done.error());
  ContainerId id = c.id;
  parent->children.erase(c.name);
  by_id_.erase(id);
}

}  // namespace containerfs::model
