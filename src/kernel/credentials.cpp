#include "containerfs/kernel/credentials.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "containerfs/kernel/pidfd.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::kernel {

namespace {

long set_resgid(gid_t r, gid_t e, gid_t s) { return ::syscall(SYS_setresgid, r, e, s); }
long set_resuid(uid_t r, uid_t e, uid_t s) { return ::syscall(SYS_setresuid, r, e, s); }

}  // namespace

Result<ActingAs> ActingAs::assume(UserIds who) {
  if (who.is_root()) return ActingAs(false);
  // The group first: changing it needs CAP_SETGID, gone with uid 0. The
  // saved ids stay root: the way back.
  if (set_resgid(who.gid, who.gid, 0) != 0) return fail_errno();
  if (set_resuid(who.uid, who.uid, 0) != 0) {
    int err = errno;
    if (set_resgid(0, 0, 0) != 0) std::abort();
    return fail(err);
  }
  return ActingAs(true);
}

ActingAs::~ActingAs() {
  if (!active_) return;
  // An effective uid of 0 again brings back the permitted capabilities.
  if (set_resuid(0, 0, 0) != 0 || set_resgid(0, 0, 0) != 0) {
    log::error("cannot become root again after acting for a user: {}", log::errno_text(errno));
    std::abort();
  }
}

Status may_signal(UserIds who, int pidfd) {
  auto as = ActingAs::assume(who);
  if (!as) return fail(as.error());
  return Pidfd::send_signal(pidfd, 0);
}

}  // namespace containerfs::kernel
