// The part of ProcessInjection that acts inside the target: choosing the
// system call instruction, injecting calls (one thread or all at once),
// joining the namespaces (pidfd path, /proc path).
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/nsfs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "calls.hpp"
#include "kinds.hpp"
#include "process_injection.hpp"

namespace containerfs::kernel::inject_detail {

Result<std::uint64_t> ProcessInjection::insn_for(Thread& th) {
  if (th.insn) return *th.insn;
  auto regs = th.tracee.original_regs();
  if (!regs) return std::unexpected(regs.error());
  if (!mem_) mem_.emplace(procdir_.get(), th.tracee.tid());
  // Stopped in a system call: its own instruction is right behind the ip.
  if (auto at = arch::syscall_insn_address(*regs)) {
    std::array<std::uint8_t, arch::kSyscallInsn.size()> bytes{};
    if (mem_->read(*at, bytes.data(), bytes.size())) {
      if (bytes == arch::kSyscallInsn) {
        th.insn = *at;
        return *at;
      }
      th.tracee.set_compat_insn(arch::is_compat_syscall_insn(bytes.data(), bytes.size()));
    }
  }
  if (!gadget_) {
    if (auto s = load_maps(th.tracee.tid()); !s) return std::unexpected(s.error());
    auto g = find_syscall_insn(*mem_, *maps_);
    if (!g) return std::unexpected(g.error());
    gadget_ = *g;
  }
  th.insn = *gadget_;
  return *gadget_;
}

Result<long> ProcessInjection::note_failure(Thread& th, long nr, Result<long> r) {
  if (r) return r;
  th.failure = r.error();
  if (r.error() != ESRCH) {
    const char* why = r.error() == EBUSY       ? "it does not get to run it (frozen?)"
                      : r.error() == EPERM     ? "the call trapped (seccomp or syscall user dispatch)"
                      : r.error() == EFAULT    ? "the call instruction faulted"
                      : r.error() == ETIMEDOUT ? "it neither completed nor stopped again"
                                               : "ptrace failed";
    (void)refuse(r.error(), fmt::format("injecting system call {} into thread {}: {}", nr,
                                        th.tracee.tid(), why));
  }
  return r;
}

std::vector<Result<long>> ProcessInjection::call_all(const std::vector<Thread*>& ths,
                                                     const std::vector<SysCall>& sys) {
  std::vector<Result<long>> out(ths.size(), Result<long>(0));
  std::vector<RemoteCall> calls;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < ths.size(); ++i) {
    Thread& th = *ths[i];
    if (th.failure != 0) {
      out[i] = fail(th.failure);
      continue;
    }
    auto insn = insn_for(th);
    if (!insn) {
      th.failure = insn.error();
      out[i] = refuse(insn.error(), fmt::format("no system call instruction to use in thread {}", th.tracee.tid()));
      continue;
    }
    // Judged beforehand (check_seccomp); this catches an argument that
    // turned out other than foreseen. The thread stays usable (its
    // registers and signal mask are restored all the same).
    if (auto ok = seccomp_lets_through(th, *insn, sys[i]); !ok) {
      out[i] = std::unexpected(ok.error());
      continue;
    }
    RemoteCall c;
    c.tracee = &th.tracee;
    c.insn = *insn;
    c.nr = sys[i].nr;
    c.args = sys[i].args;
    calls.push_back(c);
    index.push_back(i);
  }
  run_calls(calls, SyscallTimeouts{opts_.syscall_timeout, opts_.stop_timeout});
  for (std::size_t k = 0; k < calls.size(); ++k)
    out[index[k]] = note_failure(*ths[index[k]], calls[k].nr, *calls[k].result);
  return out;
}

Result<long> ProcessInjection::call(Thread& th, const SysCall& sys) { return call_all({&th}, {sys})[0]; }

bool ProcessInjection::vanished(const Thread& th, const Result<long>& r) const {
  return !r && r.error() == ESRCH && th.tracee.gone() && pidfd_.alive();
}

std::pair<std::vector<std::uint64_t>, pid_t> ProcessInjection::stack_pointers() {
  std::vector<std::uint64_t> sps;
  pid_t live = 0;
  for (auto& th : threads_) {
    if (!th.tracee.stopped()) continue;
    if (auto regs = th.tracee.original_regs()) {
      sps.push_back(arch::stack_pointer(*regs));
      if (live == 0) live = th.tracee.tid();
    }
  }
  return {std::move(sps), live};
}

Status ProcessInjection::load_maps(pid_t tid) {
  if (maps_) return {};
  auto maps = read_maps(procdir_.get(), fmt::format("task/{}/maps", tid));
  if (!maps) return std::unexpected(maps.error());
  if (maps->empty()) return fail(ESRCH);  // no address space left: exiting
  maps_ = std::move(*maps);
  return {};
}

Result<std::uint64_t> ProcessInjection::scratch() {
  auto [sps, live] = stack_pointers();
  if (live == 0) return fail(ESRCH);
  if (!mem_) mem_.emplace(procdir_.get(), live);
  if (auto s = load_maps(live); !s) return std::unexpected(s.error());
  return scratch_.acquire(*mem_, *maps_, sps);
}

Result<std::uint64_t> ProcessInjection::scratch_address() {
  auto [sps, live] = stack_pointers();
  if (live == 0) return fail(ESRCH);
  if (auto s = load_maps(live); !s) return std::unexpected(s.error());
  return scratch_.locate(*maps_, sps);
}

std::optional<pid_t> ProcessInjection::source_pid_in_target() {
  if (src_pid_in_target_) return *src_pid_in_target_;
  std::optional<pid_t> result;
  // NSpid lists a pid from the daemon's pid namespace down to the task's
  // own; the target sees the source iff the source's namespace at the
  // target's depth is the target's namespace.
  const std::size_t depth = target_status_.nspid.size();
  if (depth == 1) {
    result = req_.ns_source_pid;  // the target lives in our pid namespace
  } else if (auto st = read_status(src_dir_.get(), "status")) {
    src_nspid_ = st->nspid;
    if (src_nspid_.size() >= depth) {
      UniqueFd ns(::openat(src_dir_.get(), "ns/pid", O_RDONLY | O_CLOEXEC));
      for (std::size_t i = depth; ns && i < src_nspid_.size(); ++i)
        ns.reset(::ioctl(ns.get(), NS_GET_PARENT));
      auto target_ns = ns_id_at(procdir_.get(), "ns/pid");
      auto at_depth = ns ? ns_id_of(ns.get()) : Result<NsId>(fail(EBADF));
      if (target_ns && at_depth && *target_ns == *at_depth) result = src_nspid_[depth - 1];
    }
  }
  src_pid_in_target_ = result;
  return result;
}

std::vector<std::size_t> ProcessInjection::pidfd_openers(const std::vector<Thread*>& ths) {
  std::vector<std::size_t> opener(ths.size(), 0);
  for (std::size_t i = 1; i < ths.size(); ++i)
    if (::syscall(SYS_kcmp, ths[0]->tracee.tid(), ths[i]->tracee.tid(), KCMP_FILES, 0, 0) != 0) opener[i] = i;
  return opener;
}

// setns(CLONE_NEWNS) takes a filesystem context (cwd, root, umask) of the
// thread's own, and pthreads share one: each thread that joins a mount
// namespace gets its copy first (unshare(CLONE_FS) is allowed in a
// multi-threaded process), right before its setns.
Status ProcessInjection::unshare_fs(const std::vector<Thread*>& ths, const std::vector<int>& masks) {
  std::vector<Thread*> group;
  for (std::size_t i = 0; i < ths.size(); ++i)
    if (unshares_fs(masks[i])) group.push_back(ths[i]);
  auto rs = call_all(group, std::vector<SysCall>(group.size(), calls::unshare_fs()));
  for (std::size_t k = 0; k < group.size(); ++k) {
    if (vanished(*group[k], rs[k])) continue;
    if (!rs[k]) return std::unexpected(rs[k].error());
    if (*rs[k] < 0)
      return refuse(static_cast<int>(-*rs[k]), fmt::format("unshare(CLONE_FS) failed in thread {}", group[k]->tracee.tid()));
  }
  return {};
}

Status ProcessInjection::move_threads(const std::vector<Thread*>& ths, const std::vector<int>& masks) {
  Status result;
  std::vector<std::size_t> per_ns;  // threads that take the /proc path
  if (auto pid = source_pid_in_target()) {
    result = move_threads_by_pidfd(ths, masks, *pid, per_ns);
  } else {
    for (std::size_t i = 0; i < ths.size(); ++i) per_ns.push_back(i);
  }
  for (std::size_t i : per_ns) {
    if (!result) break;
    result = move_thread_per_ns(*ths[i], masks[i]);
  }
  return result;
}

// One pidfd names all the namespaces; setns(pidfd, mask) joins them all or
// none.
Status ProcessInjection::move_threads_by_pidfd(const std::vector<Thread*>& ths, const std::vector<int>& masks,
                                               pid_t source, std::vector<std::size_t>& per_ns) {
  Status result;
  auto keep_first = [&](Status s) {
    if (result && !s) result = s;
  };
  Pidfds pidfds{pidfd_openers(ths), std::vector<Result<long>>(ths.size(), Result<long>(fail(EBADF)))};
  std::vector<Thread*> openers;
  std::vector<std::size_t> opener_index;
  for (std::size_t i = 0; i < ths.size(); ++i) {
    if (pidfds.opener[i] != i) continue;
    openers.push_back(ths[i]);
    opener_index.push_back(i);
  }
  auto opened = call_all(openers, std::vector<SysCall>(openers.size(), calls::pidfd_open(source)));
  for (std::size_t k = 0; k < openers.size(); ++k) pidfds.fd[opener_index[k]] = opened[k];
  // The number named our source when they opened it iff the source is
  // still alive now: a pid is recycled only after its process is gone.
  if (!src_pidfd_.alive()) keep_first(refuse(ESRCH, "the namespace source exited"));
  std::vector<std::size_t> open;  // threads with a pidfd to use
  for (std::size_t i = 0; i < ths.size(); ++i) {
    const std::size_t o = pidfds.opener[i];
    const Result<long>& fd = pidfds.fd[o];
    if (o == i && vanished(*ths[i], fd)) continue;
    if (!fd) {
      if (o == i) keep_first(std::unexpected(fd.error()));
      else per_ns.push_back(i);  // its opener vanished
    } else if (*fd >= 0) {
      open.push_back(i);
    } else if (calls::takes_proc_path(*fd)) {
      per_ns.push_back(i);
    } else if (o == i) {
      keep_first(refuse(static_cast<int>(-*fd), "pidfd_open failed in the target"));
    }
  }
  if (result) keep_first(setns_by_pidfd(ths, masks, pidfds, open));
  close_pidfds(ths, pidfds);
  return result;
}

// setns in one thread first: when it is refused (EPERM, EINVAL), nothing
// has changed anywhere. Then all the others at once.
Status ProcessInjection::setns_by_pidfd(const std::vector<Thread*>& ths, const std::vector<int>& masks,
                                        const Pidfds& pidfds, const std::vector<std::size_t>& open) {
  Status result;
  auto keep_first = [&](Status s) {
    if (result && !s) result = s;
  };
  for (std::size_t part = 0; part < 2 && result && !open.empty(); ++part) {
    std::vector<Thread*> group;
    std::vector<int> group_masks;
    std::vector<SysCall> setns;
    for (std::size_t k = part == 0 ? 0 : 1; k < (part == 0 ? 1 : open.size()); ++k) {
      const std::size_t i = open[k];
      group.push_back(ths[i]);
      group_masks.push_back(masks[i]);
      setns.push_back(calls::setns(*pidfds.fd[pidfds.opener[i]], masks[i]));
    }
    if (group.empty()) break;
    if (auto s = unshare_fs(group, group_masks); !s) return s;
    auto rs = call_all(group, setns);
    for (std::size_t k = 0; k < group.size(); ++k) {
      if (vanished(*group[k], rs[k])) continue;
      if (!rs[k]) {
        keep_first(std::unexpected(rs[k].error()));
      } else if (*rs[k] < 0) {
        keep_first(refuse(static_cast<int>(-*rs[k]), fmt::format("setns failed in thread {}", group[k]->tracee.tid())));
        if (part == 1)
          note(fmt::format("pid {}: thread {} was not moved, other threads were", req_.pid, group[k]->tracee.tid()));
      }
    }
  }
  return result;
}

// Each pidfd closed once, by a live thread of its fd table.
void ProcessInjection::close_pidfds(const std::vector<Thread*>& ths, const Pidfds& pidfds) {
  std::vector<Thread*> closers;
  std::vector<SysCall> closes;
  for (std::size_t o = 0; o < ths.size(); ++o) {
    if (pidfds.opener[o] != o || !pidfds.fd[o] || *pidfds.fd[o] < 0) continue;
    for (std::size_t i = 0; i < ths.size(); ++i) {
      if (pidfds.opener[i] != o || ths[i]->tracee.gone() || ths[i]->failure != 0) continue;
      closers.push_back(ths[i]);
      closes.push_back(calls::close(*pidfds.fd[o]));
      break;
    }
  }
  (void)call_all(closers, closes);
}

Status ProcessInjection::move_thread_per_ns(Thread& th, int mask) {
  if (auto s = unshare_fs({&th}, {mask}); !s) return s;
  auto buf = scratch();
  if (!buf) return refuse(buf.error(), "no stack memory to borrow in the target");
  std::vector<pid_t> candidates{req_.ns_source_pid};
  if (auto p = source_pid_in_target(); p && *p != req_.ns_source_pid) candidates.push_back(*p);

  std::vector<std::pair<int, long>> opened;  // flag, fd in the target
  Status result;
  for (const auto& k : kKinds) {
    if ((mask & k.flag) == 0) continue;
    const NsId want =
        std::find_if(src_ns_.begin(), src_ns_.end(), [&](const SourceNs& s) { return s.flag == k.flag; })->id;
    long fd = -1;
    for (pid_t cand : candidates) {
      const std::string path = fmt::format("/proc/{}/ns/{}", cand, k.source_name);
      if (auto s = mem_->write(*buf, path.c_str(), path.size() + 1); !s) {
        result = s;
        break;
      }
      auto r = call(th, calls::open_ns(*buf));
      if (!r) {
        result = std::unexpected(r.error());
        break;
      }
      if (*r < 0) continue;
      // Whatever /proc the target sees, check what it opened.
      auto id = ns_id_at(procdir_.get(), fmt::format("task/{}/fd/{}", th.tracee.tid(), *r));
      if (id && *id == want) {  // (stat: also compares the nsfs device)
        fd = *r;
        break;
      }
      (void)call(th, calls::close(*r));
    }
    if (!result) break;
    if (fd < 0) {
      result = refuse(EOPNOTSUPP, fmt::format("the source's {} namespace is not reachable from inside the target",
                                              k.source_name));
      break;
    }
    opened.emplace_back(k.flag, fd);
  }
  if (result) {
    for (auto [flag, fd] : opened) {
      auto r = call(th, calls::setns(fd, flag));
      if (!r) {
        result = std::unexpected(r.error());
        break;
      }
      if (*r < 0) {
        result = refuse(static_cast<int>(-*r), fmt::format("setns failed in thread {}", th.tracee.tid()));
        break;
      }
    }
  }
  for (auto [flag, fd] : opened) (void)call(th, calls::close(fd));
  return result;
}

}  // namespace containerfs::kernel::inject_detail
