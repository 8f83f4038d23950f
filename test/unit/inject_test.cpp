// ProcessInjection against real processes, as the injector process runs it:
// what a move does to processes of every kind. Refusals, seccomp and signals
// have files of their own (inject_*_test.cpp); what they share is in
// inject_fixture.hpp.
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "inject_fixture.hpp"

using namespace inject_test;

namespace {

// ---------------------------------------------------------------------------
// Moving

TEST_CASE_METHOD(InjectTest, "inject: a sleeping process is moved; nanosleep restarts and sleeps its full time", "[inject]") {
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

  auto r = move({target.pid(), src.pid(), kUtsNetIpc});
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

TEST_CASE_METHOD(InjectTest, "inject: a process blocked in read() is moved; the read returns data written later", "[inject]") {
  auto src = make_source("cfs-src-read");
  ReaderTarget target;
  REQUIRE(move({target.pid(), src.pid(), kUtsNetIpc}).has_value());
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
    REQUIRE(move({target.pid(), src2.pid(), kUtsNetIpc}).has_value());
    // src2 shares net/ipc with the host: the target goes back to the host's.
    CHECK(ns_ino(target.pid(), "net") == ns_ino(::getpid(), "net"));
    CHECK(ns_ino(target.pid(), "uts") == ns_ino(src2.pid(), "uts"));
    auto r2 = target.ask('b');
    REQUIRE(r2);
    CHECK(r2->host == "cfs-src-read2");
    // Already there: succeeds (without ptrace), stays put.
    REQUIRE(move({target.pid(), src2.pid(), kUtsNetIpc}).has_value());
    CHECK(ns_ino(target.pid(), "uts") == ns_ino(src2.pid(), "uts"));
    require_released(target.pid());
  }
}

TEST_CASE_METHOD(InjectTest, "inject: a busy-looping process is moved (syscall instruction from elsewhere)", "[inject]") {
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
  for (int i = 0; i < 5; ++i) REQUIRE(move({target.pid(), src.pid(), kUtsNetIpc}).has_value());
  require_moved(target.pid(), src.pid(), {"uts", "net", "ipc"});
  require_released(target.pid());
  REQUIRE(::write(cmd.w(), "x", 1) == 1);
  auto line = read_line(out.r(), 10000ms);
  REQUIRE(line);
  CHECK(line->rfind("cfs-src-busy ", 0) == 0);
}

TEST_CASE_METHOD(InjectTest, "inject: every thread of a 16-thread process is moved", "[inject]") {
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
  REQUIRE(move({target.pid(), src.pid(), CLONE_NEWNET | CLONE_NEWUTS}).has_value());
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

TEST_CASE_METHOD(InjectTest, "inject: a process whose main thread has exited is moved", "[inject]") {
  auto src = make_source("cfs-src-zombie-main");
  Pipe cmd, out;
  Child target([&] {
    for (int i = 0; i < 2; ++i) std::thread([&] { reader_loop(cmd.r(), out.w()); }).detach();
    ::syscall(SYS_exit, 0);  // only this thread; no unwinding through the test framework
  });
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'Z' && tasks_of(target.pid()).size() == 3; }, 2000ms));
  REQUIRE(move({target.pid(), src.pid(), kUtsNetIpc}).has_value());
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

TEST_CASE_METHOD(InjectTest, "inject: many operations in a row on one process", "[inject]") {
  auto a = make_source("cfs-src-many-a");
  auto b = make_source("cfs-src-many-b");
  ReaderTarget target;
  for (int i = 0; i < 150; ++i) {
    INFO("run " << i);
    auto r = move({target.pid(), i % 2 ? b.pid() : a.pid(), kUtsNetIpc});
    REQUIRE(r.has_value());
    REQUIRE(ns_ino(target.pid(), "uts") == ns_ino(i % 2 ? b.pid() : a.pid(), "uts"));
  }
  require_released(target.pid());
  auto reply = target.ask();
  REQUIRE(reply);
  CHECK(reply->err == 0);
  CHECK(reply->host == "cfs-src-many-b");
}

TEST_CASE_METHOD(InjectTest, "inject: threads created during the operation are moved too", "[inject]") {
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
  for (int round = 0; round < 10; ++round) {
    const pid_t to = round % 2 ? ::getpid() : src.pid();  // there and back
    REQUIRE(move({target.pid(), to, CLONE_NEWNET}).has_value());
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

TEST_CASE_METHOD(InjectTest, "inject: a single-threaded process joins a mount namespace; its root becomes that namespace's", "[inject]") {
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
  REQUIRE(move({target.pid(), src.pid(), CLONE_NEWNS}).has_value());
  CHECK(ns_ino(target.pid(), "mnt") == ns_ino(src.pid(), "mnt"));
  require_released(target.pid());
  REQUIRE(::write(cmd.w(), "x", 1) == 1);
  // setns(CLONE_NEWNS) moved root and cwd to the namespace's root.
  CHECK(read_line(out.r(), 5000ms) == std::optional<std::string>("1 /"));
  ::rmdir(dir);
}

TEST_CASE_METHOD(InjectTest, "inject: a multi-threaded process joins a mount namespace, every thread; it starts threads after",
                 "[inject]") {
  char dir[] = "/tmp/cfs-inject-mnt-mt-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string marker = std::string(dir) + "/marker";
  auto src = make_source("cfs-src-mnt-mt", kUtsNetIpc | CLONE_NEWNS, [&] {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(12);
    if (::mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) ::_exit(13);
    int fd = ::open(marker.c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) ::_exit(14);
    ::close(fd);
  });
  Pipe cmd, out;
  Child target([&] {
    if (::chdir("/tmp") != 0) ::_exit(15);
    for (int i = 0; i < 7; ++i)
      std::thread([] {
        for (;;) ::pause();
      }).detach();
    for (;;) {
      char c;
      if (::read(cmd.r(), &c, 1) != 1) ::_exit(0);
      // A new thread, born after the move: what it sees.
      std::thread([&] {
        char cwd[256] = {};
        if (!::getcwd(cwd, sizeof cwd)) std::strcpy(cwd, "?");
        say(out.w(), "%d %s\n", ::access(marker.c_str(), F_OK) == 0, cwd);
      }).join();
    }
  });
  REQUIRE(wait_until([&] { return tasks_of(target.pid()).size() == 8; }, 5000ms));
  REQUIRE(::write(cmd.w(), "x", 1) == 1);
  CHECK(read_line(out.r(), 5000ms) == std::optional<std::string>("0 /tmp"));
  REQUIRE(wait_until([&] { return tasks_of(target.pid()).size() == 8; }, 5000ms));
  const auto tids = tasks_of(target.pid());
  // Before: one filesystem context for all (pthreads share it).
  for (pid_t tid : tids) REQUIRE(::syscall(SYS_kcmp, tids[0], tid, KCMP_FS, 0, 0) == 0);

  REQUIRE(move({target.pid(), src.pid(), kUtsNetIpc | CLONE_NEWNS}).has_value());
  require_moved(target.pid(), src.pid(), {"mnt", "uts", "net", "ipc"});
  require_released(target.pid());
  // Each thread has a context of its own now, at the namespace's root.
  for (pid_t tid : tids) {
    INFO("thread " << tid);
    if (tid != tids[0]) CHECK(::syscall(SYS_kcmp, tids[0], tid, KCMP_FS, 0, 0) > 0);
    char cwd[64] = {};
    const std::string link = "/proc/" + std::to_string(target.pid()) + "/task/" + std::to_string(tid) + "/cwd";
    CHECK(::readlink(link.c_str(), cwd, sizeof cwd - 1) == 1);
    CHECK(std::string(cwd) == "/");
  }
  // A thread it starts now lives in the namespace too.
  REQUIRE(::write(cmd.w(), "x", 1) == 1);
  CHECK(read_line(out.r(), 5000ms) == std::optional<std::string>("1 /"));
  ::rmdir(dir);
}

TEST_CASE_METHOD(InjectTest, "inject: a SIGSTOPped process is moved and stays stopped", "[inject]") {
  auto src = make_source("cfs-src-stopped");
  ReaderTarget target;
  REQUIRE(::kill(target.pid(), SIGSTOP) == 0);
  REQUIRE(wait_until([&] { return proc_state(target.pid()) == 'T'; }, 2000ms));
  auto r = move({target.pid(), src.pid(), kUtsNetIpc});
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

TEST_CASE_METHOD(InjectTest, "inject: the self-write protocol: seize first, reply, then inject", "[inject]") {
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

  SECTION("proceed after the reply") {
    const auto t0 = Clock::now();
    auto ticket = begin({target.pid(), src.pid(), kUtsNetIpc});
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
  SECTION("a move dropped after phase 1 leaves it untouched, without waiting for the stop") {
    auto ticket = begin({target.pid(), src.pid(), kUtsNetIpc});
    REQUIRE(ticket.has_value());
    const auto t0 = Clock::now();
    ticket = std::unexpected(ECANCELED);  // dropped
    CHECK(Clock::now() - t0 < 500ms);
    require_released(target.pid());
    REQUIRE(::write(release.w(), "r", 1) == 1);
    auto reply = ask(cmd.w(), out.r());
    REQUIRE(reply);
    CHECK(reply->net == net);
    CHECK(reply->host == my_hostname());
  }
}

// A process in a fresh pid namespace (not its init), host /proc.
TEST_CASE_METHOD(InjectTest, "inject: targets in another pid namespace", "[inject]") {
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

  SECTION("an init of a pid namespace is refused") {
    auto r = move({init, src_in_ns, kUtsNetIpc});
    REQUIRE(!r);
    CHECK(r.error() == EINVAL);
  }
  SECTION("source in the same pid namespace: pidfd_open with the pid as the target sees it") {
    REQUIRE(move({target, src_in_ns, kUtsNetIpc}).has_value());
    require_moved(target, src_in_ns, {"uts", "net", "ipc"});
    require_released(target);
    auto reply = ask(cmd.w(), out.r());
    REQUIRE(reply);
    CHECK(reply->host == "cfs-src-inns");
  }
  SECTION("source invisible from the target's pid namespace: /proc/<pid>/ns/<x> per namespace") {
    auto src = make_source("cfs-src-host");
    REQUIRE(move({target, src.pid(), kUtsNetIpc}).has_value());
    require_moved(target, src.pid(), {"uts", "net", "ipc"});
    require_released(target);
    auto reply = ask(cmd.w(), out.r());
    REQUIRE(reply);
    CHECK(reply->host == "cfs-src-host");
    CHECK(reply->err == 0);
    // And back to the host's namespaces (the daemon as the source).
    REQUIRE(move({target, ::getpid(), kUtsNetIpc}).has_value());
    auto back = ask(cmd.w(), out.r());
    REQUIRE(back);
    CHECK(back->host == my_hostname());
  }
}

// ---------------------------------------------------------------------------
// Timing (hidden: run with "[.bench]")

double median_run_us(pid_t target, pid_t src_a, pid_t src_b, int runs) {
  std::vector<double> us;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    auto r = run_move({target, i % 2 ? src_b : src_a, kUtsNetIpc});
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    REQUIRE(r.has_value());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

TEST_CASE("inject: timing of a move", "[.bench]") {
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
