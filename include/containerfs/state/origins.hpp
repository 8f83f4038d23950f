// Where each process that entered a container came from, so that the
// host's tasks file takes it back there — also after a daemon restart. Kept
// as the xattr trusted.containerfs.origins of the daemon's cgroup directory
// (one setxattr replaces it atomically; it dies with the directory):
//
//   containerfs-origins 1
//   <pid> <start time> <cgroup path below the cgroup2 mount>
//   ...
//
// The start time (field 22 of /proc/PID/stat) tells a process from a later
// one with the same pid.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs::state {

struct Origin {
  pid_t pid = 0;
  unsigned long long start = 0;
  std::string cgroup;  // absolute ("/", "/user.slice/..."), no newline
  friend bool operator==(const Origin&, const Origin&) = default;
};

inline constexpr const char* kOriginsXattr = "trusted.containerfs.origins";

// Entries whose path cannot be kept on one line are left out.
std::string encode_origins(const std::vector<Origin>& origins);
// EINVAL on anything malformed (a bad header, pid, start or path).
Result<std::vector<Origin>> decode_origins(std::string_view text);

}  // namespace containerfs::state
