// ProcessInjection: checks, seizing, waiting for the stops, the two phases,
// and the final restore/detach. What runs inside the target is in
// in_target.cpp.
#include <elf.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "containerfs/kernel/credentials.hpp"
#include "containerfs/util/log.hpp"
#include "kinds.hpp"
#include "process_injection.hpp"
#include "requester.hpp"
#include "setns_permission.hpp"

namespace containerfs::kernel::inject_detail {

namespace {

constexpr int kNativeElfClass = ELFCLASS64;
constexpr int kMaxSeizeRounds = 64;

}  // namespace

ProcessInjection::ProcessInjection(const InjectRequest& request, const InjectorOptions& options)
    : req_(request), opts_(options) {}

ProcessInjection::~ProcessInjection() { finish_up(); }

std::unexpected<int> ProcessInjection::refuse(int err, std::string_view why) {
  note(fmt::format("cannot move pid {} into the namespaces of pid {}: {} ({})", req_.pid,
                   req_.ns_source_pid, why, log::errno_text(err)));
  return fail(err);
}

void ProcessInjection::note(std::string_view what) {
  if (opts_.log) opts_.log(what);
}

Status ProcessInjection::prepare() {
  if (req_.pid <= 0 || req_.ns_source_pid <= 0) return refuse(EINVAL, "pid must be positive");
  if ((req_.nstypes & ~all_flags()) != 0) return refuse(EINVAL, "not a CLONE_NEW* mask");
  if (auto s = open_target(); !s) return s;
  // A requester other than root moves only what the kernel lets it trace,
  // even when nothing is to be injected (the cgroup move alone).
  if (req_.requester) {
    if (auto ok = check_may_trace(procdir_.get(), ".", *req_.requester); !ok)
      return refuse(ok.error(), ok.error() == EPERM ? fmt::format("uid {} may not trace it", req_.requester->uid)
                                                     : std::string("no such process"));
  }
  if (auto s = open_source(); !s) return s;

  // Nothing differs: done without ptrace (even if it could not be traced).
  auto tids = list_tasks(procdir_.get());
  if (!tids) return refuse(tids.error(), "cannot list its threads");
  int any = 0;
  for (pid_t tid : *tids) {  // (complete() computes every thread's exactly)
    auto m = thread_mask(tid);
    if (!m) {
      auto st = read_stat(procdir_.get(), fmt::format("task/{}/stat", tid));
      if (!st || is_dead_state(st->state)) continue;  // an exited thread
      return refuse(m.error(), "cannot read its namespaces");
    }
    any |= *m;
  }
  if (any == 0) return {};

  // Every refusal that needs no stop comes before any thread is touched.
  for (pid_t tid : *tids)
    if (auto s = refuse_io_worker(tid); !s) return s;
  if (auto s = check_traceable(); !s) return s;
  if (auto s = check_threads(any, static_cast<std::size_t>(target_status_.threads)); !s) return s;
  if (auto s = check_setns_allowed(*tids); !s) return s;
  return seize_new_threads();
}

Status ProcessInjection::check_threads(int mask, std::size_t threads) {
  if (threads <= 1) return {};
  if ((mask & single_threaded_flags()) != 0)
    return refuse(EINVAL, "user and time namespaces can only be joined by a single-threaded process");
  if ((mask & CLONE_NEWPID) != 0)
    return refuse(EINVAL, fmt::format("it has {} threads, and after entering another pid namespace the kernel "
                                      "lets it start no more (clone(CLONE_THREAD) fails); let the container "
                                      "share its parent's pid namespace (rm CONTAINER/pid), or start the "
                                      "program inside", threads));
  return {};
}

Status ProcessInjection::refuse_io_worker(pid_t tid) {
  auto st = read_stat(procdir_.get(), fmt::format("task/{}/stat", tid));
  if (!st) return {};  // exited: nothing to refuse
  if ((st->flags & kPfIoWorker) == 0) return {};
  auto comm = read_small_file(procdir_.get(), fmt::format("task/{}/comm", tid));
  std::string name = comm ? *comm : std::string("?");
  if (name.ends_with('\n')) name.pop_back();
  return refuse(EINVAL, fmt::format("thread {} ({}) is an io_uring worker, which never returns to user space "
                                    "to run a system call; move the process before it uses io_uring, or once "
                                    "its ring is closed", tid, name));
}

Status ProcessInjection::open_target() {
  auto dir = open_proc_dir(req_.pid);
  if (!dir) return refuse(dir.error(), "no such process");
  auto st = read_status(dir->get(), "status");
  if (!st) return refuse(st.error(), "no such process");
  tgid_ = st->tgid;
  if (tgid_ == ::getpid()) return refuse(EINVAL, "it is the daemon itself");
  if (tgid_ != req_.pid) {  // a thread id stands for its process
    dir = open_proc_dir(tgid_);
    if (!dir) return refuse(dir.error(), "no such process");
    st = read_status(dir->get(), "status");
    if (!st) return refuse(st.error(), "no such process");
  }
  // The pidfd pins the identity. /proc/<tgid> was opened before it, so check
  // that the process behind that directory is still alive now: then the pid
  // cannot have been recycled in between, and both name the same process.
  auto pidfd = Pidfd::open(tgid_);
  if (!pidfd) return refuse(pidfd.error() == EINVAL ? ESRCH : pidfd.error(), "no such process");
  pidfd_ = std::move(*pidfd);
  procdir_ = std::move(*dir);
  if (::faccessat(procdir_.get(), "stat", F_OK, 0) != 0) return refuse(ESRCH, "no such process");
  target_status_ = *st;

  bool kthread = st->kthread == 1;
  if (st->kthread < 0) {  // older kernels: PF_KTHREAD in stat
    auto stat = read_stat(procdir_.get(), "stat");
    if (!stat) return refuse(stat.error(), "cannot read /proc/PID/stat");
    kthread = (stat->flags & kPfKthread) != 0;
  }
  if (kthread) return refuse(EINVAL, "it is a kernel thread");
  leader_dead_ = is_dead_state(st->state);
  if (leader_dead_ && st->threads <= 1) return refuse(ESRCH, "it has exited");
  if (st->nspid.back() == 1) return refuse(EINVAL, "it is the init process of its pid namespace");
  return {};
}

Status ProcessInjection::check_traceable() {
  const TaskStatus& st = target_status_;
  if (st.tracer_pid != 0) return refuse(EBUSY, fmt::format("it is traced by pid {}", st.tracer_pid));
  // Strict mode would kill it on the first injected call. Filters are
  // judged once its threads have stopped (check_seccomp), which takes
  // reading them, and that a tracer under seccomp itself may not.
  if (st.seccomp == SECCOMP_MODE_STRICT) return refuse(EPERM, "it runs in seccomp strict mode");
  if (st.seccomp == SECCOMP_MODE_FILTER && ::prctl(PR_GET_SECCOMP) != 0)
    return refuse(EPERM, "it runs under seccomp filters, which a tracer under seccomp itself cannot read");
  auto cls = exe_elf_class(procdir_.get(), "exe");
  if (!cls && leader_dead_) {
    // The main thread exited, others run on: ask one of them.
    if (auto tids = list_tasks(procdir_.get()))
      for (pid_t tid : *tids)
        if (tid != tgid_ && (cls = exe_elf_class(procdir_.get(), fmt::format("task/{}/exe", tid)))) break;
  }
  if (!cls) {
    if (cls.error() == ESRCH) return refuse(ESRCH, "it has exited");
    return refuse(EINVAL, "it has no executable");
  }
  if (*cls != kNativeElfClass) return refuse(EINVAL, "it is not a native 64-bit process");
  return {};
}

Status ProcessInjection::open_source() {
  // As for the target: the directory, then the pidfd, then the directory's
  // process still alive.
  auto dir = open_proc_dir(req_.ns_source_pid);
  if (!dir) return refuse(dir.error(), "no such namespace source process");
  auto pidfd = Pidfd::open(req_.ns_source_pid);
  if (!pidfd) return refuse(pidfd.error(), "no such namespace source process");
  src_pidfd_ = std::move(*pidfd);
  src_dir_ = std::move(*dir);
  if (::faccessat(src_dir_.get(), "stat", F_OK, 0) != 0) return refuse(ESRCH, "no such namespace source process");
  for (const auto& k : kKinds) {
    if ((req_.nstypes & k.flag) == 0) continue;
    SourceNs ns;
    ns.flag = k.flag;
    ns.fd.reset(::openat(src_dir_.get(), fmt::format("ns/{}", k.source_name).c_str(),
                         O_RDONLY | O_CLOEXEC));
    if (!ns.fd) {
      int e = errno;
      if (!src_pidfd_.alive()) return refuse(ESRCH, "the namespace source exited");
      return refuse(e == ENOENT ? EINVAL : e,
                    fmt::format("cannot open its {} namespace", k.source_name));
    }
    auto id = ns_id_of(ns.fd.get());
    if (!id) return refuse(id.error(), "cannot stat a namespace of the source");
    ns.id = *id;
    src_ns_.push_back(std::move(ns));
  }
  return {};
}

Result<int> ProcessInjection::thread_mask(pid_t tid) {
  int mask = 0;
  for (const auto& k : kKinds) {
    if ((req_.nstypes & k.flag) == 0) continue;
    auto src = std::find_if(src_ns_.begin(), src_ns_.end(),
                            [&](const SourceNs& s) { return s.flag == k.flag; });
    for (const char* name : {k.own_name, k.own_name2}) {
      if (name == nullptr) continue;
      auto ino = ns_inode_at(procdir_.get(), fmt::format("task/{}/ns/{}", tid, name));
      if (!ino) return std::unexpected(ino.error());
      if (*ino != src->id.ino) mask |= k.flag;
    }
  }
  return mask;
}

Status ProcessInjection::seize_new_threads() {
  for (int round = 0; round < kMaxSeizeRounds; ++round) {
    auto tids = list_tasks(procdir_.get());
    if (!tids) return refuse(tids.error(), "cannot list its threads");
    bool added = false;
    for (pid_t tid : *tids) {
      if (dead_tids_.count(tid) != 0) continue;
      if (std::any_of(threads_.begin(), threads_.end(),
                      [&](const Thread& th) { return th.tracee.tid() == tid; }))
        continue;
      if (auto s = refuse_io_worker(tid); !s) return s;
      auto t = seize_for_requester(tid);
      if (!t) {
        const int e = t.error();
        if (e == ESRCH) {  // exited meanwhile
          dead_tids_.insert(tid);
          continue;
        }
        if (e == EPERM) {  // an exited thread (zombie leader), traced by someone else, or not allowed
          auto st = read_stat(procdir_.get(), fmt::format("task/{}/stat", tid));
          if (!st || is_dead_state(st->state)) {
            dead_tids_.insert(tid);
            continue;
          }
          auto status = read_status(procdir_.get(), fmt::format("task/{}/status", tid));
          if (status && status->tracer_pid != 0)
            return refuse(EBUSY, fmt::format("thread {} is traced by pid {}", tid, status->tracer_pid));
          if (req_.requester)
            return refuse(EPERM, fmt::format("uid {} may not trace thread {} (not its own, not dumpable, or "
                                             "more privileged)", req_.requester->uid, tid));
          return refuse(EPERM, fmt::format("not allowed to attach to thread {} (Yama ptrace_scope? an LSM?)", tid));
        }
        return refuse(e, fmt::format("cannot attach to thread {}", tid));
      }
      threads_.emplace_back(std::move(*t));
      added = true;
      // Still a thread of this process (not a recycled id)?
      if (::faccessat(procdir_.get(), fmt::format("task/{}", tid).c_str(), F_OK, 0) != 0)
        return refuse(EAGAIN, fmt::format("thread {} vanished while attaching", tid));
    }
    if (!added) return {};
  }
  return refuse(EAGAIN, "it keeps creating threads");
}

Status ProcessInjection::check_setns_allowed(const std::vector<pid_t>& tids) {
  NsTree users, pids;
  std::vector<Joining> sources;
  for (const auto& src : src_ns_) {
    Joining j{src.flag, 0, 0};
    if (src.flag == CLONE_NEWUSER) {
      auto ns = add_user_ns(users, src.fd.get());
      if (!ns) return refuse(ns.error(), "cannot read the user namespace to join");
      j.ns = j.owner_user_ns = *ns;
    } else {
      UniqueFd owner(::ioctl(src.fd.get(), NS_GET_USERNS));
      if (!owner) return refuse(errno, "cannot read the owner of a namespace to join");
      auto ns = add_user_ns(users, owner.get());
      if (!ns) return refuse(ns.error(), "cannot read the owner of a namespace to join");
      j.owner_user_ns = *ns;
      if (src.flag == CLONE_NEWPID) {
        auto pid_ns = add_pid_ns(pids, src.fd.get());
        if (!pid_ns) return refuse(pid_ns.error(), "cannot read the pid namespace to join");
        j.ns = *pid_ns;
      }
    }
    sources.push_back(j);
  }
  for (pid_t tid : tids) {
    auto mask = thread_mask(tid);
    if (!mask || *mask == 0) continue;  // exited, or nothing to do
    auto st = read_status(procdir_.get(), fmt::format("task/{}/status", tid));
    UniqueFd user(::openat(procdir_.get(), fmt::format("task/{}/ns/user", tid).c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd pid(::openat(procdir_.get(), fmt::format("task/{}/ns/pid", tid).c_str(), O_RDONLY | O_CLOEXEC));
    if (!st || !user || !pid) continue;  // exited meanwhile
    auto user_ns = add_user_ns(users, user.get());
    auto pid_ns = add_pid_ns(pids, pid.get());
    if (!user_ns || !pid_ns) return refuse(!user_ns ? user_ns.error() : pid_ns.error(),
                                           fmt::format("cannot read the namespaces of thread {}", tid));
    std::vector<Joining> joining;
    for (const auto& j : sources)
      if (*mask & j.flag) joining.push_back(j);
    ThreadCreds creds{*user_ns, st->euid, st->cap_effective, *pid_ns};
    if (int err = predict_setns(users, pids, creds, joining))
      return refuse(err, fmt::format("thread {} may not join them (setns would fail: {})", tid,
                                     err == EPERM ? "no CAP_SYS_ADMIN over them" : "not below its pid namespace"));
  }
  return {};
}

Result<Tracee> ProcessInjection::seize_for_requester(pid_t tid) {
  if (!req_.requester) return Tracee::seize(tid);
  if (auto ok = check_may_trace(procdir_.get(), fmt::format("task/{}", tid), *req_.requester); !ok)
    return fail(ok.error());
  auto as = ActingAs::assume(UserIds{req_.requester->uid, req_.requester->gid});
  if (!as) return fail(as.error());
  return Tracee::seize(tid);
}

Result<bool> ProcessInjection::settle_one(Tracee& t) {
  using K = StopEvent::Kind;
  if (t.gone() || (t.stopped() && t.signals_blocked())) return true;
  auto ev = t.poll();
  if (!ev) return refuse(ev.error(), fmt::format("waiting for thread {}", t.tid()));
  auto go_on = [&](Status resumed) -> Result<bool> {
    if (!resumed && resumed.error() != ESRCH) return std::unexpected(resumed.error());
    if (auto s = t.interrupt(); !s && s.error() != ESRCH) return std::unexpected(s.error());
    return false;
  };
  switch (ev->kind) {
    case K::none:
      return false;
    case K::exited:
      return true;
    case K::event_stop:
      // Our interrupt, or a group stop: a place to inject from, once no
      // signal can be taken from it any more.
      if (auto s = t.block_signals(); !s) {
        if (s.error() == ESRCH) return false;  // killed: its exit shows next
        return refuse(s.error(), fmt::format("cannot block the signals of thread {}", t.tid()));
      }
      return true;
    case K::signal:
      // Taken from it before its signals were blocked: delivered as if
      // nobody were tracing (a handler runs, a stop signal stops it), then
      // it stops again.
      return go_on(t.deliver());
    case K::syscall:
    case K::other:
      // Not a place to inject from: let it run on to a clean stop.
      return go_on(t.resume(PTRACE_CONT));
  }
  return false;
}

Status ProcessInjection::settle(Deadline deadline) {
  while (true) {
    Backoff backoff;
    while (true) {
      bool all = true;
      for (auto& th : threads_) {
        auto done = settle_one(th.tracee);
        if (!done) return std::unexpected(done.error());
        all = all && *done;
      }
      if (all) break;
      if (Clock::now() >= deadline) {
        for (auto& th : threads_) {
          if (th.tracee.gone() || (th.tracee.stopped() && th.tracee.signals_blocked())) continue;
          auto st = read_stat(procdir_.get(), fmt::format("task/{}/stat", th.tracee.tid()));
          return refuse(EBUSY, fmt::format("thread {} did not stop within {} ms (state {}; frozen, or in an "
                                           "uninterruptible sleep?)",
                                           th.tracee.tid(), opts_.stop_timeout.count(), st ? st->state : '?'));
        }
      }
      backoff.pause();
    }
    // Every known thread is stopped, so none can create more: a last scan
    // finds the threads created before their creator stopped.
    const std::size_t before = threads_.size();
    if (auto s = seize_new_threads(); !s) return s;
    if (threads_.size() == before) return {};
  }
}

Status ProcessInjection::stop_and_check() {
  if (!checked_) {
    checked_ = find_work();
    // Killed meanwhile, it fails whatever step came next (its namespaces,
    // registers or memory no longer readable): say what happened.
    if (!*checked_ && checked_->error() != ESRCH && exiting()) checked_ = refuse(ESRCH, "it exited");
  }
  return *checked_;
}

bool ProcessInjection::exiting() {
  if (!pidfd_.alive()) return true;
  auto maps = read_small_file(procdir_.get(), "maps");  // empty once its address space is gone
  return !maps || maps->empty();
}

Status ProcessInjection::find_work() {
  const Deadline deadline = Clock::now() + opts_.stop_timeout;
  if (auto s = settle(deadline); !s) return s;

  std::vector<Thread*> live;
  for (auto& th : threads_)
    if (!th.tracee.gone()) live.push_back(&th);
  if (live.empty()) return refuse(ESRCH, "it has exited");

  // Recomputed now that nothing runs.
  std::vector<int> masks;
  int any = 0;
  for (Thread* th : live) {
    auto m = thread_mask(th->tracee.tid());
    if (!m) return refuse(m.error(), "cannot read its namespaces");
    masks.push_back(*m);
    any |= *m;
  }
  if (auto s = check_threads(any, live.size()); !s) return s;
  if (any == 0) return {};
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (masks[i] == 0) continue;
    auto regs = live[i]->tracee.original_regs();
    if (!regs) return refuse(regs.error(), "cannot read its registers");
    if (!arch::is_native(*regs)) return refuse(EINVAL, "a thread is not running the native 64-bit ABI");
  }

  for (std::size_t i = 0; i < live.size(); ++i) {
    if (masks[i] == 0) {
      ++idle_;
      continue;
    }
    work_.push_back(live[i]);
    work_masks_.push_back(masks[i]);
  }
  return check_seccomp(work_, work_masks_);
}

Status ProcessInjection::complete() {
  if (auto s = stop_and_check(); !s) return s;
  if (work_.empty()) return {};
  Status result = move_threads(work_, work_masks_);
  if (result) restore_place(work_, work_masks_);
  if (!result && result.error() == ESRCH && !pidfd_.alive())
    result = refuse(ESRCH, "it exited during the injection");
  finish_up();
  return result;
}

bool ProcessInjection::release_all() {
  finish_up();
  return std::all_of(threads_.begin(), threads_.end(),
                     [](const Thread& th) { return th.tracee.detached(); });
}

void ProcessInjection::finish_up() {
  if (finished_) return;
  finished_ = true;
  // Nothing of ours may stay in its memory once any thread runs user code.
  if (mem_) {
    if (auto s = scratch_.restore(*mem_); !s && s.error() != ESRCH)
      note(fmt::format("pid {}: restoring borrowed stack memory failed: {}", req_.pid, log::errno_text(s.error())));
  }
  bool lost = false;
  for (auto& th : threads_) {
    Tracee& t = th.tracee;
    // With every signal blocked only SIGSTOP (which cannot be) is ever
    // taken from a thread: sent again once it is detached.
    for (const siginfo_t& si : std::exchange(t.intercepted(), {})) {
      if (si.si_signo == SIGSTOP) resend_sigstop_ = true;
      else note(fmt::format("pid {} thread {}: signal {} was taken from it while its signals were blocked; "
                            "it is lost", req_.pid, t.tid(), si.si_signo));
    }
    // A signal its own mask lets through is pending: it goes through signal
    // delivery once detached, and the kernel restarts (or not) the system
    // call it was in as for any signal.
    if (t.stopped() && t.signals_blocked() && t.dirty() && !t.in_signal_delivery()) {
      auto st = read_status(procdir_.get(), fmt::format("task/{}/status", t.tid()));
      if (st && (st->pending & ~t.saved_mask()) != 0) t.set_signal_pending();
    }
    if (auto s = t.release(); !s)
      note(fmt::format("pid {} thread {}: restoring/detaching failed: {}", req_.pid, t.tid(),
                       log::errno_text(s.error())));
    lost = lost || t.unrecoverable();
  }
  if (lost && pidfd_) {
    // A thread would run on injected registers: worse than death.
    note(fmt::format("pid {}: a thread could not be restored after the injection; killing it", req_.pid));
    (void)pidfd_.send_signal(SIGKILL);
  } else if (resend_sigstop_ && pidfd_) {
    (void)pidfd_.send_signal(SIGSTOP);
  }
}

}  // namespace containerfs::kernel::inject_detail
