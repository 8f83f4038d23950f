// The operation on one process, run entirely on its tracer thread:
// prepare() is phase 1 (checks, seize, interrupt), complete() phase 2 (wait
// for the stops, inject, restore, detach). Destroying it restores and
// detaches whatever is still attached and stopped.
#pragma once

#include <sys/types.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "containerfs/kernel/inject.hpp"
#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/kernel/seccomp_filter.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"
#include "calls.hpp"
#include "procfs.hpp"
#include "remote.hpp"
#include "tracee.hpp"

namespace containerfs::kernel::inject_detail {

using LogFn = std::function<void(std::string_view)>;

class ProcessInjection {
 public:
  ProcessInjection(const InjectRequest& request, const InjectorOptions& options, LogFn log);
  ~ProcessInjection();
  ProcessInjection(const ProcessInjection&) = delete;
  ProcessInjection& operator=(const ProcessInjection&) = delete;

  // Phase 1. Success with !seized(): nothing to do (already there).
  Status prepare();
  bool seized() const { return !threads_.empty(); }
  // Phase 2, first part: waits for every thread to stop, works out what each
  // one must join and judges the system calls that takes against its
  // seccomp filters. Changes nothing; complete() runs it if not run yet.
  Status stop_and_check();
  // Phase 2.
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
  // Exists; not a kernel thread, the daemon, or the init of a pid namespace.
  Status open_target();
  // Not traced, not in seccomp strict mode, a native 64-bit executable.
  Status check_traceable();
  Status open_source();
  // CLONE_NEW* flags of the requested namespaces thread `tid` is not in yet.
  Result<int> thread_mask(pid_t tid);
  Status seize_new_threads();
  // PTRACE_SEIZE with the requester's credentials, if one is set.
  Result<Tracee> seize_for_requester(pid_t tid);
  // EPERM/EINVAL now if setns would refuse any of `tids` later (its
  // credentials against the namespaces' owners; pid namespace descent).
  Status check_setns_allowed(const std::vector<pid_t>& tids);
  Status settle(Deadline deadline);
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
  // Every system call the move would make in each of `ths` (seccomp_check.cpp)
  // judged against its seccomp filters: EPERM, logged, if any would not go
  // ahead (denied, killed, trapped, traced, sent to a notifier).
  Status check_seccomp(const std::vector<Thread*>& ths, const std::vector<int>& masks);
  // One call about to be made at `insn`: EPERM unless its filters let it through.
  Status seccomp_lets_through(const Thread& th, std::uint64_t insn, const SysCall& sys);
  Result<long> note(Thread& th, long nr, Result<long> r);
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
  Status move_thread_per_ns(Thread& th, int mask);
  void requeue_signals(Thread& th);
  void finish_up();

  InjectRequest req_;
  InjectorOptions opts_;
  LogFn log_;

  pid_t tgid_ = 0;
  UniqueFd pidfd_;
  UniqueFd procdir_;
  TaskStatus target_status_;
  bool leader_dead_ = false;  // the main thread exited, others run on

  UniqueFd src_pidfd_;
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
  // What stop_and_check() found: the threads to move and their masks.
  std::optional<Status> checked_;
  std::vector<Thread*> work_;
  std::vector<int> work_masks_;
  bool resend_sigstop_ = false;
  bool finished_ = false;
};

}  // namespace containerfs::kernel::inject_detail
