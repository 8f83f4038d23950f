#include "containerfs/kernel/run_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "containerfs/kernel/child_status.hpp"
#include "containerfs/kernel/reaper.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::kernel {

namespace {

constexpr int kJoinedWithoutUser =
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWTIME;

// Everything the children need, prepared beforehand: they are copies of the
// (multi-threaded) daemon and make raw system calls only.
struct RunPlan {
  const RunSpec* spec = nullptr;
  int status_sock = -1;
  std::array<int, 4> keep{};  // ascending
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

[[noreturn]] void fail_child(const RunPlan& plan, int err) {
  send_child_errno(plan.status_sock, err);
  ::_exit(127);
}

void close_all_but(const RunPlan& plan) {
  unsigned first = 0;
  for (int fd : plan.keep) {
    if (static_cast<unsigned>(fd) > first) ::syscall(SYS_close_range, first, static_cast<unsigned>(fd) - 1, 0U);
    first = static_cast<unsigned>(fd) + 1;
  }
  ::syscall(SYS_close_range, first, ~0U, 0U);
}

pid_t raw_fork() { return static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)); }

// The program: a session of its own on the console, the signal state of a
// fresh process, then /bin/sh.
[[noreturn]] void become_program(const RunPlan& plan) {
  const RunSpec& spec = *plan.spec;
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIGKILL/STOP: EINVAL, fine
  if (::setsid() < 0) fail_child(plan, errno);
  // The console's controlling session, unless another program on it has
  // it already (that one keeps it).
  (void)::ioctl(spec.terminal_fd, TIOCSCTTY, 0);
  for (int fd = 0; fd < 3; ++fd)
    if (::dup2(spec.terminal_fd, fd) < 0) fail_child(plan, errno);
  if (::chdir("/") != 0) fail_child(plan, errno);
  ::execve("/bin/sh", plan.argv, plan.envp);
  fail_child(plan, errno);
}

// The intermediate: the cgroup first (as root), the namespaces, then the
// child inside the pid namespace that hands the program to the init.
[[noreturn]] void intermediate(const RunPlan& plan) {
  const RunSpec& spec = *plan.spec;
  close_all_but(plan);
  if (::write(spec.cgroup_procs_fd, "0", 1) != 1) fail_child(plan, errno);
  if (::setns(spec.init_pidfd, kJoinedWithoutUser) != 0) fail_child(plan, errno);
  if (spec.join_user) {
    // Raw calls: glibc's set*id would signal threads this copy lacks.
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 ||
        ::syscall(SYS_setresgid, spec.gid, spec.gid, spec.gid) != 0 ||
        ::syscall(SYS_setresuid, spec.uid, spec.uid, spec.uid) != 0)
      fail_child(plan, errno);
    if (::setns(spec.init_pidfd, CLONE_NEWUSER) != 0) fail_child(plan, errno);
  }
  pid_t inside = raw_fork();
  if (inside < 0) fail_child(plan, errno);
  if (inside == 0) {
    pid_t program = raw_fork();
    if (program < 0) fail_child(plan, errno);
    if (program == 0) become_program(plan);
    ::_exit(0);  // the program is the init's now
  }
  // Reaped here: it must not become the daemon's (a subreaper) unreaped.
  int status;
  while (::waitpid(inside, &status, __WALL) < 0 && errno == EINTR) {
  }
  ::_exit(0);
}

}  // namespace

Status run_in_container(const RunSpec& spec) {
  UniqueFd status_read, status_write;
  {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return fail_errno();
    status_read.reset(sv[0]);
    status_write.reset(sv[1]);
  }
  std::string sh = "sh", dash_c = "-c", command = spec.command;
  std::string path = kRunPath, home = kRunHome, term = kRunTerm;
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};
  char* envp[] = {path.data(), home.data(), term.data(), nullptr};
  RunPlan plan;
  plan.spec = &spec;
  plan.status_sock = status_write.get();
  plan.keep = {spec.init_pidfd, spec.cgroup_procs_fd, spec.terminal_fd, status_write.get()};
  std::sort(plan.keep.begin(), plan.keep.end());
  plan.argv = argv;
  plan.envp = envp;

  // A copy of the daemon (no shared memory: it joins a user namespace and
  // forks), started like fork(2) without glibc's atfork handlers.
  int pidfd = -1;
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0));
  if (pid < 0) return fail_errno();
  if (pid == 0) intermediate(plan);
  UniqueFd child(pidfd);
  status_write.reset();

  // End of file once the intermediate and its child have exited and the
  // program has exec'd; an errno from whichever step failed.
  auto status = next_child_status(status_read.get(), nullptr);
  int err = !status ? status.error() : *status > 0 ? *status : 0;
  if (err == ETIMEDOUT) {
    log::error("run in a container: no answer within {} ms; intermediate {} killed", kChildStepBound.count(), pid);
    if (!kill_and_reap(child.get())) log::error("run: intermediate {} did not end after SIGKILL", pid);
    return fail(err);
  }
  // It exits right after its child: reaped within the bound.
  pollfd done{child.get(), POLLIN, 0};
  if (::poll(&done, 1, static_cast<int>(kChildStepBound.count())) > 0) (void)reap_pidfd(child.get(), false);
  else if (!kill_and_reap(child.get())) log::error("run: intermediate {} did not end after SIGKILL", pid);
  if (err) return fail(err);
  return {};
}

}  // namespace containerfs::kernel
