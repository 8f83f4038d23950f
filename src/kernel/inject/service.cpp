// The injector process's side (injector_process.hpp): a job per move, each
// on its own thread, carried through or undone whatever the daemon does.
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "containerfs/kernel/inject.hpp"
#include "containerfs/kernel/injector_process.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"
#include "session.hpp"
#include "wire.hpp"

namespace containerfs::kernel {

namespace {

using namespace inject_wire;

// How long a prepared move waits for the daemon's proceed before it is
// cancelled: the daemon only answers a FUSE write in between.
constexpr int kProceedTimeoutMs = 30000;

Status write_pid(int cgroup_dir, pid_t pid) {
  return write_file_at(cgroup_dir, "cgroup.procs", fmt::format("{}", pid));
}

// Jobs still running: the service exits only once they are over.
struct JobCount {
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  void add() {
    std::lock_guard lk(mu);
    ++running;
  }
  void done() {
    std::lock_guard lk(mu);
    --running;
    cv.notify_all();
  }
};

struct Service {
  InjectorOptions options;
  JobCount jobs;
};

Status answer(int sock, Kind kind, int error) {
  Note note{kind, error};
  return send_message(sock, &note, sizeof note);
}

// One move, on its own thread, which is the tracer of the process (ptrace
// requests must come from the thread that attached). Returns the answer that
// may only be sent once this thread has exited: after a failure, threads
// that were seized but never stopped are detached by that exit, and the
// daemon must not report the refusal while they are still attached.
struct JobFds {
  UniqueFd sock, join, undo, pidfd;
};

// Whether the process a pidfd names is still alive: then its pid names it.
bool still_alive(int pidfd) { return ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0; }

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

// One move, on its own thread, which is the tracer of the process (ptrace
// requests must come from the thread that attached):
//   prepare: seize every thread (an interrupt queued for each), check the
//            pidfd; answer `prepared`;
//   proceed: write the pid into the new cgroup (answer `joined` if asked
//            to); inject, restore, detach; answer `done`. If the injection
//            fails, the pid goes back into the cgroup it left.
// Nothing but the seize happens before proceed, so a move the daemon never
// confirms (it died, or dropped the ticket) leaves nothing to undo.
// Returns the answer that may only be sent once this thread has exited:
// after a failure, threads that were seized but never stopped are detached
// by that exit, and the daemon must not report the refusal while they are
// still attached.
std::optional<Note> run_job(const Service& service, const Job& job, const JobFds& fds) {
  const int sock = fds.sock.get(), join = fds.join.get(), undo = fds.undo.get();
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // short polling sleeps
  const pid_t pid = job.pid;
  bool moved = false;
  Status outcome;
  {
    inject_detail::ProcessInjection op(InjectRequest{pid, job.ns_source_pid, job.nstypes},
                                       service.options, service.options.log);
    if (auto prep = op.prepare(); !prep) return Note{Kind::prepared, prep.error()};
    // The process the daemon checked is the one seized (not a later one
    // with its pid): as long as it lives, nobody else has its pid.
    if (fds.pidfd && !still_alive(fds.pidfd.get())) {
      log::info("inject: pid {} exited before it could be moved", pid);
      return Note{Kind::prepared, ESRCH};
    }
    (void)answer(sock, Kind::prepared, 0);
    Note command{};
    auto got = receive_message(sock, &command, sizeof command, kProceedTimeoutMs);
    if (!got || !*got || (command.kind != Kind::proceed && command.kind != Kind::proceed_joined)) {
      const bool timed_out = !got && got.error() == ETIMEDOUT;
      log::info("inject: move of pid {} cancelled{}", pid,
                timed_out ? " (no word from the daemon in time)" : "");
      // Whoever still listens learns why (after the detach, see above).
      return timed_out ? std::optional<Note>(Note{Kind::done, ECANCELED}) : std::nullopt;
    }
    const bool tell_joined = command.kind == Kind::proceed_joined;
    if (join >= 0) {
      if (auto ok = write_pid(join, pid); !ok)
        return Note{tell_joined ? Kind::joined : Kind::done, ok.error()};
      moved = true;
    }
    if (tell_joined) (void)answer(sock, Kind::joined, 0);
    if (op.seized()) outcome = op.complete();
  }  // every stopped thread restored and detached
  if (!outcome && moved && undo >= 0) {
    if (auto back = put_back(undo, pid); !back)
      log::warn("inject: pid {} could not be put back into a cgroup: {}", pid,
                std::strerror(back.error()));
  }
  if (outcome) {
    (void)answer(sock, Kind::done, 0);
    return std::nullopt;
  }
  return Note{Kind::done, outcome.error()};
}

// Sends `note` once thread `tid` of this process has exited (bounded).
void answer_after_exit(JobCount& jobs, pid_t tid, UniqueFd sock, Note note, pid_t pid, pid_t source) {
  const std::string path = fmt::format("/proc/self/task/{}", tid);
  for (int i = 0; i < 20000 && ::access(path.c_str(), F_OK) == 0; ++i) ::usleep(50);
  if (!send_message(sock.get(), &note, sizeof note) && note.kind == Kind::done)
    log::warn("inject: moving pid {} into the namespaces of pid {} failed: {}", pid, source,
              std::strerror(note.error));
  sock.reset();
  jobs.done();
}

void start_job(Service& service, const Job& job, JobFds fds) {
  service.jobs.add();
  auto body = [&service, job, f = std::move(fds)]() mutable {
    auto deferred = run_job(service, job, f);
    UniqueFd s = std::move(f.sock);
    f = JobFds{};
    if (deferred) {
      // Another thread answers once this one is gone.
      service.jobs.add();
      try {
        std::thread(answer_after_exit, std::ref(service.jobs), static_cast<pid_t>(::gettid()),
                    std::move(s), *deferred,
                    job.pid, job.ns_source_pid)
            .detach();
      } catch (const std::system_error&) {
        service.jobs.done();
      }
    }
    service.jobs.done();
  };
  try {
    std::thread(std::move(body)).detach();
  } catch (const std::system_error&) {
    // No thread: the job's socket is closed with the lambda; the daemon sees
    // EPIPE and the process was never touched.
    service.jobs.done();
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
              std::strerror(ok.error()));
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(control_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
    log::error("--injector-service: fd {} is not the daemon's control socket", control_fd);
    return 1;
  }

  Service service;
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
      log::error("inject: the control socket failed: {}", std::strerror(got.error()));
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
    if (job.has_pidfd) jf.pidfd = std::move(fds[next++]);
    start_job(service, job, std::move(jf));
  }
  std::unique_lock lk(service.jobs.mu);
  service.jobs.cv.wait(lk, [&] { return service.jobs.running == 0; });
  return 0;
}

}  // namespace containerfs::kernel
