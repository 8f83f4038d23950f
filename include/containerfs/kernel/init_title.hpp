// The command line of a container's init names its container,
// "containerfs-init web/db", so that ps, top -c and lsns tell containers
// apart.
//
// An init is started with its container's path as argv[1] and one
// environment string that only keeps room: /proc/PID/cmdline then reads
// "containerfs-init\0web/db\0" from the first instruction on. When the path
// changes (mv of the container or of an ancestor; a restarted daemon that
// finds it out of date) the daemon writes the new title over the init's
// argument area, through /proc/PID/mem, keeping no fd: the title, a NUL,
// and a last argument byte that is not NUL. By the kernel's rule for
// programs that rewrite their arguments (setproctitle(3)), cmdline then
// reads as the title alone, which may run on into the environment's room.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

inline constexpr std::string_view kInitArgv0 = "containerfs-init";

// argv[1] and the environment string of a new init for `path`.
struct InitTitleArgs {
  std::string path;  // the path, cut (see init_title_bytes) if very long
  std::string room;  // "CONTAINERFS_TITLE_ROOM=" and spaces: 255 bytes
};
InitTitleArgs init_title_args(std::string_view path);

// The first `area` bytes of an init's argument area (`arg_area` bytes of
// arguments, the environment after them) that show `path`: "containerfs-init
// PATH", NULs, and a byte at arg_area - 1 that is not NUL. A path too long
// keeps its end, after a marker: "containerfs-init .../db/cache". Empty if
// the area is too small even for that.
std::string init_title_bytes(std::string_view path, size_t arg_area, size_t area);

// Shows `path` on the command line of the init `pid`, unless it shows it
// already. `start_time` (field 22 of /proc/PID/stat) tells the init from a
// process that reused its pid, which is never written to (ESRCH). Waits
// (1 s at most) for an init still in its execve(2) to finish it. EINVAL if
// the area is not an init's; ENOSPC if it has no room for a title.
Status set_init_title(pid_t pid, unsigned long long start_time, std::string_view path);

}  // namespace containerfs::kernel
