#include "containerfs/kernel/mountinfo.hpp"

#include "containerfs/util/file_io.hpp"
#include "containerfs/util/text.hpp"

namespace containerfs::kernel {

std::string unescape_mount_field(std::string_view field) {
  auto is_oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_oct(field[i + 1]) &&
        is_oct(field[i + 2]) && is_oct(field[i + 3])) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
      continue;
    }
    out.push_back(field[i]);
  }
  return out;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> entries;
  for (auto line : Lines(text)) {
    // Fields never hold a blank: the kernel writes them as \040 and \011.
    auto fields = words(line);
    // id parent major:minor root mount-point options [optional...] - type source super
    size_t sep = 0;
    for (size_t i = 6; i < fields.size(); ++i)
      if (fields[i] == "-") {
        sep = i;
        break;
      }
    if (sep == 0 || sep + 1 >= fields.size()) continue;
    MountEntry e;
    e.root = unescape_mount_field(fields[3]);
    e.mount_point = unescape_mount_field(fields[4]);
    e.fs_type = std::string(fields[sep + 1]);
    if (sep + 2 < fields.size()) e.source = unescape_mount_field(fields[sep + 2]);
    entries.push_back(std::move(e));
  }
  return entries;
}

Result<std::string> find_cgroup2_mount(std::string_view mountinfo_text) {
  for (auto& e : parse_mountinfo(mountinfo_text))
    if (e.fs_type == "cgroup2") return e.mount_point;
  return fail(ENOENT);
}

std::vector<std::string> find_mounts_of_type(std::string_view mountinfo_text,
                                             std::string_view fs_type) {
  std::vector<std::string> out;
  for (auto& e : parse_mountinfo(mountinfo_text))
    if (e.fs_type == fs_type) out.push_back(e.mount_point);
  return out;
}

Result<std::string> read_own_mountinfo() { return read_file("/proc/self/mountinfo"); }

}  // namespace containerfs::kernel
