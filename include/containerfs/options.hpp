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

// Takes the -o options one at a time, as libfuse splits them (at commas):
// `-o namespaces=network,uts` arrives as "namespaces=network" then "uts",
// so bare namespace names right after a namespaces= option continue its
// list. ':' separates too ("namespaces=network:uts").
class OptionParser {
 public:
  explicit OptionParser(Options& options) : options_(options) {}
  // true: ours, consumed; false: not ours (libfuse's); EINVAL: ours, bad.
  Result<bool> feed(std::string_view option);
  // Applies a namespaces= list still being collected; EINVAL if bad.
  Status finish();

 private:
  Options& options_;
  std::optional<std::string> ns_list_;
};

}  // namespace containerfs
