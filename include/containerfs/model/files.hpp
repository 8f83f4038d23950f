// The files of a container directory: their kinds, names and modes.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "containerfs/kernel/namespaces.hpp"

namespace containerfs::model {

enum class FileKind : uint8_t {
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
  // What create/mknod of a namespace file answers with: a regular file
  // that is never found again (the next lookup finds the new symlink).
  created,
  count_,
};

// Symlinks under other names (the temporaries of `ln -sf`) take kinds from
// here up, one per link: kPendingLinkFirst + slot.
inline constexpr int kPendingLinkFirst = 32;
inline constexpr int kPendingLinkSlots = 256 - kPendingLinkFirst;
inline bool is_pending_link(FileKind kind) { return static_cast<int>(kind) >= kPendingLinkFirst; }

std::string_view file_name(FileKind kind);
std::optional<FileKind> file_kind_from_name(std::string_view name);

bool is_ns_file(FileKind kind);
FileKind ns_file_kind(kernel::NsKind ns);
kernel::NsKind ns_of_file(FileKind kind);  // only for is_ns_file(kind)

// st_mode (type and permission bits) of the file.
mode_t file_mode(FileKind kind);

}  // namespace containerfs::model
