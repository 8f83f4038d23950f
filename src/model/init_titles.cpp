// Every init's command line names its container ("containerfs-init
// web/db"): it is started so (InitSpec::title), and rewritten for a whole
// subtree on mv, and by a restarted daemon where it is out of date
// (kernel/init_title.hpp). The rewrite may wait for an init still in its
// execve: the titles are collected under the tree lock and written after.
#include "containerfs/kernel/init_title.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

void Containers::titles_locked(const Container& c, bool subtree, std::vector<InitTitle>& out) const {
  if (c.id != kHostId && c.init_pid > 0) out.push_back({c.init_pid, c.init_start, path_locked(c)});
  if (!subtree) return;
  for (const auto& [name, id] : c.children)
    if (const auto* child = find_locked(id)) titles_locked(*child, true, out);
}

void Containers::apply_titles(const std::vector<InitTitle>& titles) {
  for (const auto& t : titles) {
    auto done = kernel::set_init_title(t.pid, t.start, t.path);
    if (done) continue;
    if (done.error() == ESRCH || done.error() == ENOSPC)  // it ended, or predates titles
      log::debug("container {}: its init {} keeps its command line: {}", t.path, t.pid, log::errno_text(done.error()));
    else
      log::warn("container {}: the command line of its init {} could not be set: {}", t.path, t.pid,
                log::errno_text(done.error()));
  }
}

}  // namespace containerfs::model
