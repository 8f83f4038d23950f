// The files of a container directory: their kinds, names and modes.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "containerfs/kernel/namespaces.hpp"

namespace containerfs::model {

enum class FileKind : uint16_t {
  directory = 0,
  tasks,
  init,
  self,  // host only
  ns_network,
  ns_uts,
  ns_ipc,
  ns_pid,
  ns_user,
  ns_mount,
  ns_cgroup,
  ns_time,
  hostname,
  uid_map,
  gid_map,
  freeze,
  kill,
  events,
  timens_offsets,
  // What create/mknod of a namespace file answers with: a regular file
  // that is never found again (the next lookup finds the new symlink).
  created,
  // Running a system: the root file system link, the console, run, the
  // device whitelist.
  root,
  console,
  run,
  devices,
  count_,
};

// Kinds are 12 bits of the inode number. Symlinks under other names (the
// temporaries of `ln -sf`) take one kind per link from kPendingLinkFirst;
// cgroup controller files (memory.max, ...) one per file name from
// kControllerFileFirst (see controller_files.hpp).
inline constexpr int kKindBits = 12;
inline constexpr int kPendingLinkFirst = 64;
inline constexpr int kPendingLinkSlots = 960;
inline constexpr int kControllerFileFirst = kPendingLinkFirst + kPendingLinkSlots;
inline constexpr int kControllerFileSlots = (1 << kKindBits) - kControllerFileFirst;
inline bool is_pending_link(FileKind kind) {
  int k = static_cast<int>(kind);
  return k >= kPendingLinkFirst && k < kControllerFileFirst;
}
inline bool is_controller_file(FileKind kind) { return static_cast<int>(kind) >= kControllerFileFirst; }

std::string_view file_name(FileKind kind);
std::optional<FileKind> file_kind_from_name(std::string_view name);

bool is_ns_file(FileKind kind);
FileKind ns_file_kind(kernel::NsKind ns);
kernel::NsKind ns_of_file(FileKind kind);  // only for is_ns_file(kind)

// st_mode (type and permission bits) of the file.
mode_t file_mode(FileKind kind);

}  // namespace containerfs::model
