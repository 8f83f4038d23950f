// The daemon's side of the injector process (injector_process.hpp).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "containerfs/kernel/injector_process.hpp"
#include "containerfs/kernel/reaper.hpp"
#include "containerfs/util/log.hpp"
#include "wire.hpp"

extern char** environ;

namespace containerfs::kernel {

namespace {

using namespace inject_wire;

int ms(std::chrono::milliseconds d) { return static_cast<int>(d.count()); }

struct SocketPair {
  UniqueFd ours, theirs;
};

Result<SocketPair> seqpacket_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return fail(errno);
  return SocketPair{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// Waits for a Note of `kind`: its error as the result; EPIPE at end of file
// (the helper is gone).
Status await(int sock, Kind kind, std::chrono::milliseconds timeout) {
  Note note{};
  auto got = receive_message(sock, &note, sizeof note, ms(timeout));
  if (!got) return fail(got.error());
  if (!*got) return fail(EPIPE);
  if (note.kind != kind) return fail(EPROTO);
  if (note.error != 0) return fail(note.error);
  return {};
}

// A recorded place as the job carries it; false (none sent) for a path
// that does not fit.
bool put_place(const ProcessPlace& place, Job& job) {
  auto put = [](const KnownDir& dir, Job::Dir& out) {
    if (dir.path.size() >= sizeof out.path) return false;
    out.dev = dir.dev;
    out.ino = dir.ino;
    std::memcpy(out.path, dir.path.c_str(), dir.path.size() + 1);
    return true;
  };
  return put(place.cwd, job.cwd) && put(place.root, job.root);
}

}  // namespace

// --- MoveTicket -----------------------------------------------------------

Status MoveTicket::finish() {
  if (!job_) return fail(EINVAL);
  Note proceed{Kind::proceed, 0};
  Status outcome = send_message(job_.get(), &proceed, sizeof proceed);
  if (outcome) outcome = await(job_.get(), Kind::done, timeout_);
  job_.reset();
  return outcome;
}

Status MoveTicket::proceed_detached() {
  if (!job_) return fail(EINVAL);
  Note proceed{Kind::proceed_joined, 0};
  Status joined = send_message(job_.get(), &proceed, sizeof proceed);
  if (joined) joined = await(job_.get(), Kind::joined, timeout_);
  job_.reset();  // the rest is the helper's (it logs a failure)
  return joined;
}

// --- InjectorProcess ------------------------------------------------------

InjectorProcess::InjectorProcess(Options options) : options_(std::move(options)) {
  std::lock_guard lock(mutex_);
  if (auto ok = ensure_running_locked(); !ok)
    log::warn("inject: cannot start the injector process: {} (retried at the next move)",
              log::errno_text(ok.error()));
}

InjectorProcess::~InjectorProcess() {
  std::lock_guard lock(mutex_);
  stop_locked();
}

void InjectorProcess::stop_locked() {
  control_.reset();  // end of file: the helper finishes its jobs and exits
  if (pidfd_) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    int ready;
    do ready = ::poll(&p, 1, ms(options_.wait_timeout) * 3);
    while (ready < 0 && errno == EINTR);
    if (ready > 0)
      (void)reap_pidfd(pidfd_.get(), false);  // ECHILD if a reaper was first
    else
      log::warn("inject: the injector process {} is still busy; left to finish alone", pid_.load());
  }
  pidfd_ = Pidfd();
  pid_ = 0;
}

Status InjectorProcess::ensure_running_locked() {
  if (pidfd_) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    int r;
    do r = ::poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    if (r == 0) return {};  // alive
    log::warn("inject: the injector process {} died; starting a new one", pid_.load());
    stop_locked();
  }
  auto pair = seqpacket_pair();
  if (!pair) return fail(pair.error());
  // Its end becomes the helper's control fd; dup2 onto itself would keep
  // CLOEXEC.
  if (pair->theirs.get() == kInjectorControlFd) {
    int moved = ::fcntl(kInjectorControlFd, F_DUPFD_CLOEXEC, kInjectorControlFd + 1);
    if (moved < 0) return fail(errno);
    pair->theirs.reset(moved);
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  ::posix_spawn_file_actions_adddup2(&actions, pair->theirs.get(), kInjectorControlFd);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  ::posix_spawnattr_setsigmask(&attr, &none);
  ::posix_spawnattr_setsigdefault(&attr, &all);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // Spelled as kInjectorCommandLine (how an injector process is recognised).
  const std::string service(kInjectorServiceFlag), syslog(kInjectorSyslogFlag);
  const char* argv[] = {"containerfs-injector", service.c_str(), options_.syslog ? syslog.c_str() : nullptr,
                        nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, options_.program.c_str(), &actions, &attr,
                         const_cast<char* const*>(argv), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (rc != 0) return fail(rc);
  auto pidfd = Pidfd::open(pid);
  if (!pidfd) {
    ::kill(pid, SIGKILL);  // cannot be watched: never leave it behind
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return fail(pidfd.error());
  }
  pidfd_ = std::move(*pidfd);
  pid_ = pid;
  control_ = std::move(pair->ours);
  log::debug("inject: injector process {} started", pid);
  return {};
}

Result<MoveTicket> InjectorProcess::begin(MoveRequest request) {
  auto pair = seqpacket_pair();
  if (!pair) return fail(pair.error());
  Job job;
  job.pid = request.pid;
  job.ns_source_pid = request.ns_source_pid;
  job.nstypes = request.nstypes;
  job.has_join = request.join_cgroup.valid();
  job.has_undo = request.undo_cgroup.valid();
  job.has_pidfd = request.pidfd.valid();
  if (request.requester) {
    job.has_requester = 1;
    job.requester_uid = request.requester->uid;
    job.requester_gid = request.requester->gid;
  }
  if (request.place) job.has_place = put_place(*request.place, job);
  std::vector<int> fds{pair->theirs.get()};
  if (job.has_join) fds.push_back(request.join_cgroup.get());
  if (job.has_undo) fds.push_back(request.undo_cgroup.get());
  if (job.has_pidfd) fds.push_back(request.pidfd.get());
  {
    std::lock_guard lock(mutex_);
    Status sent = fail(EPIPE);
    for (int attempt = 0; attempt < 2 && !sent; ++attempt) {
      if (auto up = ensure_running_locked(); !up) return fail(up.error());
      sent = send_message(control_.get(), &job, sizeof job, fds, ms(options_.wait_timeout));
      if (!sent && sent.error() != EPIPE && sent.error() != ECONNRESET) break;
      // EPIPE: the helper died since the last look; reap it, start another.
      if (!sent) stop_locked();
    }
    if (!sent) return fail(sent.error());
  }
  pair->theirs.reset();  // the helper has its copy: its death is our EOF
  if (auto prepared = await(pair->ours.get(), Kind::prepared, options_.wait_timeout); !prepared)
    return fail(prepared.error());
  return MoveTicket(std::move(pair->ours), options_.wait_timeout);
}

Status InjectorProcess::run(MoveRequest request) {
  auto ticket = begin(std::move(request));
  if (!ticket) return fail(ticket.error());
  return ticket->finish();
}

}  // namespace containerfs::kernel
