// Every init's command line names its container ("containerfs-init
// web/db"): it is started so (InitSpec::title), and rewritten for a whole
// subtree on mv, and by a restarted daemon where it is out of date
// (kernel/init_title.hpp).
#include "containerfs/kernel/init_title.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

std::string Containers::path_locked(const Container& c) const {
  std::string path;
  for (const auto& name : names_of(c)) {
    if (!path.empty()) path += '/';
    path += name;
  }
  return path;
}

void Containers::retitle_init_locked(const Container& c) const {
  if (c.id == kHostId || c.init_pid <= 0) return;
  auto path = path_locked(c);
  auto done = kernel::set_init_title(c.init_pid, c.init_start, path);
  if (done) return;
  if (done.error() == ESRCH || done.error() == ENOSPC)  // it ended, or predates titles
    log::debug("container {}: its init {} keeps its command line: errno {}", path, c.init_pid, done.error());
  else
    log::warn("container {}: the command line of its init {} could not be set: errno {}", path,
              c.init_pid, done.error());
}

void Containers::retitle_subtree_locked(const Container& c) const {
  retitle_init_locked(c);
  for (const auto& [name, id] : c.children)
    if (const auto* child = find(id)) retitle_subtree_locked(*child);
}

}  // namespace containerfs::model
