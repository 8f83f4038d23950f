// Acting for a user who is not root: the calling thread takes the user's
// ids for a moment, so that the kernel's own permission checks decide what
// that user may do (ptrace access, kill, uid_map writes). Only the calling
// thread changes (raw system calls: credentials are per thread in the
// kernel, glibc's set*id would change every thread), and it keeps root as
// its saved uid and gid, which is how it becomes root again.
//
// Meanwhile the thread has the user's real, effective and fs ids and no
// effective capabilities; the user's own capabilities, if any, are not
// taken into account (such a user is treated as one without them).
#pragma once

#include <sys/types.h>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
  bool is_root() const { return uid == 0; }
};

class ActingAs {
 public:
  // Switches the calling thread to `who` (does nothing for root).
  static Result<ActingAs> assume(UserIds who);
  ActingAs(ActingAs&& o) noexcept : active_(o.active_) { o.active_ = false; }
  ActingAs& operator=(ActingAs&&) = delete;
  // Root again. Aborts the process if that fails: the thread must not go
  // on with the wrong credentials.
  ~ActingAs();

 private:
  explicit ActingAs(bool active) : active_(active) {}
  bool active_ = false;
};

// Whether `who` may send a signal to the process `pidfd` names (kill(2)'s
// rule, checked by the kernel with signal 0): EPERM if not, ESRCH if it is
// gone.
Status may_signal(UserIds who, int pidfd);

}  // namespace containerfs::kernel
