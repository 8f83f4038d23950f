// containerfs::kernel::Injector against real processes (runs as root).
// Every child is killed and reaped by its Child guard; every wait is bounded.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdarg>
#include <cstddef>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "containerfs/kernel/inject.hpp"

namespace {

using namespace std::chrono_literals;
using containerfs::kernel::InjectRequest;
using containerfs::kernel::Injector;
using containerfs::kernel::InjectorOptions;
using containerfs::kernel::Ticket;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr int kUtsNetIpc = CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWIPC;

// ---------------------------------------------------------------------------
// Helpers

InjectorOptions test_options() {
  InjectorOptions o;
  o.log = [](std::string_view msg) {
    if (std::getenv("CFS_TEST_VERBOSE")) std::fprintf(stderr, "[injector] %.*s\n", int(msg.size()), msg.data());
  };
  return o;
}

// Everything a child does goes through raw syscalls and write(2).
void say(int fd, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void say(int fd, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) (void)!::write(fd, buf, std::min<size_t>(size_t(n), sizeof buf - 1));
}

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() { REQUIRE(::pipe2(fd, O_CLOEXEC) == 0); }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  Pipe(const Pipe&) = delete;
  int r() const { return fd[0]; }
  int w() const { return fd[1]; }
};

// One line from fd within the timeout (without the newline).
std::optional<std::string> read_line(int fd, Ms timeout) {
  std::string line;
  const auto until = Clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<Ms>(until - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, int(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) return std::nullopt;
    if (c == '\n') return line;
    line.push_back(c);
  }
}

bool wait_until(const std::function<bool()>& pred, Ms timeout) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (pred()) return true;
    ::usleep(1000);
  }
  return pred();
}

// A forked child running `body`; killed and reaped (bounded) on destruction.
class Child {
 public:
  explicit Child(const std::function<void()>& body) {
    pid_ = ::fork();
    if (pid_ == 0) {
      body();
      ::_exit(0);
    }
    REQUIRE(pid_ > 0);
  }
  Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), reaped_(o.reaped_) {}
  Child(const Child&) = delete;
  ~Child() { reap(); }
  pid_t pid() const { return pid_; }

  // The wait status once it exits; nullopt if still running after timeout.
  std::optional<int> wait_exit(Ms timeout) {
    if (pid_ <= 0 || reaped_) return std::nullopt;
    const auto until = Clock::now() + timeout;
    while (true) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG | __WALL);
      if (r == pid_) {
        reaped_ = true;
        return st;
      }
      if (r < 0 && errno != EINTR) return std::nullopt;
      if (Clock::now() >= until) return std::nullopt;
      ::usleep(1000);
    }
  }
  void reap() {
    if (pid_ <= 0 || reaped_) return;
    ::kill(pid_, SIGKILL);
    ::kill(pid_, SIGCONT);
    (void)wait_exit(5000ms);
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

ino_t ns_ino(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}
ino_t ns_ino(pid_t pid, const char* kind) { return ns_ino("/proc/" + std::to_string(pid) + "/ns/" + kind); }
ino_t task_ns_ino(pid_t pid, pid_t tid, const char* kind) {
  return ns_ino("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/ns/" + kind);
}

std::vector<pid_t> tasks_of(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.push_back(std::atoi(e->d_name));
    ::closedir(d);
  }
  return out;
}

std::string status_field(const std::string& status_path, const std::string& key) {
  std::ifstream in(status_path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return {};
}
std::string task_status(pid_t pid, pid_t tid, const std::string& key) {
  return status_field("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status", key);
}
char proc_state(pid_t pid) {
  std::string s = status_field("/proc/" + std::to_string(pid) + "/status", "State");
  return s.empty() ? '?' : s[0];
}

// No thread traced; none in a tracing stop; none group-stopped unless allowed.
void require_released(pid_t pid, bool allow_stopped = false) {
  auto tids = tasks_of(pid);
  REQUIRE(!tids.empty());
  for (pid_t tid : tids) {
    INFO("thread " << tid);
    const std::string tracer = task_status(pid, tid, "TracerPid");
    const std::string st = task_status(pid, tid, "State");
    if (tracer.empty() || st.empty()) continue;  // that thread exited meanwhile
    CHECK(tracer == "0");
    CHECK(st[0] != 't');
    if (!allow_stopped) CHECK(st[0] != 'T');
  }
}

// A process holding fresh namespaces (uts, net, ipc + extra), hostname set.
Child make_source(const std::string& hostname, int flags = kUtsNetIpc,
                  const std::function<void()>& setup = {}) {
  Pipe ready;
  Child c([&] {
    if (::unshare(flags) != 0) ::_exit(10);
    if ((flags & CLONE_NEWUTS) && ::sethostname(hostname.data(), hostname.size()) != 0) ::_exit(11);
    if (setup) setup();
    say(ready.w(), "ready\n");
    for (;;) ::pause();
  });
  REQUIRE(read_line(ready.r(), 5000ms) == std::optional<std::string>("ready"));
  return c;
}

std::string my_hostname() {
  char h[65] = {};
  ::gethostname(h, 64);
  return h;
}

// Target body: blocks in read(cmd); for each byte answers
// "<byte> <hostname> <net inode> <errno of a failed read or 0>" on out.
// Exits on 'q' or EOF.
[[noreturn]] void reader_loop(int cmd, int out) {
  for (;;) {
    char c = 0;
    ssize_t n = ::read(cmd, &c, 1);
    int err = n < 0 ? errno : 0;
    if (n == 0) ::_exit(0);
    char host[65] = {};
    ::gethostname(host, 64);
    struct stat st {};
    ::stat("/proc/thread-self/ns/net", &st);
    say(out, "%c %s %lu %d\n", n < 0 ? '!' : c, host, (unsigned long)st.st_ino, err);
    if (c == 'q') ::_exit(0);
  }
}

struct Reply {
  char byte = 0;
  std::string host;
  unsigned long net = 0;
  int err = 0;
};
std::optional<Reply> parse_reply(const std::optional<std::string>& line) {
  if (!line) return std::nullopt;
  std::istringstream in(*line);
  Reply r;
  if (!(in >> r.byte >> r.host >> r.net >> r.err)) return std::nullopt;
  return r;
}
std::optional<Reply> ask(int cmd, int out, char byte = 'x') {
  if (::write(cmd, &byte, 1) != 1) return std::nullopt;
  return parse_reply(read_line(out, 5000ms));
}

// A reader target with its pipes.
struct ReaderTarget {
  Pipe cmd, out;
  Child child;
  explicit ReaderTarget(const std::function<void()>& before = {})
      : child([&] {
          if (before) before();
          reader_loop(cmd.r(), out.w());
        }) {
    // Answering proves it is running and set up.
    auto r = ::ask(cmd.w(), out.r());
    REQUIRE(r);
    REQUIRE(r->err == 0);
    // Let it block in read() again.
    REQUIRE(wait_until([&] { return proc_state(child.pid()) == 'S'; }, 2000ms));
  }
  pid_t pid() const { return child.pid(); }
  std::optional<Reply> ask(char byte = 'x') { return ::ask(cmd.w(), out.r(), byte); }
};

void require_moved(pid_t pid, pid_t src, std::initializer_list<const char*> kinds) {
  for (pid_t tid : tasks_of(pid))
    for (const char* k : kinds) {
      INFO("thread " << tid << " ns " << k);
      CHECK(task_ns_ino(pid, tid, k) == ns_ino(src, k));
    }
}

// ---------------------------------------------------------------------------
// Moving

TEST_CASE("inject: a sleeping process is moved; nanosleep restarts and sleeps its full time", "[inject]") {
  auto src = make_source("cfs-src-sleep");
  Pipe out;
  Child target([&] {
    timespec t0{}, t1{};
    ::clock_gettime(CLOCK_MONOTONIC, &t0);
    timespec req{1, 500'000'000};
    int rc = ::nanosleep(&req, nullptr);
    ::clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1'000'000;
    say(out.w(), "%d %ld %s\n", rc, ms, my_hostname().c_str());
    for (;;) ::pause();
  });
  const ino_t old_net = ns_ino(target.pid(), "net");
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'S'; }, 2000ms));
  ::usleep(600'000);

  Injector inj(test_options());
  auto r = inj.run({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(r.has_value());
  require_moved(target.pid(), src.pid(), {"uts", "net", "ipc"});
  CHECK(ns_ino(target.pid(), "net") != old_net);
  require_released(target.pid());

  auto line = read_line(out.r(), 5000ms);
  REQUIRE(line);
  int rc = -1;
  long ms = 0;
  char host[80] = {};
  REQUIRE(std::sscanf(line->c_str(), "%d %ld %79s", &rc, &ms, host) == 3);
  CHECK(rc == 0);
  CHECK(ms >= 1500);  // restarted with the remaining time, not cut short
  CHECK(ms < 1900);   // ... nor started over (that would be >= 2100)
  CHECK(std::string(host) == "cfs-src-sleep");
}

TEST_CASE("inject: a process blocked in read() is moved; the read returns data written later", "[inject]") {
  auto src = make_source("cfs-src-read");
  ReaderTarget target;
  Injector inj(test_options());
  REQUIRE(inj.run({target.pid(), src.pid(), kUtsNetIpc}).has_value());
  require_moved(target.pid(), src.pid(), {"uts", "net", "ipc"});
  require_released(target.pid());
  auto r = target.ask('a');
  REQUIRE(r);
  CHECK(r->byte == 'a');
  CHECK(r->err == 0);  // the read was restarted, not failed
  CHECK(r->host == "cfs-src-read");
  CHECK(r->net == ns_ino(src.pid(), "net"));

  SECTION("and back again: only what differs is joined") {
    auto src2 = make_source("cfs-src-read2", CLONE_NEWUTS);
    REQUIRE(inj.run({target.pid(), src2.pid(), kUtsNetIpc}).has_value());
    // src2 shares net/ipc with the host: the target goes back to the host's.
    CHECK(ns_ino(target.pid(), "net") == ns_ino(::getpid(), "net"));
    CHECK(ns_ino(target.pid(), "uts") == ns_ino(src2.pid(), "uts"));
    auto r2 = target.ask('b');
    REQUIRE(r2);
    CHECK(r2->host == "cfs-src-read2");
    // Already there: succeeds (without ptrace), stays put.
    REQUIRE(inj.run({target.pid(), src2.pid(), kUtsNetIpc}).has_value());
    CHECK(ns_ino(target.pid(), "uts") == ns_ino(src2.pid(), "uts"));
    require_released(target.pid());
  }
}

TEST_CASE("inject: a busy-looping process is moved (syscall instruction from elsewhere)", "[inject]") {
  auto src = make_source("cfs-src-busy");
  Pipe cmd, out;
  REQUIRE(::fcntl(cmd.r(), F_SETFL, O_NONBLOCK) == 0);
  Child target([&] {
    volatile unsigned long spin = 0;
    for (;;) {
      for (int i = 0; i < 20'000'000; ++i) spin = spin + 1;
      char c;
      if (::read(cmd.r(), &c, 1) == 1) say(out.w(), "%s %lu\n", my_hostname().c_str(), (unsigned long)spin);
    }
  });
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'R'; }, 2000ms));
  Injector inj(test_options());
  for (int i = 0; i < 5; ++i) REQUIRE(inj.run({target.pid(), src.pid(), kUtsNetIpc}).has_value());
  require_moved(target.pid(), src.pid(), {"uts", "net", "ipc"});
  require_released(target.pid());
  REQUIRE(::write(cmd.w(), "x", 1) == 1);
  auto line = read_line(out.r(), 10000ms);
  REQUIRE(line);
  CHECK(line->rfind("cfs-src-busy ", 0) == 0);
}

TEST_CASE("inject: every thread of a 16-thread process is moved", "[inject]") {
  auto src = make_source("cfs-src-16");
  Pipe cmd, out;
  Child target([&] {
    // 12 readers, 2 sleepers, 1 spinner + the main thread in pause().
    for (int i = 0; i < 12; ++i) std::thread([&] { reader_loop(cmd.r(), out.w()); }).detach();
    for (int i = 0; i < 2; ++i)
      std::thread([] {
        for (;;) {
          timespec ts{0, 10'000'000};
          ::nanosleep(&ts, nullptr);
        }
      }).detach();
    std::thread([] {
      volatile unsigned long spin = 0;
      for (;;) spin = spin + 1;
    }).detach();
    for (;;) ::pause();
  });
  REQUIRE(wait_until([&] { return tasks_of(target.pid()).size() == 16; }, 5000ms));
  ::usleep(50'000);
  Injector inj(test_options());
  REQUIRE(inj.run({target.pid(), src.pid(), CLONE_NEWNET | CLONE_NEWUTS}).has_value());
  REQUIRE(tasks_of(target.pid()).size() == 16);
  require_moved(target.pid(), src.pid(), {"net", "uts"});
  require_released(target.pid());
  // Each reader thread answers from its own (moved) uts namespace.
  REQUIRE(::write(cmd.w(), "ccccccccccccc", 12) == 12);
  for (int i = 0; i < 12; ++i) {
    auto r = parse_reply(read_line(out.r(), 5000ms));
    REQUIRE(r);
    CHECK(r->host == "cfs-src-16");
    CHECK(r->net == ns_ino(src.pid(), "net"));
    CHECK(r->err == 0);
  }
}

TEST_CASE("inject: a process whose main thread has exited is moved", "[inject]") {
  auto src = make_source("cfs-src-zombie-main");
  Pipe cmd, out;
  Child target([&] {
    for (int i = 0; i < 2; ++i) std::thread([&] { reader_loop(cmd.r(), out.w()); }).detach();
    ::syscall(SYS_exit, 0);  // only this thread; no unwinding through the test framework
  });
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'Z' && tasks_of(target.pid()).size() == 3; }, 2000ms));
  Injector inj(test_options());
  REQUIRE(inj.run({target.pid(), src.pid(), kUtsNetIpc}).has_value());
  for (pid_t tid : tasks_of(target.pid())) {
    if (tid == target.pid()) continue;
    CHECK(task_ns_ino(target.pid(), tid, "net") == ns_ino(src.pid(), "net"));
    CHECK(task_status(target.pid(), tid, "TracerPid") == "0");
  }
  REQUIRE(::write(cmd.w(), "ab", 2) == 2);
  for (int i = 0; i < 2; ++i) {
    auto r = parse_reply(read_line(out.r(), 5000ms));
    REQUIRE(r);
    CHECK(r->host == "cfs-src-zombie-main");
  }
}

TEST_CASE("inject: many operations in a row on one process", "[inject]") {
  auto a = make_source("cfs-src-many-a");
  auto b = make_source("cfs-src-many-b");
  ReaderTarget target;
  Injector inj(test_options());
  for (int i = 0; i < 150; ++i) {
    INFO("run " << i);
    auto r = inj.run({target.pid(), i % 2 ? b.pid() : a.pid(), kUtsNetIpc});
    REQUIRE(r.has_value());
    REQUIRE(ns_ino(target.pid(), "uts") == ns_ino(i % 2 ? b.pid() : a.pid(), "uts"));
  }
  require_released(target.pid());
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->err == 0);
  CHECK(reply->host == "cfs-src-many-b");
}

TEST_CASE("inject: threads created during the operation are moved too", "[inject]") {
  auto src = make_source("cfs-src-spawn");
  Child target([&] {
    // Four threads create short-lived threads as fast as they can (up to 60
    // alive), so that some clone() is always in flight when we interrupt.
    std::atomic<int> alive{0};
    for (int s = 0; s < 4; ++s)
      std::thread([&] {
        for (;;) {
          if (alive.load() >= 60) {
            timespec ts{0, 100'000};
            ::nanosleep(&ts, nullptr);
            continue;
          }
          alive++;
          std::thread([&] {
            timespec ts{0, 30'000'000};
            ::nanosleep(&ts, nullptr);
            alive--;
          }).detach();
        }
      }).detach();
    for (;;) ::pause();
  });
  REQUIRE(wait_until([&] { return tasks_of(target.pid()).size() > 40; }, 5000ms));
  Injector inj(test_options());
  for (int round = 0; round < 10; ++round) {
    const pid_t to = round % 2 ? ::getpid() : src.pid();  // there and back
    REQUIRE(inj.run({target.pid(), to, CLONE_NEWNET}).has_value());
    // Whatever thread exists now was moved or was created by a moved one.
    for (pid_t tid : tasks_of(target.pid())) {
      const ino_t ino = task_ns_ino(target.pid(), tid, "net");
      if (ino == 0) continue;  // exited meanwhile
      INFO("round " << round << " thread " << tid);
      REQUIRE(ino == ns_ino(to, "net"));
    }
    require_released(target.pid());
  }
}

TEST_CASE("inject: a single-threaded process joins a mount namespace; its root becomes that namespace's", "[inject]") {
  char dir[] = "/tmp/cfs-inject-mnt-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  auto src = make_source("unused", CLONE_NEWNS, [&] {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(12);
    if (::mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) ::_exit(13);
    int fd = ::open((std::string(dir) + "/marker").c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) ::_exit(14);
    ::close(fd);
  });
  Pipe cmd, out;
  Child target([&] {
    if (::chdir("/tmp") != 0) ::_exit(15);
    for (;;) {
      char c;
      if (::read(cmd.r(), &c, 1) != 1) ::_exit(0);
      char cwd[256] = {};
      if (!::getcwd(cwd, sizeof cwd)) std::strcpy(cwd, "?");
      int seen = ::access((std::string(dir) + "/marker").c_str(), F_OK) == 0;
      say(out.w(), "%d %s\n", seen, cwd);
    }
  });
  REQUIRE(::write(cmd.w(), "x", 1) == 1);
  CHECK(read_line(out.r(), 5000ms) == std::optional<std::string>("0 /tmp"));
  Injector inj(test_options());
  REQUIRE(inj.run({target.pid(), src.pid(), CLONE_NEWNS}).has_value());
  CHECK(ns_ino(target.pid(), "mnt") == ns_ino(src.pid(), "mnt"));
  require_released(target.pid());
  REQUIRE(::write(cmd.w(), "x", 1) == 1);
  // setns(CLONE_NEWNS) moved root and cwd to the namespace's root.
  CHECK(read_line(out.r(), 5000ms) == std::optional<std::string>("1 /"));
  ::rmdir(dir);
}

// ---------------------------------------------------------------------------
// Refusals: errno, and the process untouched

TEST_CASE("inject: bad pids are refused", "[inject]") {
  auto src = make_source("cfs-src-bad");
  Injector inj(test_options());
  auto err = [&](pid_t pid, pid_t source = 0, int types = kUtsNetIpc) {
    auto r = inj.run({pid, source ? source : src.pid(), types});
    return r ? 0 : r.error();
  };
  CHECK(err(0) == EINVAL);
  CHECK(err(-1) == EINVAL);
  CHECK(err(::getpid()) == EINVAL);  // the daemon itself
  {
    std::atomic<pid_t> tid{0};
    std::atomic<bool> stop{false};
    std::thread t([&] {
      tid = ::gettid();
      while (!stop) ::usleep(1000);
    });
    REQUIRE(wait_until([&] { return tid != 0; }, 1000ms));
    CHECK(err(tid) == EINVAL);  // one of the daemon's threads
    stop = true;
    t.join();
  }
  {
    Child gone([] {});
    REQUIRE(gone.wait_exit(5000ms));
    CHECK(err(gone.pid()) == ESRCH);
  }
  // Kernel thread (kthreadd).
  REQUIRE(status_field("/proc/2/status", "Name") == "kthreadd");
  CHECK(err(2) == EINVAL);
  // Init of a pid namespace (here: the host's).
  CHECK(err(1) == EINVAL);

  ReaderTarget target;
  const ino_t net = ns_ino(target.pid(), "net");
  CHECK(err(target.pid(), -5) == EINVAL);
  CHECK(err(target.pid(), src.pid(), CLONE_NEWNET | CLONE_VM) == EINVAL);
  {
    Child gone([] {});
    REQUIRE(gone.wait_exit(5000ms));
    CHECK(err(target.pid(), gone.pid()) == ESRCH);
  }
  CHECK(ns_ino(target.pid(), "net") == net);
  require_released(target.pid());
  auto r = target.ask();
  REQUIRE(r);
  CHECK(r->err == 0);
}

TEST_CASE("inject: a process traced by someone else is refused with EBUSY", "[inject]") {
  auto src = make_source("cfs-src-traced");
  ReaderTarget target;
  const pid_t tpid = target.pid();
  Pipe ready;
  Child tracer([&] {
    if (::ptrace(PTRACE_SEIZE, tpid, nullptr, nullptr) != 0) ::_exit(20);
    say(ready.w(), "ok\n");
    for (;;) ::pause();
  });
  REQUIRE(read_line(ready.r(), 5000ms) == std::optional<std::string>("ok"));
  Injector inj(test_options());
  auto r = inj.run({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(!r);
  CHECK(r.error() == EBUSY);
  CHECK(status_field("/proc/" + std::to_string(tpid) + "/status", "TracerPid") == std::to_string(tracer.pid()));
  // Already in the requested namespaces (the host's): nothing to do, so no
  // ptrace is needed and it succeeds.
  CHECK(inj.run({target.pid(), ::getpid(), kUtsNetIpc}).has_value());
  tracer.reap();  // its exit detaches the target
  require_released(target.pid());
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->net != ns_ino(src.pid(), "net"));
}

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
  Injector inj(test_options());
  auto r = inj.run({pid, src, kUtsNetIpc});
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
  Injector inj(test_options());
  REQUIRE(inj.run({target.pid(), src, kUtsNetIpc}).has_value());
  require_moved(target.pid(), src, {"uts", "net", "ipc"});
  require_released(target.pid());
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->host == host);
  CHECK(reply->err == 0);
}

TEST_CASE("inject: a process under a filter that allows everything is moved", "[inject][seccomp]") {
  auto src = make_source("cfs-src-seccomp");
  const Filter allow = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  ReaderTarget target([&] { attach(allow); });
  REQUIRE(seccomp_mode(target.pid(), target.pid()) == "2");
  Injector inj(test_options());
  CHECK(inj.run({target.pid(), ::getpid(), kUtsNetIpc}).has_value());  // nothing to do
  require_moves(target, src.pid(), "cfs-src-seccomp");
}

TEST_CASE("inject: a filter that would deny, kill, trap, trace or notify setns refuses the move", "[inject][seccomp]") {
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

TEST_CASE("inject: SECCOMP_RET_LOG lets the calls through", "[inject][seccomp]") {
  auto src = make_source("cfs-src-log");
  const Filter filter = answer_to(SYS_setns, SECCOMP_RET_LOG);
  ReaderTarget target([&] { attach(filter); });
  require_moves(target, src.pid(), "cfs-src-log");
}

TEST_CASE("inject: each call of the move is judged, not only setns", "[inject][seccomp]") {
  auto src = make_source("cfs-src-calls");
  for (long nr : {SYS_pidfd_open, SYS_close, SYS_rt_tgsigqueueinfo}) {
    INFO("system call " << nr);
    const Filter filter = answer_to(nr, SECCOMP_RET_KILL_PROCESS);
    ReaderTarget target([&] { attach(filter); });
    require_refused_untouched(target, src.pid());
  }
}

TEST_CASE("inject: pidfd_open answered ENOSYS by a filter: the move goes through /proc instead", "[inject][seccomp]") {
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

TEST_CASE("inject: the descriptor setns gets is foreseen as the kernel will hand it out", "[inject][seccomp]") {
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

TEST_CASE("inject: the instruction pointer a filter sees is the kernel's", "[inject][seccomp]") {
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
    Injector inj(test_options());
    auto r = inj.run({target.pid(), src.pid(), kUtsNetIpc});
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

TEST_CASE("inject: one thread whose own filter denies setns keeps every thread where it was", "[inject][seccomp]") {
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

TEST_CASE("inject: a process in seccomp strict mode is refused with EPERM and lives on", "[inject][seccomp]") {
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

TEST_CASE("inject: mount namespace for a multi-threaded process is refused with EINVAL", "[inject]") {
  auto src = make_source("cfs-src-mt", kUtsNetIpc | CLONE_NEWNS);
  Pipe cmd, out;
  Child target([&] {
    std::thread([] {
      for (;;) ::pause();
    }).detach();
    reader_loop(cmd.r(), out.w());
  });
  REQUIRE(wait_until([&] { return tasks_of(target.pid()).size() == 2; }, 2000ms));
  const ino_t net = ns_ino(target.pid(), "net"), mnt = ns_ino(target.pid(), "mnt");
  Injector inj(test_options());
  for (int types : {CLONE_NEWNS, CLONE_NEWNS | CLONE_NEWNET, CLONE_NEWUSER}) {
    INFO("types " << types);
    auto r = inj.run({target.pid(), src.pid(), types});
    if (types == CLONE_NEWUSER) {
      // src shares the host's user namespace: nothing differs, nothing to do.
      CHECK(r.has_value());
      continue;
    }
    REQUIRE(!r);
    CHECK(r.error() == EINVAL);
  }
  CHECK(ns_ino(target.pid(), "net") == net);
  CHECK(ns_ino(target.pid(), "mnt") == mnt);
  require_released(target.pid());
  auto reply = ask(cmd.w(), out.r());
  REQUIRE(reply);
  CHECK(reply->err == 0);
}

TEST_CASE("inject: a process lacking CAP_SYS_ADMIN gets EPERM from setns and runs on unharmed", "[inject]") {
  auto src = make_source("cfs-src-nocap");
  ReaderTarget target([] {
    // What setpriv --reuid=65534 --regid=65534 --clear-groups does.
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(40);
  });
  REQUIRE(status_field("/proc/" + std::to_string(target.pid()) + "/status", "CapEff") == "0000000000000000");
  const ino_t net = ns_ino(target.pid(), "net");
  Injector inj(test_options());
  auto r = inj.run({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(!r);
  CHECK(r.error() == EPERM);
  CHECK(ns_ino(target.pid(), "net") == net);
  require_released(target.pid());
  // Registers restored: the interrupted read() goes on and returns the data.
  auto reply = target.ask('z');
  REQUIRE(reply);
  CHECK(reply->byte == 'z');
  CHECK(reply->err == 0);
  CHECK(reply->net == net);
  // Still alive and answering a second time.
  REQUIRE(target.ask('y'));
}

// ---------------------------------------------------------------------------
// Hard cases

TEST_CASE("inject: a target killed during the operation gives ESRCH and is not reaped by the injector", "[inject]") {
  auto src = make_source("cfs-src-exit");
  Injector inj(test_options());
  ReaderTarget target;
  auto ticket = inj.begin({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(ticket.has_value());
  REQUIRE(::kill(target.pid(), SIGKILL) == 0);
  auto r = ticket->finish();
  REQUIRE(!r);
  CHECK(r.error() == ESRCH);
  // The exit status is still there for its real parent.
  auto st = target.child.wait_exit(5000ms);
  REQUIRE(st);
  CHECK(WIFSIGNALED(*st));
  CHECK(WTERMSIG(*st) == SIGKILL);
  // The injector is still healthy.
  ReaderTarget other;
  REQUIRE(inj.run({other.pid(), src.pid(), kUtsNetIpc}).has_value());
  auto reply = other.ask();
  REQUIRE(reply);
  CHECK(reply->host == "cfs-src-exit");
}

TEST_CASE("inject: targets exiting at random moments never wedge the injector", "[inject]") {
  auto src = make_source("cfs-src-race");
  Injector inj(test_options());
  std::mt19937 rng(12345);
  int moved = 0, gone = 0;
  for (int i = 0; i < 40; ++i) {
    const long delay_us = std::uniform_int_distribution<long>(0, 2000)(rng);
    const int threads = i % 3 == 0 ? 4 : 1;
    Pipe ready;
    Child target([&] {
      for (int t = 1; t < threads; ++t)
        std::thread([] {
          for (;;) ::pause();
        }).detach();
      say(ready.w(), "go\n");
      timespec ts{0, delay_us * 1000};
      ::nanosleep(&ts, nullptr);
      ::_exit(7);
    });
    REQUIRE(read_line(ready.r(), 5000ms));
    const auto t0 = Clock::now();
    auto r = inj.run({target.pid(), src.pid(), kUtsNetIpc});
    CHECK(Clock::now() - t0 < 3s);
    if (r) {
      ++moved;
    } else {
      INFO("errno " << r.error());
      CHECK(r.error() == ESRCH);
      ++gone;
    }
    auto st = target.wait_exit(5000ms);
    REQUIRE(st);  // reaped by its parent, i.e. us, not by the injector
    CHECK(WIFEXITED(*st));
    CHECK(WEXITSTATUS(*st) == 7);
  }
  WARN("moved " << moved << ", exited first " << gone);
}

TEST_CASE("inject: a SIGSTOPped process is moved and stays stopped", "[inject]") {
  auto src = make_source("cfs-src-stopped");
  ReaderTarget target;
  REQUIRE(::kill(target.pid(), SIGSTOP) == 0);
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'T'; }, 2000ms));
  Injector inj(test_options());
  auto r = inj.run({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(r.has_value());
  require_moved(target.pid(), src.pid(), {"uts", "net", "ipc"});
  // Still stopped, no longer traced.
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'T'; }, 1000ms));
  ::usleep(50'000);
  CHECK(proc_state(target.pid()) == 'T');
  require_released(target.pid(), /*allow_stopped=*/true);
  // It does not answer while stopped ...
  REQUIRE(::write(target.cmd.w(), "s", 1) == 1);
  CHECK_FALSE(read_line(target.out.r(), 200ms));
  // ... and carries on after SIGCONT, inside.
  REQUIRE(::kill(target.pid(), SIGCONT) == 0);
  auto reply = parse_reply(read_line(target.out.r(), 5000ms));
  REQUIRE(reply);
  CHECK(reply->byte == 's');
  CHECK(reply->err == 0);
  CHECK(reply->host == "cfs-src-stopped");
}

TEST_CASE("inject: the self-write protocol: seize first, reply, then inject", "[inject]") {
  // A writer sleeping in FUSE cannot stop for ptrace until the daemon
  // replies. vfork() gives the same kind of sleep (killable only): the
  // target's main thread waits for its vfork child, which exits only when
  // the test -- standing in for the FUSE reply -- releases it.
  auto src = make_source("cfs-src-self");
  Pipe release, cmd, out;
  Child target([&] {
    pid_t c = ::vfork();
    if (c == 0) {
      char b;
      (void)!::read(release.r(), &b, 1);
      ::_exit(0);
    }
    int st;
    ::waitpid(c, &st, 0);
    reader_loop(cmd.r(), out.w());
  });
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'D'; }, 2000ms));
  const ino_t net = ns_ino(target.pid(), "net");
  Injector inj(test_options());

  SECTION("proceed after the reply") {
    const auto t0 = Clock::now();
    auto ticket = inj.begin({target.pid(), src.pid(), kUtsNetIpc});
    REQUIRE(ticket.has_value());
    CHECK(Clock::now() - t0 < 500ms);  // phase 1 did not wait for a stop
    CHECK(proc_state(target.pid()) == 'D');
    CHECK(status_field("/proc/" + std::to_string(target.pid()) + "/status", "TracerPid") != "0");
    REQUIRE(::write(release.w(), "r", 1) == 1);  // "the FUSE reply"
    auto r = ticket->finish();
    REQUIRE(r.has_value());
    require_moved(target.pid(), src.pid(), {"uts", "net", "ipc"});
    require_released(target.pid());
    auto reply = ask(cmd.w(), out.r());
    REQUIRE(reply);
    CHECK(reply->host == "cfs-src-self");
  }
  SECTION("proceed_detached, as the daemon does") {
    auto ticket = inj.begin({target.pid(), src.pid(), kUtsNetIpc});
    REQUIRE(ticket.has_value());
    REQUIRE(::write(release.w(), "r", 1) == 1);
    ticket->proceed_detached();
    CHECK_FALSE(ticket->valid());
    REQUIRE(wait_until([&] { return ns_ino(target.pid(), "net") == ns_ino(src.pid(), "net"); }, 3000ms));
    REQUIRE(wait_until(
        [&] { return status_field("/proc/" + std::to_string(target.pid()) + "/status", "TracerPid") == "0"; },
        3000ms));
    auto reply = ask(cmd.w(), out.r());
    REQUIRE(reply);
    CHECK(reply->host == "cfs-src-self");
  }
  SECTION("a dropped ticket leaves it untouched, without waiting for the stop") {
    {
      auto ticket = inj.begin({target.pid(), src.pid(), kUtsNetIpc});
      REQUIRE(ticket.has_value());
      const auto t0 = Clock::now();
      ticket->cancel();
      CHECK(Clock::now() - t0 < 500ms);
    }
    require_released(target.pid());
    REQUIRE(::write(release.w(), "r", 1) == 1);
    auto reply = ask(cmd.w(), out.r());
    REQUIRE(reply);
    CHECK(reply->net == net);
    CHECK(reply->host == my_hostname());
  }
}

// Signal bookkeeping in the targets of the signal tests.
volatile sig_atomic_t g_handled = 0;
volatile sig_atomic_t g_si_pid = 0;
volatile sig_atomic_t g_si_code = 0;
volatile sig_atomic_t g_si_value = 0;
void record_signal(int, siginfo_t* si, void*) {
  g_handled = g_handled + 1;
  g_si_pid = si->si_pid;
  g_si_code = si->si_code;
  g_si_value = si->si_value.sival_int;
}

TEST_CASE("inject: a signal arriving while the target is stopped is delivered afterwards, siginfo intact", "[inject]") {
  auto src = make_source("cfs-src-sig");
  const bool restart = GENERATE(false, true);
  INFO("SA_RESTART " << restart);
  Pipe cmd, out;
  Child target([&] {
    struct sigaction sa {};
    sa.sa_sigaction = record_signal;
    sa.sa_flags = SA_SIGINFO | (restart ? SA_RESTART : 0);
    ::sigaction(SIGUSR1, &sa, nullptr);
    for (;;) {
      char c = 0;
      ssize_t n = ::read(cmd.r(), &c, 1);
      int err = n < 0 ? errno : 0;
      say(out.w(), "%zd %d %d %d %d %d %s\n", n, err, int(g_handled), int(g_si_pid), int(g_si_code),
          int(g_si_value), my_hostname().c_str());
    }
  });
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'S'; }, 2000ms));
  Injector inj(test_options());
  auto ticket = inj.begin({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(ticket.has_value());
  // Stopped for us (read() is interruptible), then the signal comes.
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 't'; }, 2000ms));
  REQUIRE(::sigqueue(target.pid(), SIGUSR1, sigval{4242}) == 0);
  REQUIRE(ticket->finish().has_value());
  require_moved(target.pid(), src.pid(), {"uts", "net", "ipc"});
  require_released(target.pid());

  std::string expect_tail =
      " 1 " + std::to_string(::getpid()) + " " + std::to_string(SI_QUEUE) + " 4242 cfs-src-sig";
  if (restart) {
    // The handler ran, the read was restarted and gets the data.
    REQUIRE(::write(cmd.w(), "d", 1) == 1);
    auto line = read_line(out.r(), 5000ms);
    REQUIRE(line);
    CHECK(*line == "1 0" + expect_tail);
  } else {
    // Without SA_RESTART the read fails with EINTR, as if the signal had
    // come during the read without us.
    auto line = read_line(out.r(), 5000ms);
    REQUIRE(line);
    CHECK(*line == "-1 " + std::to_string(EINTR) + expect_tail);
  }
}

volatile long g_rt_count = 0;
volatile long g_rt_sum = 0;
void count_rt_signal(int, siginfo_t* si, void*) {
  g_rt_count = g_rt_count + 1;
  g_rt_sum = g_rt_sum + si->si_value.sival_int;
}

TEST_CASE("inject: no signal is lost or duplicated while injections run", "[inject]") {
  auto a = make_source("cfs-src-storm-a");
  auto b = make_source("cfs-src-storm-b");
  Pipe cmd, out;
  Child target([&] {
    struct sigaction sa {};
    sa.sa_sigaction = count_rt_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    ::sigaction(SIGRTMIN, &sa, nullptr);
    for (;;) {
      char c;
      if (::read(cmd.r(), &c, 1) == 1) say(out.w(), "%ld %ld\n", long(g_rt_count), long(g_rt_sum));
    }
  });
  REQUIRE(::write(cmd.w(), "c", 1) == 1);
  REQUIRE(read_line(out.r(), 5000ms) == std::optional<std::string>("0 0"));

  // Realtime signals queue (none merged) and carry a value: every one must
  // arrive exactly once, with its value.
  constexpr long kSignals = 1500;
  const pid_t tpid = target.pid();
  Child sender([&] {
    for (long i = 1; i <= kSignals; ++i) {
      while (::sigqueue(tpid, SIGRTMIN, sigval{int(i)}) != 0) ::usleep(100);
      ::usleep(300);
    }
  });
  Injector inj(test_options());
  int runs = 0;
  std::optional<int> sender_status;
  while (!(sender_status = sender.wait_exit(0ms)) && runs < 3000) {
    REQUIRE(inj.run({tpid, runs % 2 ? b.pid() : a.pid(), kUtsNetIpc}).has_value());
    ++runs;
  }
  if (!sender_status) sender_status = sender.wait_exit(30000ms);
  REQUIRE(sender_status);
  CHECK(WIFEXITED(*sender_status));
  WARN(runs << " injections while " << kSignals << " signals came in");
  CHECK(runs >= 10);
  std::string last;
  const std::string want = std::to_string(kSignals) + " " + std::to_string(kSignals * (kSignals + 1) / 2);
  REQUIRE(wait_until(
      [&] {
        if (::write(cmd.w(), "c", 1) != 1) return false;
        last = read_line(out.r(), 2000ms).value_or("?");
        return last == want;
      },
      5000ms));
  CHECK(last == want);
  require_released(tpid);
}

TEST_CASE("inject: a thread that needs no move gets its pending signal back on detach", "[inject]") {
  // T1 lives in the source's network namespace and takes every SIGRTMIN;
  // T0 is sent back to the host's before each run. So each run stops T1,
  // often in a signal-delivery-stop, and releases it without injecting.
  auto a = make_source("cfs-src-detach");
  const pid_t apid = a.pid();
  Pipe cmd, out, ready;
  Child target([&] {
    const int host_net = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN);
    ::pthread_sigmask(SIG_BLOCK, &rt, nullptr);
    std::thread([&] {
      const int a_net = ::open(("/proc/" + std::to_string(apid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
      if (a_net < 0 || ::setns(a_net, CLONE_NEWNET) != 0) ::_exit(60);
      struct sigaction sa {};
      sa.sa_sigaction = count_rt_signal;
      sa.sa_flags = SA_SIGINFO | SA_RESTART;
      ::sigaction(SIGRTMIN, &sa, nullptr);
      ::pthread_sigmask(SIG_UNBLOCK, &rt, nullptr);
      say(ready.w(), "ready\n");
      for (;;) ::pause();
    }).detach();
    for (;;) {
      char c;
      if (::read(cmd.r(), &c, 1) != 1) continue;
      if (c == 'h' && ::setns(host_net, CLONE_NEWNET) != 0) ::_exit(61);
      say(out.w(), "%ld %ld\n", long(g_rt_count), long(g_rt_sum));
    }
  });
  REQUIRE(read_line(ready.r(), 5000ms) == std::optional<std::string>("ready"));
  const pid_t tpid = target.pid();
  constexpr long kSignals = 1000;
  Child sender([&] {
    for (long i = 1; i <= kSignals; ++i) {
      while (::sigqueue(tpid, SIGRTMIN, sigval{int(i)}) != 0) ::usleep(100);
      ::usleep(300);
    }
  });
  Injector inj(test_options());
  int runs = 0;
  std::optional<int> sender_status;
  while (!(sender_status = sender.wait_exit(0ms)) && runs < 3000) {
    REQUIRE(::write(cmd.w(), "h", 1) == 1);
    REQUIRE(read_line(out.r(), 5000ms));
    REQUIRE(inj.run({tpid, apid, CLONE_NEWNET}).has_value());
    for (pid_t tid : tasks_of(tpid)) REQUIRE(task_ns_ino(tpid, tid, "net") == ns_ino(apid, "net"));
    ++runs;
  }
  if (!sender_status) sender_status = sender.wait_exit(30000ms);
  REQUIRE(sender_status);
  WARN(runs << " runs while " << kSignals << " signals came in");
  CHECK(runs >= 10);
  std::string last;
  const std::string want = std::to_string(kSignals) + " " + std::to_string(kSignals * (kSignals + 1) / 2);
  REQUIRE(wait_until(
      [&] {
        if (::write(cmd.w(), "c", 1) != 1) return false;
        last = read_line(out.r(), 2000ms).value_or("?");
        return last == want;
      },
      5000ms));
  CHECK(last == want);
  require_released(tpid);
}

// A cgroup created for one test and removed afterwards.
struct TempCgroup {
  std::string path;
  explicit TempCgroup(const std::string& root) {
    if (::access(root.c_str(), W_OK) != 0) return;
    std::string p = root + "/cfs-inject-test-" + std::to_string(::getpid());
    if (::mkdir(p.c_str(), 0755) == 0 || errno == EEXIST) path = p;
  }
  ~TempCgroup() {
    if (!path.empty()) wait_until([&] { return ::rmdir(path.c_str()) == 0 || errno == ENOENT; }, 5000ms);
  }
  bool ok() const { return !path.empty(); }
  bool write(const std::string& file, const std::string& value) const {
    std::ofstream f(path + "/" + file);
    f << value;
    f.flush();
    return bool(f);
  }
  std::string read(const std::string& file) const {
    std::ifstream f(path + "/" + file);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
};

TEST_CASE("inject: a target frozen by the cgroup v1 freezer gives EBUSY within the bound and is released", "[inject]") {
  TempCgroup cg("/sys/fs/cgroup/freezer");
  if (!cg.ok()) {
    WARN("no cgroup v1 freezer here; skipped");
    return;
  }
  auto src = make_source("cfs-src-frozen1");
  ReaderTarget target;
  const ino_t net = ns_ino(target.pid(), "net");
  struct Thaw {  // before the target is killed, whatever happens
    TempCgroup& cg;
    ~Thaw() { cg.write("freezer.state", "THAWED"); }
  } thaw{cg};
  REQUIRE(cg.write("cgroup.procs", std::to_string(target.pid())));
  REQUIRE(cg.write("freezer.state", "FROZEN"));
  REQUIRE(wait_until([&] { return cg.read("freezer.state").rfind("FROZEN", 0) == 0; }, 5000ms));

  InjectorOptions o = test_options();
  o.stop_timeout = 400ms;
  Injector inj(o);
  const auto t0 = Clock::now();
  auto r = inj.run({target.pid(), src.pid(), kUtsNetIpc});
  const auto took = Clock::now() - t0;
  REQUIRE(!r);
  CHECK(r.error() == EBUSY);
  CHECK(took >= 400ms);
  CHECK(took < 2000ms);
  // Detached although it never stopped.
  CHECK(status_field("/proc/" + std::to_string(target.pid()) + "/status", "TracerPid") == "0");

  REQUIRE(cg.write("freezer.state", "THAWED"));
  REQUIRE(wait_until([&] { return cg.read("freezer.state").rfind("THAWED", 0) == 0; }, 5000ms));
  require_released(target.pid());
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->err == 0);
  CHECK(reply->net == net);
  target.child.reap();
}

TEST_CASE("inject: a target frozen by cgroup v2 gives EBUSY and is released with its registers intact", "[inject]") {
  TempCgroup cg("/sys/fs/cgroup/unified");
  if (!cg.ok() || ::access((cg.path + "/cgroup.freeze").c_str(), W_OK) != 0) {
    WARN("no cgroup v2 freezer here; skipped");
    return;
  }
  auto src = make_source("cfs-src-frozen2");
  ReaderTarget target;
  const ino_t net = ns_ino(target.pid(), "net");
  struct Thaw {
    TempCgroup& cg;
    ~Thaw() { cg.write("cgroup.freeze", "0"); }
  } thaw{cg};
  REQUIRE(cg.write("cgroup.procs", std::to_string(target.pid())));
  REQUIRE(cg.write("cgroup.freeze", "1"));
  REQUIRE(wait_until([&] { return cg.read("cgroup.events").find("frozen 1") != std::string::npos; }, 5000ms));

  InjectorOptions o = test_options();
  o.stop_timeout = 400ms;
  o.syscall_timeout = 300ms;
  Injector inj(o);
  const auto t0 = Clock::now();
  auto r = inj.run({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(!r);
  CHECK(r.error() == EBUSY);
  CHECK(Clock::now() - t0 < 3000ms);
  CHECK(ns_ino(target.pid(), "net") == net);
  CHECK(status_field("/proc/" + std::to_string(target.pid()) + "/status", "TracerPid") == "0");

  REQUIRE(cg.write("cgroup.freeze", "0"));
  REQUIRE(wait_until([&] { return cg.read("cgroup.events").find("frozen 0") != std::string::npos; }, 5000ms));
  require_released(target.pid());
  auto reply = target.ask('w');
  REQUIRE(reply);
  CHECK(reply->byte == 'w');
  CHECK(reply->err == 0);
  CHECK(reply->net == net);
  target.child.reap();
}

// A process in a fresh pid namespace (not its init), host /proc.
TEST_CASE("inject: targets in another pid namespace", "[inject]") {
  // helper -> unshare(CLONE_NEWPID) -> init (pid 1) -> {source-in-ns, target-in-ns}
  Pipe hostpid, cmd, out, ready;
  Child helper([&] {
    if (::unshare(CLONE_NEWPID) != 0) ::_exit(50);
    pid_t init = ::fork();
    if (init == 0) {
      pid_t s = ::fork();
      if (s == 0) {
        ::unshare(kUtsNetIpc);
        ::sethostname("cfs-src-inns", 12);
        say(ready.w(), "ready\n");
        for (;;) ::pause();
      }
      char b[16];
      (void)!::read(ready.r(), b, 6);
      pid_t t = ::fork();
      if (t == 0) reader_loop(cmd.r(), out.w());
      for (;;) ::pause();
    }
    say(hostpid.w(), "%d\n", init);
    for (;;) ::pause();
  });
  auto line = read_line(hostpid.r(), 5000ms);
  REQUIRE(line);
  const pid_t init = std::stoi(*line);
  // Killing the namespace's init takes its processes with it.
  struct KillInit {
    pid_t pid;
    ~KillInit() { ::kill(pid, SIGKILL); }
  } kill_init{init};
  // Its children, as host pids: first the source, then the target.
  std::vector<pid_t> kids;
  REQUIRE(wait_until(
      [&] {
        std::ifstream f("/proc/" + std::to_string(init) + "/task/" + std::to_string(init) + "/children");
        kids.clear();
        for (pid_t p; f >> p;) kids.push_back(p);
        return kids.size() == 2;
      },
      5000ms));
  std::sort(kids.begin(), kids.end());
  const pid_t src_in_ns = kids[0], target = kids[1];
  REQUIRE(status_field("/proc/" + std::to_string(target) + "/status", "NSpid").find('\t') != std::string::npos);
  REQUIRE(ask(cmd.w(), out.r()));
  Injector inj(test_options());

  SECTION("an init of a pid namespace is refused") {
    auto r = inj.run({init, src_in_ns, kUtsNetIpc});
    REQUIRE(!r);
    CHECK(r.error() == EINVAL);
  }
  SECTION("source in the same pid namespace: pidfd_open with the pid as the target sees it") {
    REQUIRE(inj.run({target, src_in_ns, kUtsNetIpc}).has_value());
    require_moved(target, src_in_ns, {"uts", "net", "ipc"});
    require_released(target);
    auto reply = ask(cmd.w(), out.r());
    REQUIRE(reply);
    CHECK(reply->host == "cfs-src-inns");
  }
  SECTION("source invisible from the target's pid namespace: /proc/<pid>/ns/<x> per namespace") {
    auto src = make_source("cfs-src-host");
    REQUIRE(inj.run({target, src.pid(), kUtsNetIpc}).has_value());
    require_moved(target, src.pid(), {"uts", "net", "ipc"});
    require_released(target);
    auto reply = ask(cmd.w(), out.r());
    REQUIRE(reply);
    CHECK(reply->host == "cfs-src-host");
    CHECK(reply->err == 0);
    // And back to the host's namespaces (the daemon as the source).
    REQUIRE(inj.run({target, ::getpid(), kUtsNetIpc}).has_value());
    auto back = ask(cmd.w(), out.r());
    REQUIRE(back);
    CHECK(back->host == my_hostname());
  }
}

TEST_CASE("inject: an Injector destroyed with a pending ticket cancels it", "[inject]") {
  auto src = make_source("cfs-src-dtor");
  ReaderTarget target;
  const ino_t net = ns_ino(target.pid(), "net");
  Ticket kept;
  {
    Injector inj(test_options());
    auto t = inj.begin({target.pid(), src.pid(), kUtsNetIpc});
    REQUIRE(t.has_value());
    kept = std::move(*t);
  }
  auto r = kept.finish();
  REQUIRE(!r);
  CHECK(r.error() == ECANCELED);
  require_released(target.pid());
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->net == net);
}

// ---------------------------------------------------------------------------
// Timing (hidden: run with "[.bench]")

double median_run_us(pid_t target, pid_t src_a, pid_t src_b, int runs) {
  Injector inj(test_options());
  std::vector<double> us;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    auto r = inj.run({target, i % 2 ? src_b : src_a, kUtsNetIpc});
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    REQUIRE(r.has_value());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

TEST_CASE("inject: timing of run()", "[.bench]") {
  auto a = make_source("cfs-bench-a");
  auto b = make_source("cfs-bench-b");
  ReaderTarget single;
  Pipe cmd, out;
  Child multi([&] {
    for (int i = 0; i < 15; ++i) std::thread([&] { reader_loop(cmd.r(), out.w()); }).detach();
    reader_loop(cmd.r(), out.w());
  });
  REQUIRE(wait_until([&] { return tasks_of(multi.pid()).size() == 16; }, 5000ms));
  const double one = median_run_us(single.pid(), a.pid(), b.pid(), 200);
  const double sixteen = median_run_us(multi.pid(), a.pid(), b.pid(), 200);
  WARN("median run(): 1 thread " << one << " us, 16 threads " << sixteen << " us (200 runs each)");
  auto reply = single.ask();
  REQUIRE(reply);
  CHECK(reply->err == 0);
}

}  // namespace
