// The texts of running a system: lines written to `run`, a root target,
// and the id maps that say who is root inside a container's user namespace.
// Pure.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs::model {

// The command lines of one write to `run`: one a line ("\r\n" ends a line
// too); blank lines are skipped. EINVAL: none at all, or a NUL byte.
Result<std::vector<std::string>> parse_run_lines(std::string_view text);

// The host id that is id 0 in a user namespace with this uid_map or gid_map
// text ("inside outside count" lines). ENOENT if 0 is not mapped, EINVAL on
// a malformed map.
Result<unsigned> host_id_of_inside_root(std::string_view map);

// A root target as `ln -s` gives it: an absolute path (EINVAL otherwise,
// or with a NUL byte), without its trailing slashes ("/" stays).
Result<std::string> root_target(std::string_view target);

}  // namespace containerfs::model
