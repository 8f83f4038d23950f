// ProcessInjection refusing a move: the errno, and the process exactly as it
// was (not traced, not stopped, in its namespaces, answering).
#include <fcntl.h>
#include <grp.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "inject_fixture.hpp"

using namespace inject_test;

namespace {

// ---------------------------------------------------------------------------
// Refusals: errno, and the process untouched

TEST_CASE_METHOD(InjectTest, "inject: bad pids are refused", "[inject]") {
  auto src = make_source("cfs-src-bad");
  auto err = [&](pid_t pid, pid_t source = 0, int types = kUtsNetIpc) {
    auto r = move({pid, source ? source : src.pid(), types});
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

TEST_CASE_METHOD(InjectTest, "inject: a process traced by someone else is refused with EBUSY", "[inject]") {
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
  auto r = move({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(!r);
  CHECK(r.error() == EBUSY);
  CHECK(status_field("/proc/" + std::to_string(tpid) + "/status", "TracerPid") == std::to_string(tracer.pid()));
  // Already in the requested namespaces (the host's): nothing to do, so no
  // ptrace is needed and it succeeds.
  CHECK(move({target.pid(), ::getpid(), kUtsNetIpc}).has_value());
  tracer.reap();  // its exit detaches the target
  require_released(target.pid());
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->net != ns_ino(src.pid(), "net"));
}

// A process in a pid namespace of its own (pid 1 there), and the
// intermediate that made it; both killed at the end.
struct PidNsSource {
  Pipe report;
  Child intermediate;
  pid_t pid = 0;
  PidNsSource()
      : intermediate([this] {
          if (::unshare(CLONE_NEWPID) != 0) ::_exit(50);
          const pid_t init = ::fork();
          if (init == 0) {
            for (;;) ::pause();
          }
          say(report.w(), "%d\n", init);
          int status;
          while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
          }
          ::_exit(0);
        }) {
    auto line = read_line(report.r(), 5000ms);
    REQUIRE(line);
    pid = std::stoi(*line);
  }
  ~PidNsSource() { ::kill(pid, SIGKILL); }  // its namespace's init: the namespace ends with it
};

TEST_CASE_METHOD(InjectTest, "inject: a user or another pid namespace for a multi-threaded process is refused with EINVAL, untouched",
                 "[inject]") {
  // The kernel refuses setns(CLONE_NEWUSER) to a process with threads, and
  // after setns(CLONE_NEWPID) it refuses the process every new thread.
  auto user_src = make_source("cfs-src-userns", CLONE_NEWUSER | CLONE_NEWUTS);
  PidNsSource pid_src;
  Pipe cmd, out;
  Child target([&] {
    for (int i = 0; i < 2; ++i)
      std::thread([] {
        for (;;) ::pause();
      }).detach();
    reader_loop(cmd.r(), out.w());
  });
  REQUIRE(wait_until([&] { return tasks_of(target.pid()).size() == 3; }, 2000ms));
  const char* kinds[] = {"net", "uts", "user", "pid_for_children", "mnt"};
  std::map<std::string, ino_t> before;
  for (const char* k : kinds) before[k] = ns_ino(target.pid(), k);
  for (auto [source, types] : {std::pair{user_src.pid(), CLONE_NEWUSER | CLONE_NEWUTS},
                               std::pair{pid_src.pid, CLONE_NEWPID | CLONE_NEWUTS},
                               std::pair{pid_src.pid, CLONE_NEWPID}}) {
    INFO("types " << std::hex << types);
    auto r = move({target.pid(), source, types});
    REQUIRE(!r);
    CHECK(r.error() == EINVAL);
    for (pid_t tid : tasks_of(target.pid()))
      for (const char* k : kinds) {
        INFO("thread " << tid << " " << k);
        CHECK(task_ns_ino(target.pid(), tid, k) == before[k]);
      }
    require_released(target.pid());
  }
  auto reply = ask(cmd.w(), out.r());
  REQUIRE(reply);
  CHECK(reply->err == 0);
  // A single-threaded process enters both.
  ReaderTarget single;
  REQUIRE(move({single.pid(), pid_src.pid, CLONE_NEWPID}).has_value());
  CHECK(ns_ino(single.pid(), "pid_for_children") == ns_ino(pid_src.pid, "pid"));
  REQUIRE(move({single.pid(), user_src.pid(), CLONE_NEWUSER | CLONE_NEWUTS}).has_value());
  CHECK(ns_ino(single.pid(), "user") == ns_ino(user_src.pid(), "user"));
}

// A process whose second thread is io_uring's: iou-wrk-N, which runs a
// request the kernel was told to run asynchronously, or iou-sqp-N, the
// submission queue poller of a ring made with IORING_SETUP_SQPOLL. Says
// "ready" once the ring works, "none" if io_uring is not available.
void io_uring_process(bool sqpoll, int out) {
  io_uring_params p{};
  if (sqpoll) {
    p.flags = IORING_SETUP_SQPOLL;
    p.sq_thread_idle = 60000;
  }
  const int fd = static_cast<int>(::syscall(__NR_io_uring_setup, 4, &p));
  if (fd < 0) {
    say(out, "none %d\n", errno);
    ::pause();
  }
  if (!sqpoll) {
    const std::size_t ring_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    auto* ring = static_cast<char*>(
        ::mmap(nullptr, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING));
    auto* sqes = static_cast<io_uring_sqe*>(::mmap(nullptr, p.sq_entries * sizeof(io_uring_sqe),
                                                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                                                   IORING_OFF_SQES));
    if (ring == MAP_FAILED || sqes == MAP_FAILED) ::_exit(61);
    auto* tail = reinterpret_cast<unsigned*>(ring + p.sq_off.tail);
    auto* array = reinterpret_cast<unsigned*>(ring + p.sq_off.array);
    sqes[0] = io_uring_sqe{};
    sqes[0].opcode = IORING_OP_NOP;
    sqes[0].flags = IOSQE_ASYNC;
    array[0] = 0;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    if (::syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, nullptr, 0) < 0) ::_exit(62);
  }
  say(out, "ready\n");
  for (;;) ::pause();
}

TEST_CASE_METHOD(InjectTest, "inject: a process with an io_uring worker thread is refused with EINVAL at once, untouched",
                 "[inject]") {
  const bool sqpoll = GENERATE(false, true);
  INFO((sqpoll ? "iou-sqp" : "iou-wrk"));
  auto src = make_source("cfs-src-uring");
  Pipe out;
  Child target([&] { io_uring_process(sqpoll, out.w()); });
  auto said = read_line(out.r(), 5000ms);
  REQUIRE(said);
  if (said->starts_with("none")) {
    WARN("io_uring is not available here (" << *said << "); skipped");
    return;
  }
  REQUIRE(*said == "ready");
  pid_t worker = 0;
  REQUIRE(wait_until([&] {
    for (pid_t tid : tasks_of(target.pid()))
      if (tid != target.pid() && status_field("/proc/" + std::to_string(tid) + "/status", "Name").starts_with("iou-"))
        worker = tid;
    return worker != 0;
  }, 5000ms));
  const ino_t net = ns_ino(target.pid(), "net");
  const auto t0 = Clock::now();
  auto r = move({target.pid(), src.pid(), kUtsNetIpc});
  REQUIRE(!r);
  CHECK(r.error() == EINVAL);
  CHECK(Clock::now() - t0 < 500ms);  // refused before waiting for any stop
  for (pid_t tid : tasks_of(target.pid())) CHECK(task_ns_ino(target.pid(), tid, "net") == net);
  require_released(target.pid());
  CHECK(proc_state(target.pid()) == 'S');
}

TEST_CASE_METHOD(InjectTest, "inject: a process lacking CAP_SYS_ADMIN gets EPERM from setns and runs on unharmed", "[inject]") {
  auto src = make_source("cfs-src-nocap");
  ReaderTarget target([] {
    // What setpriv --reuid=65534 --regid=65534 --clear-groups does.
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(40);
  });
  REQUIRE(status_field("/proc/" + std::to_string(target.pid()) + "/status", "CapEff") == "0000000000000000");
  const ino_t net = ns_ino(target.pid(), "net");
  auto r = move({target.pid(), src.pid(), kUtsNetIpc});
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

TEST_CASE_METHOD(InjectTest, "inject: a target killed during the operation gives ESRCH and is not reaped by the injector", "[inject]") {
  auto src = make_source("cfs-src-exit");
  ReaderTarget target;
  auto ticket = begin({target.pid(), src.pid(), kUtsNetIpc});
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
  REQUIRE(move({other.pid(), src.pid(), kUtsNetIpc}).has_value());
  auto reply = other.ask();
  REQUIRE(reply);
  CHECK(reply->host == "cfs-src-exit");
}

TEST_CASE_METHOD(InjectTest, "inject: targets exiting at random moments never wedge the injector", "[inject]") {
  auto src = make_source("cfs-src-race");
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
    auto r = move({target.pid(), src.pid(), kUtsNetIpc});
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

TEST_CASE_METHOD(InjectTest, "inject: a target frozen by the cgroup v1 freezer gives EBUSY within the bound and is released", "[inject]") {
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

  options.stop_timeout = 400ms;
  const auto t0 = Clock::now();
  auto r = move({target.pid(), src.pid(), kUtsNetIpc});
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

TEST_CASE_METHOD(InjectTest, "inject: a target frozen by cgroup v2 gives EBUSY and is released with its registers intact", "[inject]") {
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

  options.stop_timeout = 400ms;
  options.syscall_timeout = 300ms;
  const auto t0 = Clock::now();
  auto r = move({target.pid(), src.pid(), kUtsNetIpc});
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

}  // namespace
