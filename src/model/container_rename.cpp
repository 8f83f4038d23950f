// mv: a new name under the same parent. The cgroup keeps its id (cgroup v2
// cannot rename); only the record changes, in one atomic setxattr.
#include <linux/fs.h>

#include "containerfs/model/containers.hpp"
#include "containerfs/model/names.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Status Containers::rename(ContainerId parent_id, std::string_view name, ContainerId new_parent,
                          std::string_view new_name, unsigned flags) {
  if (flags & ~RENAME_NOREPLACE)
    return fail(log::refuse(EINVAL, "rename {} -> {}: flags {:#x} not supported", name, new_name, flags));
  std::vector<InitTitle> titles;
  {
  Lock lock(tree_);
  auto* parent = find_locked(parent_id);
  if (!parent) return fail(ENOENT);
  auto it = parent->children.find(name);
  if (it == parent->children.end()) return fail(ENOENT);
  if (new_parent != parent_id)
    return fail(log::refuse(ENOTSUP, "rename {}: containers move only within their parent", name));
  if (int err = check_container_name(new_name))
    return fail(log::refuse(err, "rename {} -> {:?}: not a container name", name, new_name));
  if (name == new_name) return {};
  if (parent->children.contains(new_name) || parent->reserved.contains(new_name)) {
    // Replacing would destroy the other container: a container directory
    // is never empty.
    int err = (flags & RENAME_NOREPLACE) ? EEXIST : ENOTEMPTY;
    return fail(log::refuse(err, "rename {} -> {}: target exists", name, new_name));
  }
  auto* c = find_locked(it->second);
  if (c->removing) return fail(log::refuse(EBUSY, "rename {}: being removed", name));
  // A share is a link by path: renaming what it points into would leave it
  // dangling (or pointing at a later container of the old name).
  std::vector<const Container*> subtree{c};
  for (size_t i = 0; i < subtree.size(); ++i) {
    const auto* s = subtree[i];
    if (!s->shared_by.empty()) {
      auto [other, kind] = *s->shared_by.begin();
      const auto* sharer = find_locked(other);
      return fail(log::refuse(EBUSY, "rename {}: {} shares its {} namespace by path {}", name, sharer->name,
                              kernel::ns_file_name(kind), sharer->ns[kind].link));
    }
    for (const auto& [n, id] : s->children) subtree.push_back(find_locked(id));
  }
  std::string old = c->name;
  c->name = std::string(new_name);
  if (auto saved = persist_locked(*c); !saved) {
    c->name = old;
    return fail(saved.error());
  }
  ContainerId id = c->id;
  parent->children.erase(it);
  parent->children.emplace(c->name, id);
  titles_locked(*c, true, titles);
  }
  apply_titles(titles);
  return {};
}

}  // namespace containerfs::model
