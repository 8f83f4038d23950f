// Moving a process for a requester that is not root: the kernel's own
// ptrace access check decides whether the requester may, because the
// injector's side of it acts as the requester (kernel/credentials.hpp): the
// target's /proc/PID/mem is opened (PTRACE_MODE_ATTACH_FSCREDS: ids,
// dumpability, capabilities, LSMs such as Yama), and the seize itself is
// made with the requester's ids (PTRACE_MODE_ATTACH_REALCREDS).
#pragma once

#include <string>

#include "containerfs/kernel/injector_process.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel::inject_detail {

// EPERM unless `who` may trace the task `task` ("task/<tid>" or "." for the
// process) of the /proc/<pid> directory `procdir`; ESRCH if it is gone.
Status check_may_trace(int procdir, const std::string& task, const Requester& who);

}  // namespace containerfs::kernel::inject_detail
