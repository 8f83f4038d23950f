// What the model reports by itself — a container that ended with its init,
// controller files that came or went — dropped from the kernel's caches.
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/invalidator.hpp"
#include "containerfs/model/controller_files.hpp"

namespace containerfs::fuse {

void forget_change(Filesystem& fs, const model::TreeChange& change) {
  if (!fs.invalidator) return;
  switch (change.kind) {
    case model::TreeChange::Kind::removed:
      fs.invalidator->entry(change.parent, change.name);
      break;
    case model::TreeChange::Kind::files_changed:
      // Any controller file name the kernel may hold.
      fs.invalidator->inode(Node{change.id, model::FileKind::directory});
      for (auto& name : model::known_controller_file_names()) fs.invalidator->entry(change.id, std::move(name));
      break;
  }
  // Before whoever reported it goes on (and, say, logs it): a reader that
  // saw the report finds the kernel's caches already told.
  fs.invalidator->flush();
}

}  // namespace containerfs::fuse
