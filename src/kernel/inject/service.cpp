// The injector process's side (injector_process.hpp): a job per move, each
// run by one worker thread (its tracer) from a small pool, carried through
// or undone whatever the daemon does.
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "containerfs/kernel/injector_process.hpp"
#include "containerfs/kernel/pidfd.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"
#include "process_injection.hpp"
#include "wire.hpp"

namespace containerfs::kernel {

namespace {

using namespace inject_wire;
using inject_detail::InjectorOptions;
using inject_detail::InjectRequest;

// How long a prepared move waits for the daemon's proceed before it is
// cancelled: the daemon only answers a FUSE write in between.
constexpr int kProceedTimeoutMs = 30000;

Status write_pid(int cgroup_dir, pid_t pid) {
  return write_file_at(cgroup_dir, "cgroup.procs", fmt::format("{}", pid));
}

// A job and the descriptors that came with it.
struct JobFds {
  UniqueFd sock, join, undo;
  Pidfd pidfd;
};

// The service's state: a queue of jobs and a pool of worker threads. A
// worker is the tracer of the process it moves; after a move that did not
// end cleanly it may still be attached to threads that never stopped, which
// only its exit detaches, so it ends instead of taking the next job.
struct Service {
  InjectorOptions options;
  std::mutex mu;
  std::condition_variable work;   // a job is queued, or the service stops
  std::condition_variable ended;  // a thread is about to end
  std::deque<std::pair<Job, JobFds>> queue;
  int threads = 0;  // workers and answerers alive
  int idle = 0;     // workers waiting for a job
  bool stopping = false;
};

// Idle workers kept, and how long one waits before it ends.
constexpr int kMaxIdleWorkers = 4;
constexpr auto kIdleWorkerLife = std::chrono::seconds(30);

Status answer(int sock, Kind kind, int error) {
  Note note{kind, error};
  return send_message(sock, &note, sizeof note);
}

// Puts the pid back into the cgroup it left or, if that one is gone (or
// refuses processes now), into its nearest ancestor that takes it.
Status put_back(int cgroup_dir, pid_t pid) {
  UniqueFd dir(::fcntl(cgroup_dir, F_DUPFD_CLOEXEC, 0));
  if (!dir) return fail(errno);
  Status last = fail(ENOENT);
  for (int depth = 0; depth < 64; ++depth) {
    last = write_pid(dir.get(), pid);
    if (last || (last.error() != ENOENT && last.error() != ENODEV && last.error() != EBUSY &&
                 last.error() != EOPNOTSUPP))
      return last;
    struct stat here {}, up {};
    UniqueFd parent(::openat(dir.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!parent || ::fstat(dir.get(), &here) != 0 || ::fstat(parent.get(), &up) != 0 ||
        (here.st_ino == up.st_ino && here.st_dev == up.st_dev))
      return last;  // the cgroup2 root refused it
    dir = std::move(parent);
  }
  return last;
}

// The place a job carries (its paths NUL-terminated within their arrays).
ProcessPlace place_of(const Job& job) {
  auto dir = [](const Job::Dir& d) {
    return KnownDir{std::string(d.path, ::strnlen(d.path, sizeof d.path)), static_cast<dev_t>(d.dev),
                    static_cast<ino_t>(d.ino)};
  };
  return ProcessPlace{dir(job.cwd), dir(job.root)};
}

// How a job ended for its thread: an answer that may only be sent once the
// thread has exited (after a failure, threads that were seized but never
// stopped are detached by that exit, and the daemon must not report the
// refusal while they are still attached), and whether the thread is free of
// tracees and may take another job.
struct JobEnd {
  std::optional<Note> after_exit;
  bool reusable = false;
};

// One move, on a worker thread, which is the tracer of the process (ptrace
// requests must come from the thread that attached):
//   prepare: seize every thread (an interrupt queued for each), check the
//            pidfd; answer `prepared`;
//   proceed: wait for the stops and judge the calls (not for a writer
//            moving itself: it stops only after its answer); write the pid
//            into the new cgroup (answer `joined` if asked to); inject,
//            restore, detach; answer `done`. If the injection fails, the
//            pid goes back into the cgroup it left.
// Nothing but the seize happens before proceed, so a move the daemon never
// confirms (it died, or dropped the ticket) leaves nothing to undo.

JobEnd run_job(const Service& service, const Job& job, const JobFds& fds) {
  const int sock = fds.sock.get(), join = fds.join.get(), undo = fds.undo.get();
  const pid_t pid = job.pid;
  bool moved = false;
  bool reusable = false;
  Status outcome;
  {
    InjectRequest request{pid, job.ns_source_pid, job.nstypes, std::nullopt};
    if (job.has_requester)
      request.requester = Requester{job.requester_uid, job.requester_gid};
    if (job.has_place) request.place = place_of(job);
    inject_detail::ProcessInjection op(request, service.options);
    if (auto prep = op.prepare(); !prep) return {Note{Kind::prepared, prep.error()}};
    // The process the daemon checked is the one seized (not a later one
    // with its pid): as long as it lives, nobody else has its pid.
    if (fds.pidfd && !fds.pidfd.alive()) {
      log::info("inject: pid {} exited before it could be moved", pid);
      return {Note{Kind::prepared, ESRCH}};
    }
    (void)answer(sock, Kind::prepared, 0);
    Note command{};
    auto got = receive_message(sock, &command, sizeof command, kProceedTimeoutMs);
    if (!got || !*got || (command.kind != Kind::proceed && command.kind != Kind::proceed_joined)) {
      const bool timed_out = !got && got.error() == ETIMEDOUT;
      log::info("inject: move of pid {} cancelled{}", pid,
                timed_out ? " (no word from the daemon in time)" : "");
      // Whoever still listens learns why.
      if (timed_out) return {Note{Kind::done, ECANCELED}};
      return {};
    }
    const bool tell_joined = command.kind == Kind::proceed_joined;
    // Before the cgroup changes: every thread stopped and the calls judged
    // (seccomp), so that a refusal leaves the cgroup alone. A writer moving
    // itself stops only once its write is answered, after the join.
    if (!tell_joined && op.seized())
      if (auto checked = op.stop_and_check(); !checked) return {Note{Kind::done, checked.error()}};
    if (join >= 0) {
      if (auto ok = write_pid(join, pid); !ok)
        return {Note{tell_joined ? Kind::joined : Kind::done, ok.error()}};
      moved = true;
    }
    if (tell_joined) (void)answer(sock, Kind::joined, 0);
    if (op.seized()) outcome = op.complete();
    // Back before the release: a move refused before any injection (a
    // writer's own seccomp filters) leaves threads that are still stopped,
    // and they never run in the container's cgroup.
    if (!outcome && moved && undo >= 0) {
      if (auto back = put_back(undo, pid); !back)
        log::warn("inject: pid {} could not be put back into a cgroup: {}", pid,
                  log::errno_text(back.error()));
    }
    reusable = op.release_all() && outcome;
  }  // every stopped thread restored and detached
  if (!outcome) return {Note{Kind::done, outcome.error()}};
  (void)answer(sock, Kind::done, 0);
  return {std::nullopt, reusable};
}

void thread_ends(Service& service) {
  std::lock_guard lk(service.mu);
  --service.threads;
  service.ended.notify_all();
}

// Sends `note` once thread `tid` of this process has exited (bounded).
void answer_after_exit(Service& service, pid_t tid, UniqueFd sock, Note note, pid_t pid,
                       pid_t source) {
  const std::string path = fmt::format("/proc/self/task/{}", tid);
  for (int i = 0; i < 20000 && ::access(path.c_str(), F_OK) == 0; ++i) ::usleep(50);
  if (!send_message(sock.get(), &note, sizeof note) && note.kind == Kind::done)
    log::warn("inject: moving pid {} into the namespaces of pid {} failed: {}", pid, source,
              log::errno_text(note.error));
  sock.reset();
  thread_ends(service);
}

void worker(Service& service) {
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // short polling sleeps
  std::unique_lock lk(service.mu);
  for (;;) {
    ++service.idle;
    service.work.wait_for(lk, kIdleWorkerLife,
                          [&] { return !service.queue.empty() || service.stopping; });
    --service.idle;
    if (service.queue.empty()) break;  // idle too long, or the service stops
    auto [job, fds] = std::move(service.queue.front());
    service.queue.pop_front();
    lk.unlock();
    JobEnd end = run_job(service, job, fds);
    UniqueFd sock = std::move(fds.sock);
    fds = JobFds{};
    lk.lock();
    if (end.after_exit) {
      // Another thread answers once this one is gone.
      try {
        std::thread(answer_after_exit, std::ref(service), static_cast<pid_t>(::gettid()),
                    std::move(sock), *end.after_exit, job.pid, job.ns_source_pid)
            .detach();
        ++service.threads;
      } catch (const std::system_error&) {
      }
    }
    // A thread still tracing something ends (its exit detaches it).
    if (!end.reusable || service.idle >= kMaxIdleWorkers) break;
  }
  --service.threads;
  service.ended.notify_all();
}

// Queues a job; starts a worker if none is idle. Without a thread the job's
// socket is closed: the daemon sees EPIPE and the process was never touched.
void start_job(Service& service, const Job& job, JobFds fds) {
  std::lock_guard lk(service.mu);
  service.queue.emplace_back(job, std::move(fds));
  if (service.idle > 0) {
    service.work.notify_one();
    return;
  }
  try {
    std::thread(worker, std::ref(service)).detach();
    ++service.threads;
  } catch (const std::system_error&) {
    service.queue.pop_back();
  }
}

}  // namespace

int run_injector_service(int control_fd, bool syslog) {
  // Nothing of the daemon's but the control socket: above all not /dev/fuse
  // (the mount must fail once the daemon is dead) nor the cgroup lock.
  ::syscall(SYS_close_range, control_fd + 1, ~0U, 0);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
  ::prctl(PR_SET_NAME, "containerfs-inj", 0, 0, 0);
  log::to_syslog(syslog);
  // Killing it in the middle of an injection is the one way left to harm a
  // process being moved: keep the OOM killer away (it holds little memory).
  // (Lowering it takes CAP_SYS_RESOURCE, which a confined root may lack.)
  if (auto ok = write_file_at(AT_FDCWD, "/proc/self/oom_score_adj", "-1000"); !ok)
    log::info("inject: the injector process stays open to the OOM killer: {}",
              log::errno_text(ok.error()));
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(control_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
    log::error("--injector-service: fd {} is not the daemon's control socket", control_fd);
    return 1;
  }

  // Never freed: detached threads may touch it until the process exits.
  Service& service = *new Service;
  service.options.log = [](std::string_view line) { log::info("inject: {}", line); };
  for (;;) {
    Job job;
    std::vector<UniqueFd> fds;
    auto got = receive_message(control_fd, &job, sizeof job, -1, &fds);
    if (got && !*got) break;  // the daemon is gone (or unmounted)
    if (!got) {
      if (got.error() == EPROTO) {
        log::error("inject: malformed message from the daemon (ignored)");
        continue;
      }
      // Cannot go on reading: end now, so that the daemon sees it at once
      // and starts another helper.
      log::error("inject: the control socket failed: {}", log::errno_text(got.error()));
      ::shutdown(control_fd, SHUT_RDWR);
      break;
    }
    std::size_t wanted = 1 + (job.has_join ? 1 : 0) + (job.has_undo ? 1 : 0) + (job.has_pidfd ? 1 : 0);
    if (job.magic != kMagic || fds.size() != wanted) {
      log::error("inject: malformed job from the daemon (ignored)");
      continue;
    }
    JobFds jf;
    std::size_t next = 0;
    jf.sock = std::move(fds[next++]);
    if (job.has_join) jf.join = std::move(fds[next++]);
    if (job.has_undo) jf.undo = std::move(fds[next++]);
    if (job.has_pidfd) jf.pidfd = Pidfd(std::move(fds[next++]));
    start_job(service, job, std::move(jf));
  }
  std::unique_lock lk(service.mu);
  service.stopping = true;
  service.work.notify_all();
  service.ended.wait(lk, [&] { return service.threads == 0; });
  return 0;
}

}  // namespace containerfs::kernel
