// Command line and -o options of the daemon.
#pragma once

#include <functional>
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

// Whether libfuse takes an option that is not a containerfs one, as it was
// written ("allow_other", "max_threads=4", "-d"): nullopt if it does,
// otherwise libfuse's complaint.
using LibfuseCheck = std::function<std::optional<std::string>(std::string_view)>;

// Takes the -o options one at a time, as libfuse splits them (at commas):
// `-o namespaces=network,uts` arrives as "namespaces=network" then "uts",
// so bare namespace names right after a namespaces= option continue its
// list. ':' separates too ("namespaces=network:uts").
//
// With a LibfuseCheck, every option is checked as it comes: one that is
// neither containerfs's nor libfuse's is refused by name; a bare word that
// libfuse refuses right after a namespaces= list is taken as a (bad) name
// of that list. Without one, whatever is not containerfs's is left to
// libfuse unchecked.
class OptionParser {
 public:
  explicit OptionParser(Options& options, LibfuseCheck libfuse = {})
      : options_(options), libfuse_(std::move(libfuse)) {}
  // true: ours, consumed; false: libfuse's; EINVAL: bad (see problem()).
  Result<bool> feed(std::string_view option);
  // Applies a namespaces= list still being collected; EINVAL if bad.
  Status finish();
  // What was wrong with the first bad option, as one line for the user
  // ("unknown option 'cgroupp=/x' (did you mean 'cgroup='?)").
  const std::string& problem() const { return problem_; }

 private:
  std::unexpected<int> refuse(std::string problem);

  Options& options_;
  LibfuseCheck libfuse_;
  std::optional<std::string> ns_list_;
  std::string problem_;
};

// What is wrong with a namespaces= list ("unknown namespace 'net' (valid:
// network uts ...)"); nullopt if nothing is.
std::optional<std::string> ns_list_problem(std::string_view list);

// An option name close to a mistyped one ("cgroupp" -> "cgroup="), among
// containerfs's options and the libfuse ones containerfs(8) names; empty
// if none is close.
std::string close_option_name(std::string_view key);

}  // namespace containerfs
