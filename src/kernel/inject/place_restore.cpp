// The part of ProcessInjection that puts a process back where it stood
// before it first entered a container: joining a mount namespace made every
// thread's working directory and root that namespace's root (setns(2));
// on the way home each thread that did is sent back to the recorded
// directories, chdir first, then chroot (which leaves the working directory
// alone). A directory is only used if its path, looked up from the thread's
// root, still names the inode recorded, and it is checked again once the
// thread is there; what cannot be restored is logged and left at the root.
#include <fcntl.h>

#include <fmt/format.h>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/log.hpp"
#include "process_injection.hpp"

namespace containerfs::kernel::inject_detail {

namespace {

// The thread's view of `which` ("cwd" or "root") names `dir`.
bool at(int procdir, pid_t tid, const char* which, const KnownDir& dir) {
  UniqueFd there(::openat(procdir, fmt::format("task/{}/{}", tid, which).c_str(),
                          O_PATH | O_DIRECTORY | O_CLOEXEC));
  return there && still_names(there.get(), KnownDir{"/", dir.dev, dir.ino});
}

}  // namespace

void ProcessInjection::restore_place(const std::vector<Thread*>& ths, const std::vector<int>& masks) {
  if (!req_.place) return;
  std::vector<Thread*> moved;
  for (std::size_t i = 0; i < ths.size(); ++i)
    if ((masks[i] & CLONE_NEWNS) != 0 && !ths[i]->tracee.gone() && ths[i]->failure == 0) moved.push_back(ths[i]);
  if (moved.empty()) return;

  struct Step {
    const KnownDir& dir;
    const char* which;  // its /proc/PID/task/TID link
    SysCall (*call)(std::uint64_t);
  };
  for (const Step& step : {Step{req_.place->cwd, "cwd", calls::chdir}, Step{req_.place->root, "root", calls::chroot}}) {
    const KnownDir& dir = step.dir;
    auto left = [&](pid_t tid, std::string_view why) {
      note(fmt::format("pid {} thread {}: its {} is left at the root, not put back to {}: {}", req_.pid, tid,
                       step.which == std::string_view("cwd") ? "working directory" : "root", dir.path, why));
    };
    std::vector<Thread*> going;
    for (Thread* th : moved) {
      const pid_t tid = th->tracee.tid();
      if (at(procdir_.get(), tid, step.which, dir)) continue;  // there already (the root "/")
      UniqueFd root(::openat(procdir_.get(), fmt::format("task/{}/root", tid).c_str(),
                             O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root || !still_names(root.get(), dir)) {
        left(tid, "that path names another directory now, or none");
        continue;
      }
      going.push_back(th);
    }
    if (going.empty()) continue;
    auto buf = scratch();
    if (!buf) {
      for (Thread* th : going) left(th->tracee.tid(), "no stack memory to borrow for the path");
      continue;
    }
    if (auto s = mem_->write(*buf, dir.path.c_str(), dir.path.size() + 1); !s) {
      for (Thread* th : going) left(th->tracee.tid(), log::errno_text(s.error()));
      continue;
    }
    const SysCall sys = step.call(*buf);
    std::erase_if(going, [&](Thread* th) {
      auto insn = insn_for(*th);
      if (insn && filters_allow(*th, *insn, sys)) return false;
      left(th->tracee.tid(), insn ? "its seccomp filters do not allow the call" : "no system call instruction");
      return true;
    });
    auto rs = call_all(going, std::vector<SysCall>(going.size(), sys));
    for (std::size_t k = 0; k < going.size(); ++k) {
      const pid_t tid = going[k]->tracee.tid();
      if (!rs[k] || *rs[k] < 0) {
        left(tid, fmt::format("{} failed: {}", calls::name_of(sys.nr),
                              log::errno_text(rs[k] ? static_cast<int>(-*rs[k]) : rs[k].error())));
      } else if (!at(procdir_.get(), tid, step.which, dir)) {
        // Replaced between the look and the call: not where it was.
        note(fmt::format("pid {} thread {}: {} changed while it was put back; it is not the one recorded",
                         req_.pid, tid, dir.path));
      }
    }
  }
}

}  // namespace containerfs::kernel::inject_detail
