// Writing pids to a tasks file: parsing, checks, and moving each process.
#pragma once

#include <sys/types.h>

#include <string_view>
#include <vector>

#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

// "123\n456\n" -> {123, 456}. One pid a line; blank lines are skipped;
// anything else (signs, garbage, > pid_max range) is EINVAL.
Result<std::vector<pid_t>> parse_pid_list(std::string_view text);

// The write handler of every tasks file. May reply to the request itself
// (the writer moving itself) and then returns nullopt-like EALREADY.
Result<size_t> write_tasks(Filesystem& fs, fuse_req_t req, model::ContainerId id,
                           std::string_view data);

}  // namespace containerfs::fuse
