#include "containerfs/model/files.hpp"

#include <array>

namespace containerfs::model {

namespace {

struct FileInfo {
  FileKind kind;
  std::string_view name;
  mode_t mode;
};

constexpr std::array<FileInfo, static_cast<size_t>(FileKind::count_)> kFiles = {{
    {FileKind::directory, "", S_IFDIR | 0755},
    {FileKind::tasks, "tasks", S_IFREG | 0644},
    {FileKind::init, "init", S_IFREG | 0444},
    {FileKind::self, "self", S_IFLNK | 0777},
    {FileKind::ns_network, "network", S_IFLNK | 0777},
    {FileKind::ns_uts, "uts", S_IFLNK | 0777},
    {FileKind::ns_ipc, "ipc", S_IFLNK | 0777},
    {FileKind::ns_pid, "pid", S_IFLNK | 0777},
    {FileKind::ns_user, "user", S_IFLNK | 0777},
    {FileKind::ns_mount, "mount", S_IFLNK | 0777},
    {FileKind::ns_cgroup, "cgroup", S_IFLNK | 0777},
    {FileKind::ns_time, "time", S_IFLNK | 0777},
    {FileKind::hostname, "hostname", S_IFREG | 0644},
    {FileKind::uid_map, "uid_map", S_IFREG | 0644},
    {FileKind::gid_map, "gid_map", S_IFREG | 0644},
    {FileKind::freeze, "freeze", S_IFREG | 0644},
    {FileKind::kill, "kill", S_IFREG | 0200},
    {FileKind::events, "events", S_IFREG | 0444},
    {FileKind::timens_offsets, "timens_offsets", S_IFREG | 0644},
    {FileKind::created, "", S_IFREG | 0644},
    {FileKind::root, "root", S_IFLNK | 0777},
    {FileKind::console, "console", S_IFREG | 0600},
    {FileKind::run, "run", S_IFREG | 0200},
    {FileKind::devices, "devices", S_IFREG | 0644},
}};

}  // namespace

std::string_view file_name(FileKind kind) {
  if (static_cast<size_t>(kind) >= kFiles.size()) return {};
  return kFiles[static_cast<size_t>(kind)].name;
}

std::optional<FileKind> file_kind_from_name(std::string_view name) {
  if (name.empty()) return std::nullopt;
  for (const auto& f : kFiles)
    if (f.name == name) return f.kind;
  return std::nullopt;
}

bool is_ns_file(FileKind kind) { return kind >= FileKind::ns_network && kind <= FileKind::ns_time; }

FileKind ns_file_kind(kernel::NsKind ns) {
  return static_cast<FileKind>(static_cast<int>(FileKind::ns_network) + static_cast<int>(ns));
}

kernel::NsKind ns_of_file(FileKind kind) {
  return static_cast<kernel::NsKind>(static_cast<int>(kind) - static_cast<int>(FileKind::ns_network));
}

mode_t file_mode(FileKind kind) {
  if (is_pending_link(kind)) return S_IFLNK | 0777;
  if (is_controller_file(kind)) return S_IFREG | 0644;
  return kFiles[static_cast<size_t>(kind)].mode;
}

}  // namespace containerfs::model
