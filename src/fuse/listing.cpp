// What a container directory lists: ".", "..", its files, its controller
// files, its stray symlinks and its child containers, each with its stat.
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_dir.hpp"
#include "containerfs/model/controller_files.hpp"

namespace containerfs::fuse {

Result<std::vector<DirEntryOut>> list_directory_of(Filesystem& fs, model::ContainerId id, pid_t caller) {
  auto c = fs.containers->get(id);
  if (!c) return fail(c.error());
  auto kids = fs.containers->children(id);
  if (!kids) return fail(kids.error());
  std::vector<DirEntryOut> out;
  out.reserve(kids->size() + 32);
  auto add = [&](std::string name, Node node, const model::ContainerView& of) {
    DirEntryOut e{std::move(name), node, {}};
    if (auto st = stat_from_view(fs, of, node, caller)) e.st = *st;
    else return;  // gone meanwhile (a controller file, a link)
    out.push_back(std::move(e));
  };
  add(".", Node{id, model::FileKind::directory}, *c);
  DirEntryOut dotdot{"..", Node{c->parent, model::FileKind::directory}, {}};
  dotdot.st.st_ino = to_ino(dotdot.node);
  dotdot.st.st_mode = S_IFDIR | 0755;
  out.push_back(dotdot);
  for (auto kind : files_of(*c)) add(std::string(model::file_name(kind)), Node{id, kind}, *c);
  if (auto files = fs.containers->controller_files(id)) {
    for (auto& name : *files)
      if (auto kind = model::controller_file_kind(name)) add(name, Node{id, *kind}, *c);
  }
  for (auto& [slot, name] : c->pending) add(name, Node{id, static_cast<model::FileKind>(slot)}, *c);
  for (auto& kid : *kids) {
    DirEntryOut e{kid.name, Node{kid.id, model::FileKind::directory}, directory_stat(kid.id, kid.owner_uid,
                                                                               kid.owner_gid, kid.child_count)};
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace containerfs::fuse
