// containerfs-init: pid 1 of a container. It holds the container's
// namespaces alive and reaps every orphan that the kernel hands to it. It is
// linked statically and does nothing else, so that a thousand of them cost
// little memory and start fast.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main() {
  // Signals are blocked: only SIGKILL (from the daemon's cgroup.kill or an
  // ancestor pid namespace) ends an init. SIGCHLD is taken synchronously.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  if (chdir("/") != 0) {
    // Nothing to do: the root always exists; keep reaping regardless.
  }
  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  for (;;) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    sigwaitinfo(&child, nullptr);
  }
}
