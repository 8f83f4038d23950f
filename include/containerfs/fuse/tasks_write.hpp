// Writing pids to a tasks file: parsing, checks, and moving each process.
#pragma once

#include <sys/types.h>

#include <string_view>
#include <vector>

#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"

namespace containerfs::fuse {

// One pid of a tasks write, and where its line ends: the bytes of the text
// up to and including its newline (blank lines before it count as its own).
struct PidLine {
  pid_t pid = 0;
  std::size_t end = 0;
  friend bool operator==(const PidLine&, const PidLine&) = default;
};

// "123\n456\n" -> {{123, 4}, {456, 8}}. One pid a line; blank lines are
// skipped (a text of blank lines only is an empty list); anything else
// (signs, garbage, > pid_max range) is EINVAL.
Result<std::vector<PidLine>> parse_pid_lines(std::string_view text);

// The write handler of every tasks file. The pids are moved in order; at
// the first one refused, the write ends short, after the lines moved
// (write(2)'s rule: the writer's next write(2) of the rest gets that pid's
// errno), or fails with its errno if it is the first. A write of blank
// lines only moves nothing. A writer moving itself is answered by the
// handler, short after its own line when more follow (it writes those
// from inside).
Result<WriteOutcome> write_tasks(Filesystem& fs, fuse_req_t req, Node node, std::string_view data);

}  // namespace containerfs::fuse
