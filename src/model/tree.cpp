// The tree itself: finding containers by id, by path and by cgroup, and the
// indexes that keep every lookup independent of the tree's size (init pid
// -> container, who shares whose namespace).
#include <unistd.h>

#include <fmt/format.h>

#include "containerfs/model/containers.hpp"
#include "containerfs/model/link_target.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Container* Containers::find_locked(ContainerId id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

Container* Containers::find_path_locked(const std::vector<std::string>& names) const {
  auto* c = find_locked(kHostId);
  for (const auto& n : names) {
    auto it = c->children.find(n);
    if (it == c->children.end()) return nullptr;
    c = find_locked(it->second);
  }
  return c;
}

std::vector<std::string> Containers::names_of_locked(const Container& c) const {
  std::vector<std::string> names;
  for (auto* p = &c; p && p->id != kHostId; p = find_locked(p->parent)) names.push_back(p->name);
  return {names.rbegin(), names.rend()};
}

std::string Containers::path_locked(const Container& c) const {
  std::string path;
  for (const auto& name : names_of_locked(c)) {
    if (!path.empty()) path += '/';
    path += name;
  }
  return path;
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
    if (!id || !find_locked(*id)) break;
    found = *id;
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  }
  return found;
}

std::string Containers::effective_ns_path_locked(const Container& c, kernel::NsKind kind) const {
  // A container's init is always in exactly the container's namespaces
  // (own, shared, adopted, inherited): see replace_init.
  return kernel::ns_proc_path(c.init_pid, kind);
}

bool Containers::in_user_ns_of_locked(const Container& c, uid_t uid) const {
  if (c.id == kHostId) return false;
  auto path = effective_ns_path_locked(c, kernel::NsKind::user);
  auto theirs = kernel::ns_id_of_path(path);
  auto mine = kernel::ns_id_of_path(kernel::ns_proc_path(::getpid(), kernel::NsKind::user));
  if (!theirs || !mine || *theirs == *mine) return false;
  auto owner = kernel::user_ns_owner(path);
  return owner && *owner == uid;
}

std::string Containers::cgroup_dir(const std::string& cgroup_path, std::string_view file) const {
  std::string out = root().path();
  if (!cgroup_path.empty()) out += "/" + cgroup_path;
  if (!file.empty()) out += fmt::format("/{}", file);
  return out;
}

Result<kernel::Cgroup> Containers::open_cgroup_locked(const Container& c, const char* leaf) const {
  std::string rel = c.cgroup_path;
  if (leaf) rel += rel.empty() ? std::string(leaf) : fmt::format("/{}", leaf);
  return kernel::Cgroup::open_below(root().fd(), rel, cgroup_dir(rel));
}

void Containers::index_shares_locked(const Container& c, bool add) {
  for (auto kind : kernel::kAllNsKinds) {
    const auto& slot = c.ns[kind];
    if (slot.origin != NsOrigin::shared) continue;
    auto* source = find_locked(slot.source);
    if (!source) continue;
    if (add) {
      source->shared_by.emplace(c.id, kind);
    } else if (auto it = source->shared_by.find({c.id, kind}); it != source->shared_by.end()) {
      source->shared_by.erase(it);
    }
  }
}

void Containers::insert_locked(std::unique_ptr<Container> c) {
  auto* parent = find_locked(c->parent);
  parent->reserved.erase(c->name);
  parent->children.emplace(c->name, c->id);
  by_init_[c->init_pid] = c->id;
  index_shares_locked(*c, true);
  ContainerId id = c->id;
  by_id_[id] = std::move(c);
}

void Containers::erase_subtree_locked(ContainerId id) {
  auto* c = find_locked(id);
  if (!c) return;
  std::vector<ContainerId> kids;
  for (const auto& [name, child] : c->children) kids.push_back(child);
  for (auto child : kids) erase_subtree_locked(child);
  index_shares_locked(*c, false);
  if (auto it = by_init_.find(c->init_pid); it != by_init_.end() && it->second == id) by_init_.erase(it);
  if (c->init_watch >= 0) watch_->remove(c->init_watch, id);
  if (c->controls_watch >= 0) watch_->remove(c->controls_watch, id | kControlsKey);
  if (auto* parent = find_locked(c->parent)) parent->children.erase(c->name);
  by_id_.erase(id);
}

void Containers::resolve_shares_locked() {
  for (auto& [id, c] : by_id_) {
    for (auto kind : kernel::kAllNsKinds) {
      auto& slot = c->ns[kind];
      if (slot.origin != NsOrigin::shared) continue;
      auto t = resolve_link_target(config_.mount_point, names_of_locked(*c), slot.link);
      Container* source = nullptr;
      if (t && std::holds_alternative<TreeTarget>(*t)) source = find_path_locked(std::get<TreeTarget>(*t).containers);
      if (source) slot.source = source->id;
      else log::warn("{}: shared {} link {} no longer resolves", c->name, kernel::ns_file_name(kind), slot.link);
    }
  }
  for (auto& [id, c] : by_id_) index_shares_locked(*c, true);
}

}  // namespace containerfs::model
