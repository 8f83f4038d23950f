// Where processes stood before they first entered a container -- their
// working directory and root (kernel/process_place.hpp) -- so that the way
// home puts them back, also after a daemon restart. Kept as the file
// `places` of the daemon's state directory, replaced whole:
//
//   containerfs-places 1
//   <pid> <start time> <cwd dev> <cwd inode> <root dev> <root inode> <cwd> <root>
//   ...
//
// The start time (field 22 of /proc/PID/stat) tells a process from a later
// one with the same pid. In the paths, space, tab, newline and backslash
// are written \ooo (octal, as /proc/self/mountinfo does); nothing else is.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "containerfs/kernel/process_place.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::state {

struct KeptPlace {
  pid_t pid = 0;
  unsigned long long start = 0;
  kernel::ProcessPlace place;
  friend bool operator==(const KeptPlace&, const KeptPlace&) = default;
};

inline constexpr const char* kPlacesFile = "places";

// Entries with a pid <= 0, or a path that is not absolute or holds a NUL,
// are left out.
std::string encode_places(const std::vector<KeptPlace>& places);
// EINVAL on anything malformed (a bad header, number or path, or a path
// spelled otherwise than encode_places spells it).
Result<std::vector<KeptPlace>> decode_places(std::string_view text);

}  // namespace containerfs::state
