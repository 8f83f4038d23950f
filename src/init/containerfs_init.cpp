// containerfs-init: pid 1 of a container. It holds the container's
// namespaces alive, reaps every orphan that the kernel hands to it, and,
// once asked, holds the container's console: a pseudo-terminal whose output
// it keeps in a ring that outlives any daemon (kernel/console_layout.hpp).
//
// It does nothing else, so it is built without any C library (-nostdlib,
// static, a few raw system calls): exec and exit cost least, and a thousand
// of them cost little memory.
#include <asm/termios.h>
#include <linux/errno.h>
#include <asm/unistd.h>
#include <linux/fcntl.h>
#include <linux/memfd.h>
#include <linux/mman.h>
#include <linux/mount.h>
#include <linux/poll.h>
#include <linux/signalfd.h>
#include <linux/stat.h>
#include <linux/wait.h>

#include <csignal>
#include <cstddef>

#include "containerfs/kernel/console_layout.hpp"

namespace {

#if defined(__x86_64__)
long sys(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
long sys(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long x8 asm("x8") = nr;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  register long x4 asm("x4") = e;
  register long x5 asm("x5") = f;
  asm volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#error "containerfs-init: x86_64 or aarch64"
#endif

template <typename T>
long arg(T* p) {
  return reinterpret_cast<long>(p);
}

using containerfs::kernel::ConsoleRingHeader;
namespace layout = containerfs::kernel;

constexpr unsigned long kAllSignals = ~0ul;
constexpr unsigned kFileTypeMask = 0170000;  // S_IFMT, S_IFREG (glibc-free)
constexpr unsigned kRegularFile = 0100000;
constexpr long kEventFdFlags = O_CLOEXEC | O_NONBLOCK;  // EFD_CLOEXEC | EFD_NONBLOCK
constexpr unsigned long bit(int sig) { return 1ul << (sig - 1); }

// The console, once made: the ring's header and data, mapped.
struct Console {
  ConsoleRingHeader* header = nullptr;
  char* data = nullptr;
  bool master_open = false;
};

void store(unsigned long long* at, unsigned long long value) { __atomic_store_n(at, value, __ATOMIC_RELEASE); }

// Moves `fd` to the fixed number `to` (closing `fd`); the number, or -errno.
long move_fd(long fd, int to) {
  long moved = sys(__NR_dup3, fd, to, O_CLOEXEC);
  sys(__NR_close, fd);
  return moved;
}

// "/dev/pts/N" into buf (at least 24 bytes).
void pts_path(char* buf, unsigned int n) {
  const char prefix[] = "/dev/pts/";
  int i = 0;
  for (; prefix[i]; ++i) buf[i] = prefix[i];
  char digits[12];
  int d = 0;
  do {
    digits[d++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n);
  while (d) buf[i++] = digits[--d];
  buf[i] = 0;
}

// In a container with a root of its own, /dev/console is a placeholder (an
// empty regular file) that the console is bound over; anywhere else it is
// left alone (it may be the host's).
void bind_dev_console(unsigned int pty_number) {
  struct statx st;
  if (sys(__NR_statx, AT_FDCWD, arg("/dev/console"), AT_SYMLINK_NOFOLLOW, STATX_TYPE, arg(&st)) != 0) return;
  if ((st.stx_mode & kFileTypeMask) != kRegularFile) return;
  char path[24];
  pts_path(path, pty_number);
  sys(__NR_mount, arg(path), arg("/dev/console"), 0, MS_BIND, 0);
}

// The ring: a memfd of the layout's size, mapped; at the fixed number only
// once the terminal is made or has failed (install_ring).
long make_ring(Console& con) {
  long fd = sys(__NR_memfd_create, arg("containerfs-console"), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return fd;
  long err = sys(__NR_ftruncate, fd, layout::kConsoleRingFileSize);
  // Its size is fixed for good: the daemon maps it, and a ring truncated
  // under it (through /proc/1/fd from inside) would fault in the daemon.
  if (!err) err = sys(__NR_fcntl, fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  long map = err ? err
                 : sys(__NR_mmap, 0, layout::kConsoleRingFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map < 0) {
    sys(__NR_close, fd);
    return map;
  }
  con.header = reinterpret_cast<ConsoleRingHeader*>(map);
  con.data = reinterpret_cast<char*>(map) + layout::kConsoleRingDataOffset;
  con.header->capacity = layout::kConsoleRingCapacity;
  con.header->magic = layout::kConsoleRingMagic;
  return fd;
}

// The pseudo-terminal: /dev/ptmx of the init's mount namespace (a container
// with a root has its own devpts instance there). 0 or -errno.
long make_terminal(Console& con) {
  long master = sys(__NR_openat, AT_FDCWD, arg("/dev/ptmx"), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (master < 0) return master;
  int unlock = 0;
  unsigned int number = 0;
  long err = sys(__NR_ioctl, master, TIOCSPTLCK, arg(&unlock));
  if (!err) err = sys(__NR_ioctl, master, TIOCGPTN, arg(&number));
  long slave = err ? err : sys(__NR_ioctl, master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    sys(__NR_close, master);
    return slave;
  }
  long event = sys(__NR_eventfd2, 0, kEventFdFlags);
  if (event < 0) {
    sys(__NR_close, master);
    sys(__NR_close, slave);
    return event;
  }
  // A size, for the programs that lay out a screen.
  struct winsize size = {24, 80, 0, 0};
  sys(__NR_ioctl, slave, TIOCSWINSZ, arg(&size));
  if ((err = move_fd(master, layout::kConsoleMasterFd)) < 0 || (err = move_fd(slave, layout::kConsoleSlaveFd)) < 0 ||
      (err = move_fd(event, layout::kConsoleEventFd)) < 0) {
    sys(__NR_close, layout::kConsoleMasterFd);
    sys(__NR_close, layout::kConsoleSlaveFd);
    sys(__NR_close, layout::kConsoleEventFd);
    return err;
  }
  con.header->pty_number = number;
  con.master_open = true;
  bind_dev_console(number);
  return 0;
}

// A request for the console: made now if it is not yet (or failed before).
void on_console_request(Console& con) {
  if (!con.header) {
    long ring = make_ring(con);
    if (ring < 0) return;  // no ring, nowhere to say why: the daemon's wait runs out
    long err = con.master_open ? 0 : make_terminal(con);
    con.header->error = static_cast<int>(-err);
    con.header->ready = err == 0;
    __atomic_fetch_add(&con.header->attempts, 1u, __ATOMIC_RELEASE);
    if (move_fd(ring, layout::kConsoleRingFd) < 0) con.header = nullptr;  // (the mapping stays)
    return;
  }
  if (!con.master_open) {
    long err = make_terminal(con);
    con.header->error = static_cast<int>(-err);
    __atomic_store_n(&con.header->ready, err == 0 ? 1u : 0u, __ATOMIC_RELEASE);
  }
  __atomic_fetch_add(&con.header->attempts, 1u, __ATOMIC_RELEASE);
}

// Moves what the terminal has for its reader into the ring, the oldest
// bytes giving way; a bounded amount per call, so that orphans are reaped
// in between.
void drain(Console& con) {
  auto* h = con.header;
  const unsigned long long cap = h->capacity;
  bool appended = false;
  for (int round = 0; round < 16; ++round) {
    unsigned long long written = h->written;
    unsigned long long pos = written % cap;
    unsigned long long room = cap - pos;
    if (room > layout::kConsoleDrainChunk) room = layout::kConsoleDrainChunk;
    store(&h->reserved, written + room);
    long n = sys(__NR_read, layout::kConsoleMasterFd, arg(con.data + pos), static_cast<long>(room));
    if (n <= 0) {
      store(&h->reserved, written);
      if (n != -EAGAIN && n != -EINTR) {
        // Nothing will ever come (cannot happen while the slave is held):
        // stop watching it rather than spin.
        sys(__NR_close, layout::kConsoleMasterFd);
        con.master_open = false;
        __atomic_store_n(&h->ready, 0u, __ATOMIC_RELEASE);
      }
      break;
    }
    store(&h->written, written + static_cast<unsigned long long>(n));
    store(&h->reserved, written + static_cast<unsigned long long>(n));
    appended = true;
  }
  if (appended) {
    unsigned long long one = 1;
    sys(__NR_write, layout::kConsoleEventFd, arg(&one), sizeof one);
  }
}

}  // namespace

extern "C" [[noreturn]] void containerfs_init_main() {
  // Signals are blocked: only SIGKILL (cgroup.kill by the daemon, or from an
  // ancestor pid namespace) ends an init. SIGCHLD and the console request
  // are taken synchronously, through a signalfd.
  unsigned long all = kAllSignals;
  sys(__NR_rt_sigprocmask, SIG_SETMASK, arg(&all), 0, sizeof all);
  sys(__NR_chdir, arg("/"));
  unsigned long wanted = bit(SIGCHLD) | bit(layout::kConsoleRequestSignal);
  long sfd = sys(__NR_signalfd4, -1, arg(&wanted), sizeof wanted, SFD_CLOEXEC | SFD_NONBLOCK);
  Console con;
  for (;;) {
    // Reap every exited child, then sleep until the next signal or output.
    while (sys(__NR_wait4, -1, 0, WNOHANG | __WALL, 0) > 0) {
    }
    if (sfd < 0) {  // no signalfd: reaping alone, as before consoles
      unsigned long child = bit(SIGCHLD);
      sys(__NR_rt_sigtimedwait, arg(&child), 0, 0, sizeof child);
      continue;
    }
    struct pollfd fds[2] = {{static_cast<int>(sfd), POLLIN, 0}, {layout::kConsoleMasterFd, POLLIN, 0}};
    sys(__NR_ppoll, arg(fds), con.master_open ? 2 : 1, 0, 0, 0);
    if (fds[0].revents) {
      struct signalfd_siginfo info;
      bool requested = false;
      while (sys(__NR_read, sfd, arg(&info), sizeof info) == static_cast<long>(sizeof info))
        if (info.ssi_signo == static_cast<unsigned>(layout::kConsoleRequestSignal)) requested = true;
      if (requested) on_console_request(con);
    }
    if (con.master_open && fds[1].revents) drain(con);
  }
}

// Freestanding code must provide these: the compiler may call them for
// copies and zeroing (loop distribution is off here, or they would call
// themselves).
extern "C" __attribute__((optimize("no-tree-loop-distribute-patterns"))) void* memset(void* s, int c, size_t n) {
  auto* p = static_cast<unsigned char*>(s);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(c);
  return s;
}
extern "C" __attribute__((optimize("no-tree-loop-distribute-patterns"))) void* memcpy(void* d, const void* s,
                                                                                      size_t n) {
  auto* to = static_cast<unsigned char*>(d);
  const auto* from = static_cast<const unsigned char*>(s);
  for (size_t i = 0; i < n; ++i) to[i] = from[i];
  return d;
}

// The entry point: no C runtime to set up; the stack is aligned for the call.
#if defined(__x86_64__)
asm(".globl _start\n_start:\n xor %rbp, %rbp\n and $-16, %rsp\n call containerfs_init_main\n hlt\n");
#else
asm(".globl _start\n_start:\n mov x29, #0\n mov x30, #0\n bl containerfs_init_main\n");
#endif
