#include "requester.hpp"

#include <fcntl.h>

#include "containerfs/kernel/credentials.hpp"
#include "containerfs/util/fd.hpp"

namespace containerfs::kernel::inject_detail {

Status check_may_trace(int procdir, const std::string& task, const Requester& who) {
  auto as = ActingAs::assume(UserIds{who.uid, who.gid});
  if (!as) return fail(as.error());
  UniqueFd mem(::openat(procdir, (task + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (mem) return {};
  if (errno == ENOENT || errno == ESRCH) return fail(ESRCH);
  return fail(EPERM);
}

}  // namespace containerfs::kernel::inject_detail
