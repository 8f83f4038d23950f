// ProcessInjection and signals: none that arrives during a move is lost,
// merged away or delivered otherwise than it would have been without it.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <string>
#include <thread>

#include "inject_fixture.hpp"

using namespace inject_test;

namespace {

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

TEST_CASE_METHOD(InjectTest, "inject: a signal arriving while the target is stopped is delivered afterwards, siginfo intact", "[inject]") {
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
  auto ticket = begin({target.pid(), src.pid(), kUtsNetIpc});
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

// Sends SIGRTMIN to `tpid` `n` times, with the values 1..n, 300 us apart.
Child send_numbered_signals(pid_t tpid, long n) {
  return Child([=] {
    for (long i = 1; i <= n; ++i) {
      while (::sigqueue(tpid, SIGRTMIN, sigval{int(i)}) != 0) ::usleep(100);
      ::usleep(300);
    }
  });
}

// Runs `each` (one move, and what the test checks after it) until the
// sender is done; returns how often it ran.
int while_sending(Child& sender, const std::function<void()>& each) {
  int runs = 0;
  std::optional<int> sender_status;
  while (!(sender_status = sender.wait_exit(0ms)) && runs < 3000) {
    each();
    ++runs;
  }
  if (!sender_status) sender_status = sender.wait_exit(30000ms);
  REQUIRE(sender_status);
  CHECK(WIFEXITED(*sender_status));
  CHECK(runs >= 10);
  return runs;
}

// The target, asked on `cmd`, answers "<count> <sum>" of the SIGRTMIN it
// handled: every one of the n arrived exactly once, with its value.
void require_every_signal_counted(const Pipe& cmd, const Pipe& out, long n) {
  std::string last;
  const std::string want = std::to_string(n) + " " + std::to_string(n * (n + 1) / 2);
  REQUIRE(wait_until(
      [&] {
        if (::write(cmd.w(), "c", 1) != 1) return false;
        last = read_line(out.r(), 2000ms).value_or("?");
        return last == want;
      },
      5000ms));
  CHECK(last == want);
}

TEST_CASE_METHOD(InjectTest, "inject: no signal is lost or duplicated while injections run", "[inject]") {
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
  Child sender = send_numbered_signals(tpid, kSignals);
  bool to_b = false;
  const int runs = while_sending(sender, [&] {
    REQUIRE(move({tpid, (to_b = !to_b) ? b.pid() : a.pid(), kUtsNetIpc}).has_value());
  });
  WARN(runs << " injections while " << kSignals << " signals came in");
  require_every_signal_counted(cmd, out, kSignals);
  require_released(tpid);
}

TEST_CASE_METHOD(InjectTest, "inject: a thread that needs no move, stopped and released, loses no signal", "[inject]") {
  // T1 lives in the source's network namespace and takes every SIGRTMIN;
  // T0 is sent back to the host's before each run. So each run stops T1,
  // often with a signal on its way (delivered before it blocks them), and
  // releases it without injecting, with signals pending.
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
  Child sender = send_numbered_signals(tpid, kSignals);
  const int runs = while_sending(sender, [&] {
    REQUIRE(::write(cmd.w(), "h", 1) == 1);
    REQUIRE(read_line(out.r(), 5000ms));
    REQUIRE(move({tpid, apid, CLONE_NEWNET}).has_value());
    for (pid_t tid : tasks_of(tpid)) REQUIRE(task_ns_ino(tpid, tid, "net") == ns_ino(apid, "net"));
  });
  WARN(runs << " runs while " << kSignals << " signals came in");
  require_every_signal_counted(cmd, out, kSignals);
  require_released(tpid);
}

// Expirations of a POSIX timer, as its signal handler counts them: one for
// the signal and one for each expiration merged into it (si_overrun).
volatile long g_expirations = 0;
void count_expirations(int, siginfo_t* si, void*) { g_expirations = g_expirations + 1 + si->si_overrun; }

long long ns_of(const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; }

TEST_CASE_METHOD(InjectTest, "inject: no expiration of a POSIX timer is lost while moves come and go", "[inject]") {
  // A standard signal that arrives while one of its kind is pending is
  // merged away; a timer counts what was merged into its pending signal as
  // overruns. A move must not take the signal from the process (and queue
  // it back behind a later one that swallows it).
  const int sig = GENERATE(SIGALRM, SIGCHLD, SIGIO);
  INFO("signal " << sig);
  constexpr long long kPeriodNs = 1'000'000;
  auto a = make_source("cfs-src-timer");
  Pipe cmd, out;
  Child target([&] {
    struct sigaction sa {};
    sa.sa_sigaction = count_expirations;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (::sigaction(sig, &sa, nullptr) != 0) ::_exit(70);
    sigevent ev{};
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = sig;
    timer_t timer;
    if (::timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) ::_exit(71);
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const long long first = ns_of(now) + 5 * kPeriodNs;
    const itimerspec every{{0, kPeriodNs}, {first / 1'000'000'000, first % 1'000'000'000}};
    if (::timer_settime(timer, TIMER_ABSTIME, &every, nullptr) != 0) ::_exit(72);
    say(out.w(), "ticking\n");
    char c;
    while (::read(cmd.r(), &c, 1) != 1) {
    }
    // The count so far, and exactly where the timer stands: the signal
    // blocked, the next expiration taken as it comes, then the timer's
    // next expiration read; the expirations before it are its index.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    siginfo_t si{};
    const timespec bound{2, 0};
    if (::sigtimedwait(&set, &si, &bound) != sig) ::_exit(73);
    const long counted = g_expirations + 1 + si.si_overrun;
    itimerspec left{};
    ::timer_gettime(timer, &left);
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const double index = double(ns_of(now) + ns_of(left.it_value) - first) / double(kPeriodNs);
    say(out.w(), "%ld %lld\n", counted, std::llround(index));
    for (;;) ::pause();
  });
  REQUIRE(read_line(out.r(), 5000ms) == std::optional<std::string>("ticking"));
  for (int i = 0; i < 20; ++i) {
    REQUIRE(move({target.pid(), i % 2 ? ::getpid() : a.pid(), kUtsNetIpc}).has_value());
    ::usleep(3000);
  }
  require_released(target.pid());
  REQUIRE(::write(cmd.w(), "x", 1) == 1);
  auto line = read_line(out.r(), 5000ms);
  REQUIRE(line);
  long counted = 0;
  long long expired = 0;
  REQUIRE(std::sscanf(line->c_str(), "%ld %lld", &counted, &expired) == 2);
  CHECK(counted == expired);
  CHECK(expired > 20);
}

}  // namespace
