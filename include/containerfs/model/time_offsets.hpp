// The text of a container's timens_offsets: one "<clock> <secs> <nanosecs>"
// line per clock (monotonic, boottime), as /proc/PID/timens_offsets takes
// it. Each write updates the clocks it names and keeps the other.
#pragma once

#include <string>
#include <string_view>

#include "containerfs/util/result.hpp"

namespace containerfs::model {

// `current` updated by the lines of `written`; EINVAL for a malformed line
// or an unknown clock (names or the numbers 1 and 7, as the kernel takes
// them). The result names each clock once: "monotonic S N\nboottime S N\n".
Result<std::string> merge_time_offsets(std::string_view current, std::string_view written);

}  // namespace containerfs::model
