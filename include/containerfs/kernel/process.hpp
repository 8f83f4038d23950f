// Facts about processes read from /proc, and per-thread namespace visits.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

// The NSpid line of /proc/PID/status: the pid in each pid namespace from
// the daemon's down to the process's own.
Result<std::vector<pid_t>> ns_pids(pid_t pid);
// Pure parser of the NSpid line out of a /proc/PID/status text.
Result<std::vector<pid_t>> parse_ns_pids(std::string_view status_text);
// A field of /proc/PID/status ("Tgid", "TracerPid", "Uid", ...).
Result<std::string> status_field(pid_t pid, std::string_view field);
// Numeric field `number` (1-based, as proc(5) counts: 22 starttime, 48
// arg_start, ...) of a /proc/PID/stat text; the command name in field 2
// may hold spaces and parentheses. EINVAL if absent or not a number.
Result<unsigned long long> stat_field(std::string_view stat_text, int number);

// The pid of `pid` as seen from `reader`'s pid namespace; nullopt when the
// reader cannot see it (the target is outside its pid namespace).
Result<std::optional<pid_t>> pid_as_seen_by(pid_t pid, pid_t reader);

// The host pid of the process that `viewer` calls `pid` (its own pid
// namespace's numbering); ESRCH if it sees no such process.
Result<pid_t> pid_from_view_of(pid_t pid, pid_t viewer);

// The thread group (process) of a thread id.
Result<pid_t> tgid_of(pid_t tid);

// Whether any thread of the process is in a seccomp mode ("Seccomp:" of
// /proc/PID/task/*/status: 1 strict, 2 filter).
Result<bool> under_seccomp(pid_t pid);

// The hostname of the uts namespace of the process `pidfd` names (exactly
// that process: never one that reused its pid), read or set from this
// thread by visiting that namespace for the duration of the call.
Result<std::string> read_hostname(int pidfd);
Status write_hostname(int pidfd, std::string_view name);

}  // namespace containerfs::kernel
