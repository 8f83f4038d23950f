// containerfs-init: pid 1 of a container. It holds the container's
// namespaces alive and reaps every orphan that the kernel hands to it.
//
// It does nothing else, so it is built without any C library (-nostdlib,
// static, a few raw system calls): exec and exit cost least, and a thousand
// of them cost little memory.
#include <asm/unistd.h>
#include <linux/wait.h>

#include <csignal>
#include <cstddef>

namespace {

#if defined(__x86_64__)
long sys(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
               : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
long sys(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  register long x8 asm("x8") = nr;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  register long x4 asm("x4") = e;
  asm volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
  return x0;
}
#else
#error "containerfs-init: x86_64 or aarch64"
#endif

constexpr unsigned long kAllSignals = ~0ul;
constexpr unsigned long kSigchld = 1ul << (SIGCHLD - 1);

}  // namespace

extern "C" [[noreturn]] void containerfs_init_main() {
  // Signals are blocked: only SIGKILL (cgroup.kill by the daemon, or from an
  // ancestor pid namespace) ends an init. SIGCHLD is taken synchronously.
  unsigned long all = kAllSignals;
  sys(__NR_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&all), 0, sizeof all);
  sys(__NR_chdir, reinterpret_cast<long>("/"));
  unsigned long child = kSigchld;
  for (;;) {
    // Reap every exited child, then sleep until the next SIGCHLD.
    while (sys(__NR_wait4, -1, 0, WNOHANG | __WALL, 0) > 0) {
    }
    sys(__NR_rt_sigtimedwait, reinterpret_cast<long>(&child), 0, 0, sizeof child);
  }
}

// The entry point: no C runtime to set up; the stack is aligned for the call.
#if defined(__x86_64__)
asm(".globl _start\n_start:\n xor %rbp, %rbp\n and $-16, %rsp\n call containerfs_init_main\n hlt\n");
#else
asm(".globl _start\n_start:\n mov x29, #0\n mov x30, #0\n bl containerfs_init_main\n");
#endif
