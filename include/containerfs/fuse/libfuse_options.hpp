// Asking libfuse itself whether it takes an option, before anything is
// made: what it accepts depends on its version, so the daemon keeps no list
// of libfuse's options.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace containerfs::fuse {

// nullopt if libfuse accepts the option as the daemon passes it on: an -o
// option ("allow_other", "max_threads=4") or a flag ("-d"); otherwise what
// libfuse said against it ("unknown option(s): `-o cgroupp=/x'"). Prints
// nothing. Not thread-safe (libfuse's log handler is global): start-up only.
std::optional<std::string> libfuse_refusal(std::string_view option);

}  // namespace containerfs::fuse
