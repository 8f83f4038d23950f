#include <vector>

#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/model/controller_files.hpp"

namespace containerfs::fuse {

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  auto& fs = filesystem(req);
  auto id = container_dir(ino);
  if (!id) return (void)fuse_reply_err(req, id.error());
  auto c = fs.containers->get(*id);
  if (!c) return (void)fuse_reply_err(req, c.error());
  auto kids = fs.containers->children(*id);
  if (!kids) return (void)fuse_reply_err(req, kids.error());

  struct Entry {
    std::string name;
    Node node;
  };
  std::vector<Entry> entries;
  entries.push_back({".", Node{*id, model::FileKind::directory}});
  entries.push_back({"..", Node{c->parent, model::FileKind::directory}});
  for (auto kind : files_of(*c)) entries.push_back({std::string(model::file_name(kind)), Node{*id, kind}});
  if (auto files = fs.containers->controller_files(*id)) {
    for (auto& name : *files)
      if (auto kind = model::controller_file_kind(name)) entries.push_back({name, Node{*id, *kind}});
  }
  for (auto& [slot, name] : c->pending)
    entries.push_back({name, Node{*id, static_cast<model::FileKind>(slot)}});
  for (auto& [name, child] : *kids) entries.push_back({name, Node{child, model::FileKind::directory}});

  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = to_ino(entries[i].node);
    st.st_mode = model::file_mode(entries[i].node.kind);
    size_t len = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].name.c_str(), &st,
                                   static_cast<off_t>(i + 1));
    if (len > size - used) break;
    used += len;
  }
  fuse_reply_buf(req, buf.data(), used);
}

}  // namespace containerfs::fuse
