// ProcessInjection and the target's seccomp filters: each thread's filters
// are judged for exactly the calls the move makes in it, and a move any of
// them would not let through is refused with EPERM, the process untouched.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <thread>
#include <tuple>

#include "inject_fixture.hpp"

using namespace inject_test;

namespace {

// ---------------------------------------------------------------------------
// Seccomp: the filters are judged for the calls the move makes

using Filter = std::vector<sock_filter>;

// Answers `action` to system call `nr`, allows the rest.
Filter answer_to(long nr, std::uint32_t action) {
  return {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1),
          BPF_STMT(BPF_RET | BPF_K, action), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
}

// In a child: attaches a filter to the calling thread only (no TSYNC).
void attach(const sock_filter* filter, std::size_t n) {
  sock_fprog prog{static_cast<unsigned short>(n), const_cast<sock_filter*>(filter)};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(30);
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) ::_exit(31);
}

void attach(const Filter& filter) { attach(filter.data(), filter.size()); }

std::string seccomp_mode(pid_t pid, pid_t tid) { return task_status(pid, tid, "Seccomp"); }

// Moving pid into src's uts, net and ipc namespaces is refused with EPERM,
// and every thread is released.
void require_eperm(pid_t pid, pid_t src) {
  auto r = run_move({pid, src, kUtsNetIpc});
  REQUIRE_FALSE(r);
  CHECK(r.error() == EPERM);
  REQUIRE(::kill(pid, 0) == 0);
  require_released(pid);
}

// Refused with EPERM, and the target is as it was: alive, released, still
// in its namespaces, answering.
void require_refused_untouched(ReaderTarget& target, pid_t src) {
  const ino_t net = ns_ino(target.pid(), "net"), uts = ns_ino(target.pid(), "uts");
  require_eperm(target.pid(), src);
  CHECK(ns_ino(target.pid(), "net") == net);
  CHECK(ns_ino(target.pid(), "uts") == uts);
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->err == 0);
  CHECK(reply->net == net);
  CHECK(reply->net != ns_ino(src, "net"));
}

// Moved into src's uts, net and ipc namespaces, released, and answering
// from inside (src's hostname is `host`).
void require_moves(ReaderTarget& target, pid_t src, const std::string& host) {
  REQUIRE(run_move({target.pid(), src, kUtsNetIpc}).has_value());
  require_moved(target.pid(), src, {"uts", "net", "ipc"});
  require_released(target.pid());
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->host == host);
  CHECK(reply->err == 0);
}

TEST_CASE_METHOD(InjectTest, "inject: a process under a filter that allows everything is moved", "[inject][seccomp]") {
  auto src = make_source("cfs-src-seccomp");
  const Filter allow = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  ReaderTarget target([&] { attach(allow); });
  REQUIRE(seccomp_mode(target.pid(), target.pid()) == "2");
  CHECK(move({target.pid(), ::getpid(), kUtsNetIpc}).has_value());  // nothing to do
  require_moves(target, src.pid(), "cfs-src-seccomp");
}

TEST_CASE_METHOD(InjectTest, "inject: a filter that would deny, kill, trap, trace or notify setns refuses the move", "[inject][seccomp]") {
  auto src = make_source("cfs-src-deny");
  for (std::uint32_t action : {SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_ERRNO | ENOSYS, SECCOMP_RET_KILL_PROCESS,
                               SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_TRACE | 1,
                               SECCOMP_RET_USER_NOTIF}) {
    INFO("action " << std::hex << action);
    const Filter filter = answer_to(SYS_setns, action);
    ReaderTarget target([&] { attach(filter); });
    require_refused_untouched(target, src.pid());
  }
}

TEST_CASE_METHOD(InjectTest, "inject: SECCOMP_RET_LOG lets the calls through", "[inject][seccomp]") {
  auto src = make_source("cfs-src-log");
  const Filter filter = answer_to(SYS_setns, SECCOMP_RET_LOG);
  ReaderTarget target([&] { attach(filter); });
  require_moves(target, src.pid(), "cfs-src-log");
}

TEST_CASE_METHOD(InjectTest, "inject: each call of the move is judged, not only setns", "[inject][seccomp]") {
  auto src = make_source("cfs-src-calls");
  for (long nr : {SYS_pidfd_open, SYS_close}) {
    INFO("system call " << nr);
    const Filter filter = answer_to(nr, SECCOMP_RET_KILL_PROCESS);
    ReaderTarget target([&] { attach(filter); });
    require_refused_untouched(target, src.pid());
  }
  // Signals take no call in the target (the tracer blocks them): filters
  // that kill the calls a process would use for them do not matter.
  for (long nr : {SYS_rt_sigprocmask, SYS_rt_tgsigqueueinfo}) {
    INFO("system call " << nr);
    const Filter filter = answer_to(nr, SECCOMP_RET_KILL_PROCESS);
    ReaderTarget target([&] { attach(filter); });
    require_moves(target, src.pid(), "cfs-src-calls");
  }
}

TEST_CASE_METHOD(InjectTest, "inject: unshare(CLONE_FS) before a mount namespace is judged in a multi-threaded process",
                 "[inject][seccomp]") {
  auto src = make_source("cfs-src-unshare", kUtsNetIpc | CLONE_NEWNS);
  const Filter filter = answer_to(SYS_unshare, SECCOMP_RET_KILL_PROCESS);
  ReaderTarget target([&] {
    attach(filter);  // the thread made next inherits it
    std::thread([] {
      for (;;) ::pause();
    }).detach();
  });
  REQUIRE(wait_until([&] { return tasks_of(target.pid()).size() == 2; }, 2000ms));
  const ino_t mnt = ns_ino(target.pid(), "mnt"), net = ns_ino(target.pid(), "net");
  auto r = move({target.pid(), src.pid(), kUtsNetIpc | CLONE_NEWNS});
  REQUIRE_FALSE(r);
  CHECK(r.error() == EPERM);
  for (pid_t tid : tasks_of(target.pid())) {
    CHECK(task_ns_ino(target.pid(), tid, "mnt") == mnt);
    CHECK(task_ns_ino(target.pid(), tid, "net") == net);
  }
  require_released(target.pid());
  // Without the mount namespace no unshare is made: it moves.
  require_moves(target, src.pid(), "cfs-src-unshare");
}

TEST_CASE_METHOD(InjectTest, "inject: pidfd_open answered ENOSYS by a filter: the move goes through /proc instead", "[inject][seccomp]") {
  auto src = make_source("cfs-src-nopidfd");
  const Filter filter = answer_to(SYS_pidfd_open, SECCOMP_RET_ERRNO | ENOSYS);
  ReaderTarget target([&] { attach(filter); });
  require_moves(target, src.pid(), "cfs-src-nopidfd");
  // ... and then it is judged on openat.
  const Filter both = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
                       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
                       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
                       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
                       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  ReaderTarget closed([&] { attach(both); });
  require_refused_untouched(closed, src.pid());
}

// setns(fd, ...) allowed for one descriptor number only; anything else kills.
std::array<sock_filter, 8> setns_only_on_fd(std::uint32_t fd) {
  return {{BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setns, 0, 5),
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0]) + 4),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, fd, 1, 0),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)}};
}

TEST_CASE_METHOD(InjectTest, "inject: the descriptor setns gets is foreseen as the kernel will hand it out", "[inject][seccomp]") {
  auto src = make_source("cfs-src-fd");
  // In the target: setns allowed on its lowest free descriptor (what dup()
  // gives), or on the next one.
  for (int off : {0, 1}) {
    INFO("descriptor lowest free + " << off);
    ReaderTarget target([&] {
      const int lowest = ::dup(0);
      if (lowest < 0 || ::close(lowest) != 0) ::_exit(33);
      const auto filter = setns_only_on_fd(static_cast<std::uint32_t>(lowest + off));
      attach(filter.data(), filter.size());
    });
    if (off == 0) {
      require_moves(target, src.pid(), "cfs-src-fd");
    } else {
      require_refused_untouched(target, src.pid());
    }
  }
}

// Kills calls made from [lo, hi) (within one 4 GiB range), allows the rest.
Filter kill_from(std::uint64_t lo, std::uint64_t hi) {
  return {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, instruction_pointer) + 4),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(lo >> 32), 0, 4),
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, instruction_pointer)),
          BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, static_cast<std::uint32_t>(lo), 0, 2),
          BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, static_cast<std::uint32_t>(hi), 1, 0),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
}

TEST_CASE_METHOD(InjectTest, "inject: the instruction pointer a filter sees is the kernel's", "[inject][seccomp]") {
  // The vDSO (the same in a forked child) and its first system call
  // instruction, the one the injector borrows for a thread that is not in
  // a system call (any thread, on aarch64).
  std::uint64_t start = 0, end = 0;
  {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
      if (line.find("[vdso]") != std::string::npos) {
        start = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
        end = std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
      }
  }
  if (start == 0 || (start >> 32) != ((end - 1) >> 32)) {
    WARN("no vDSO within one 4 GiB range: skipped");
    return;
  }
#if defined(__x86_64__)
  const std::vector<std::uint8_t> insn = {0x0f, 0x05};  // syscall
  const std::size_t step = 1;
#else
  const std::vector<std::uint8_t> insn = {0x01, 0x00, 0x00, 0xd4};  // svc #0
  const std::size_t step = 4;
#endif
  std::uint64_t gadget = 0;
  for (std::uint64_t at = start; at + insn.size() <= end && gadget == 0; at += step)
    if (std::memcmp(reinterpret_cast<const void*>(at), insn.data(), insn.size()) == 0) gadget = at;
  REQUIRE(gadget != 0);
  auto src = make_source("cfs-src-ip");

  auto spinner = [](const Filter& filter) {
    return Child([&] {
      attach(filter);
      volatile unsigned long spin = 0;
      for (;;) spin = spin + 1;
    });
  };
  // A thread in user code: the call is made from the vDSO's instruction,
  // and the kernel shows the address right after it.
  for (auto [lo, hi, moves] : {std::tuple{start, end, false}, std::tuple{gadget + insn.size(), gadget + insn.size() + 1, false},
                               std::tuple{gadget, gadget + 1, true}}) {
    INFO("calls from [" << std::hex << lo << ", " << hi << ") are killed");
    Child target = spinner(kill_from(lo, hi));
    REQUIRE(wait_until([&] { return seccomp_mode(target.pid(), target.pid()) == "2"; }, 2000ms));
    const ino_t net = ns_ino(target.pid(), "net");
    auto r = move({target.pid(), src.pid(), kUtsNetIpc});
    CHECK_FALSE(target.wait_exit(100ms));  // still running
    require_released(target.pid());
    CHECK(proc_state(target.pid()) == 'R');
    if (moves) {
      CHECK(r.has_value());
      require_moved(target.pid(), src.pid(), {"uts", "net", "ipc"});
    } else {
      REQUIRE_FALSE(r);
      CHECK(r.error() == EPERM);
      CHECK(ns_ino(target.pid(), "net") == net);
    }
  }
  // A thread blocked in read(): on x86_64 the call is made at read's own
  // instruction, outside the vDSO.
  const Filter from_vdso = kill_from(start, end);
  ReaderTarget in_read([&] { attach(from_vdso); });
#if defined(__x86_64__)
  require_moves(in_read, src.pid(), "cfs-src-ip");
#else
  require_refused_untouched(in_read, src.pid());
#endif
}

TEST_CASE_METHOD(InjectTest, "inject: one thread whose own filter denies setns keeps every thread where it was", "[inject][seccomp]") {
  auto src = make_source("cfs-src-thread");
  const Filter deny = answer_to(SYS_setns, SECCOMP_RET_ERRNO | EPERM);
  Pipe cmd, out;
  Child target([&] {
    std::thread([&] {
      attach(deny);  // this thread only
      for (;;) ::pause();
    }).detach();
    reader_loop(cmd.r(), out.w());
  });
  pid_t filtered = 0;
  REQUIRE(wait_until([&] {
    for (pid_t tid : tasks_of(target.pid()))
      if (tid != target.pid() && seccomp_mode(target.pid(), tid) == "2") filtered = tid;
    return filtered != 0;
  }, 2000ms));
  CHECK(seccomp_mode(target.pid(), target.pid()) == "0");
  const ino_t net = ns_ino(target.pid(), "net");
  require_eperm(target.pid(), src.pid());
  for (pid_t tid : tasks_of(target.pid())) {
    INFO("thread " << tid);
    CHECK(task_ns_ino(target.pid(), tid, "net") == net);
  }
  auto reply = ask(cmd.w(), out.r());
  REQUIRE(reply);
  CHECK(reply->net == net);
}

TEST_CASE_METHOD(InjectTest, "inject: a process in seccomp strict mode is refused with EPERM and lives on", "[inject][seccomp]") {
  auto src = make_source("cfs-src-strict");
  Pipe cmd, out;
  Child target([&] {
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) ::_exit(32);
    char c = 0;
    while (::read(cmd.r(), &c, 1) == 1) (void)!::write(out.w(), &c, 1);  // read/write only
    ::syscall(SYS_exit, 0);
  });
  REQUIRE(wait_until([&] { return seccomp_mode(target.pid(), target.pid()) == "1"; }, 2000ms));
  const ino_t net = ns_ino(target.pid(), "net");
  require_eperm(target.pid(), src.pid());
  CHECK(ns_ino(target.pid(), "net") == net);
  REQUIRE(::write(cmd.w(), "\n", 1) == 1);
  CHECK(read_line(out.r(), 2000ms) == std::optional<std::string>(""));  // echoed: alive and well
  CHECK_FALSE(target.wait_exit(100ms));
}

}  // namespace
