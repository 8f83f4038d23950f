// One move of one process, as the injector process's worker thread runs it
// (the mechanism is described in containerfs/kernel/injector_process.hpp).
// Every ptrace request must come from the thread that attached, so a
// ProcessInjection lives and dies on one thread: prepare() is phase 1
// (checks, seize, interrupt), stop_and_check() and complete() phase 2 (wait
// for the stops, judge, inject, restore, detach). Destroying it restores
// and detaches whatever is still attached and stopped; a thread that never
// stopped is detached by the kernel when the tracer thread exits.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "containerfs/kernel/injector_process.hpp"
#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/kernel/pidfd.hpp"
#include "containerfs/kernel/process_place.hpp"
#include "containerfs/kernel/seccomp_filter.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"
#include "calls.hpp"
#include "procfs.hpp"
#include "remote.hpp"
#include "tracee.hpp"

namespace containerfs::kernel::inject_detail {

struct InjectRequest {
  InjectRequest() = default;
  InjectRequest(pid_t pid_, pid_t ns_source_pid_, int nstypes_, std::optional<Requester> requester_ = {})
      : pid(pid_), ns_source_pid(ns_source_pid_), nstypes(nstypes_), requester(requester_) {}
  pid_t pid = 0;            // the process to move; a thread id stands for its process
  pid_t ns_source_pid = 0;  // a process in the namespaces to join (the container's init)
  int nstypes = 0;          // CLONE_NEW* mask: which of ns_source_pid's namespaces to join
  std::optional<Requester> requester;  // empty: root asks
  // Where each thread that joins a mount namespace is put back (working
  // directory, then root), if they still are what they were.
  std::optional<ProcessPlace> place;
};

struct InjectorOptions {
  // Every thread must reach a ptrace stop within this.
  std::chrono::milliseconds stop_timeout{2000};
  // Each injected system call must complete within this.
  std::chrono::milliseconds syscall_timeout{1000};
  // Diagnostics: reasons for refusals, what could not be restored.
  std::function<void(std::string_view)> log;
};

class ProcessInjection {
 public:
  ProcessInjection(const InjectRequest& request, const InjectorOptions& options);
  ~ProcessInjection();
  ProcessInjection(const ProcessInjection&) = delete;
  ProcessInjection& operator=(const ProcessInjection&) = delete;

  // Phase 1: every check that needs no stop, then every thread seized with
  // an interrupt queued; nothing waited for. On error the process is
  // untouched. Success with !seized(): nothing to do (already there).
  Status prepare();
  bool seized() const { return !threads_.empty(); }
  // Phase 2, first part: waits for every thread to stop, works out what each
  // one must join and judges the system calls that takes against its
  // seccomp filters. Changes nothing; complete() runs it if not run yet.
  Status stop_and_check();
  // Phase 2: the injection, then every thread restored and detached.
  Status complete();
  // Restores and detaches what is still attached (as the destructor does);
  // true if every thread it seized is detached now, false if one is left
  // to this tracer thread's exit (it never stopped, or exited while traced).
  bool release_all();

 private:
  struct Thread {
    explicit Thread(Tracee t) : tracee(std::move(t)) {}
    Tracee tracee;
    std::optional<std::uint64_t> insn;  // the syscall instruction it uses
    int failure = 0;                    // the injection mechanism failed: no more calls
    // Its seccomp filters (read by check_seccomp), when it has any.
    std::shared_ptr<const seccomp::FilterChain> filters;
  };
  struct SourceNs {
    int flag = 0;
    NsId id;
    UniqueFd fd;  // held: the namespace (and so its inode number) stays alive
  };

  std::unexpected<int> refuse(int err, std::string_view why);
  void note(std::string_view what);
  // Exists; not a kernel thread, the daemon, or the init of a pid namespace.
  Status open_target();
  // Not traced, not in seccomp strict mode, a native 64-bit executable.
  Status check_traceable();
  Status open_source();
  // What the kernel rules out for a process with more than one thread.
  Status check_threads(int mask, std::size_t threads);
  // EINVAL if thread `tid` is one of io_uring's (the kernel runs no
  // injected call in it); nothing else is looked at.
  Status refuse_io_worker(pid_t tid);
  // CLONE_NEW* flags of the requested namespaces thread `tid` is not in yet.
  Result<int> thread_mask(pid_t tid);
  Status seize_new_threads();
  // PTRACE_SEIZE with the requester's credentials, if one is set.
  Result<Tracee> seize_for_requester(pid_t tid);
  // EPERM/EINVAL now if setns would refuse any of `tids` later (its
  // credentials against the namespaces' owners; pid namespace descent).
  Status check_setns_allowed(const std::vector<pid_t>& tids);
  Status settle(Deadline deadline);
  // One poll of a thread while settling: true once it is in a stop to
  // inject from, with every signal blocked.
  Result<bool> settle_one(Tracee& t);
  // stop_and_check() the first time: settles, fills work_ and judges it.
  Status find_work();
  // It has exited, or is exiting (no address space left).
  bool exiting();
  Result<std::uint64_t> insn_for(Thread& th);
  Result<long> call(Thread& th, const SysCall& sys);
  // One call per thread, all at once.
  std::vector<Result<long>> call_all(const std::vector<Thread*>& ths, const std::vector<SysCall>& sys);
  // For each thread, the one that opens the pidfd it uses: the first thread
  // for those sharing its fd table (pthreads do), itself for any other.
  static std::vector<std::size_t> pidfd_openers(const std::vector<Thread*>& ths);
  // Whether `th` unshares its filesystem context (cwd, root, umask) before
  // it joins a mount namespace: setns refuses a thread sharing it.
  bool unshares_fs(int mask) const { return (mask & CLONE_NEWNS) != 0 && work_.size() + idle_ > 1; }
  // Every system call the move would make in each of `ths` (seccomp_check.cpp)
  // judged against its seccomp filters: EPERM, logged, if any would not go
  // ahead (denied, killed, trapped, traced, sent to a notifier).
  Status check_seccomp(const std::vector<Thread*>& ths, const std::vector<int>& masks);
  // Its steps: each thread's filters read (true if any has some); which
  // threads take the /proc path; one thread's calls judged.
  Result<bool> read_seccomp_filters(const std::vector<Thread*>& ths);
  Result<std::vector<bool>> seccomp_proc_paths(const std::vector<Thread*>& ths, const std::vector<std::size_t>& opener);
  Status judge_calls(Thread& th, const std::vector<SysCall>& plan);
  // One call about to be made at `insn`: EPERM unless its filters let it through.
  Status seccomp_lets_through(const Thread& th, std::uint64_t insn, const SysCall& sys);
  bool filters_allow(const Thread& th, std::uint64_t insn, const SysCall& sys) const;
  Result<long> note_failure(Thread& th, long nr, Result<long> r);
  // The call failed because just this thread exited.
  bool vanished(const Thread& th, const Result<long>& r) const;
  Result<std::uint64_t> scratch();
  // Where scratch() borrows (or would), without borrowing yet.
  Result<std::uint64_t> scratch_address();
  // The stack pointers of the stopped threads, and the thread to read memory through.
  std::pair<std::vector<std::uint64_t>, pid_t> stack_pointers();
  Status load_maps(pid_t tid);
  std::optional<pid_t> source_pid_in_target();
  Status move_threads(const std::vector<Thread*>& ths, const std::vector<int>& masks);
  // The pidfd path (in_target.cpp): pidfds opened in the target, setns by
  // them, closed. Threads that must take the /proc path instead are added
  // to `per_ns`.
  struct Pidfds {
    std::vector<std::size_t> opener;  // per thread: the thread that opens its pidfd
    std::vector<Result<long>> fd;     // per opener (indexed by thread): what pidfd_open gave
  };
  Status move_threads_by_pidfd(const std::vector<Thread*>& ths, const std::vector<int>& masks, pid_t source,
                               std::vector<std::size_t>& per_ns);
  Status setns_by_pidfd(const std::vector<Thread*>& ths, const std::vector<int>& masks, const Pidfds& pidfds,
                        const std::vector<std::size_t>& open);
  void close_pidfds(const std::vector<Thread*>& ths, const Pidfds& pidfds);
  Status move_thread_per_ns(Thread& th, int mask);
  // unshare(CLONE_FS) in each of `ths` that joins a mount namespace.
  Status unshare_fs(const std::vector<Thread*>& ths, const std::vector<int>& masks);
  // Puts the threads that joined a mount namespace back in req_.place
  // (place_restore.cpp); what cannot be is logged and left at the root.
  void restore_place(const std::vector<Thread*>& ths, const std::vector<int>& masks);
  void finish_up();

  InjectRequest req_;
  InjectorOptions opts_;

  pid_t tgid_ = 0;
  Pidfd pidfd_;
  UniqueFd procdir_;
  TaskStatus target_status_;
  bool leader_dead_ = false;  // the main thread exited, others run on

  Pidfd src_pidfd_;
  UniqueFd src_dir_;
  std::vector<pid_t> src_nspid_;
  std::vector<SourceNs> src_ns_;
  std::optional<std::optional<pid_t>> src_pid_in_target_;

  std::deque<Thread> threads_;
  std::set<pid_t> dead_tids_;
  std::optional<RemoteMemory> mem_;
  std::optional<std::vector<Mapping>> maps_;
  std::optional<std::uint64_t> gadget_;
  Scratch scratch_;
  // What stop_and_check() found: the threads to move and their masks, and
  // how many live threads need no move.
  std::optional<Status> checked_;
  std::vector<Thread*> work_;
  std::vector<int> work_masks_;
  std::size_t idle_ = 0;
  bool resend_sigstop_ = false;
  bool finished_ = false;
};

}  // namespace containerfs::kernel::inject_detail
