// Command line and -o options of the daemon.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "containerfs/util/result.hpp"

namespace containerfs {

struct Options {
  std::string source = "containerfs";  // shown in /proc/mounts
  std::string cgroup;                  // cgroup=DIR; empty: <cgroup2 mount>/containerfs
  int namespaces = 0;                  // namespaces=LIST as CLONE_NEW* mask
  std::string state = "/run/containerfs";
};

// Default of namespaces=: network,uts,ipc,pid,mount,cgroup.
int default_namespaces();

// Applies one containerfs -o option ("cgroup=/x"); returns false if the
// option is not one of ours (libfuse's then), EINVAL if ours but invalid.
Result<bool> apply_option(Options& options, std::string_view option);

}  // namespace containerfs
