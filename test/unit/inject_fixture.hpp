// What the tests of the syscall injection (ProcessInjection, run as the
// injector process runs it) share: real child processes with pipes to talk
// to them, namespace and /proc readers, and the InjectTest fixture, which
// runs each move on a tracer thread of its own. Runs as root. Every child is
// killed and reaped by its Child guard; every wait is bounded.
#pragma once

#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../../src/kernel/inject/process_injection.hpp"

namespace inject_test {

using namespace std::chrono_literals;
using containerfs::Result;
using containerfs::Status;
using containerfs::kernel::inject_detail::InjectorOptions;
using containerfs::kernel::inject_detail::InjectRequest;
using containerfs::kernel::inject_detail::ProcessInjection;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr int kUtsNetIpc = CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWIPC;

// Refusals and what could not be restored go to stderr with CFS_TEST_VERBOSE.
InjectorOptions test_options();

// Everything a child does goes through raw syscalls and write(2).
void say(int fd, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe();
  ~Pipe();
  Pipe(const Pipe&) = delete;
  int r() const { return fd[0]; }
  int w() const { return fd[1]; }
};

// One line from fd within the timeout (without the newline).
std::optional<std::string> read_line(int fd, Ms timeout);
bool wait_until(const std::function<bool()>& pred, Ms timeout);

// A forked child running `body`; killed and reaped (bounded) on destruction.
class Child {
 public:
  explicit Child(const std::function<void()>& body);
  Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), reaped_(o.reaped_) {}
  Child(const Child&) = delete;
  ~Child() { reap(); }
  pid_t pid() const { return pid_; }
  // The wait status once it exits; nullopt if still running after timeout.
  std::optional<int> wait_exit(Ms timeout);
  void reap();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

ino_t ns_ino(const std::string& path);
ino_t ns_ino(pid_t pid, const char* kind);
ino_t task_ns_ino(pid_t pid, pid_t tid, const char* kind);
std::vector<pid_t> tasks_of(pid_t pid);
std::string status_field(const std::string& status_path, const std::string& key);
std::string task_status(pid_t pid, pid_t tid, const std::string& key);
char proc_state(pid_t pid);
// No thread traced; none in a tracing stop; none group-stopped unless allowed.
void require_released(pid_t pid, bool allow_stopped = false);
// Every thread of pid in src's namespaces of these kinds.
void require_moved(pid_t pid, pid_t src, std::initializer_list<const char*> kinds);

// A process holding fresh namespaces (uts, net, ipc + extra), hostname set.
Child make_source(const std::string& hostname, int flags = kUtsNetIpc, const std::function<void()>& setup = {});
std::string my_hostname();

// Target body: blocks in read(cmd); for each byte answers
// "<byte> <hostname> <net inode> <errno of a failed read or 0>" on out.
// Exits on 'q' or EOF.
[[noreturn]] void reader_loop(int cmd, int out);

struct Reply {
  char byte = 0;
  std::string host;
  unsigned long net = 0;
  int err = 0;
};
std::optional<Reply> parse_reply(const std::optional<std::string>& line);
std::optional<Reply> ask(int cmd, int out, char byte = 'x');

// A reader target with its pipes, set up and blocked in read().
struct ReaderTarget {
  Pipe cmd, out;
  Child child;
  explicit ReaderTarget(const std::function<void()>& before = {});
  pid_t pid() const { return child.pid(); }
  std::optional<Reply> ask(char byte = 'x') { return inject_test::ask(cmd.w(), out.r(), byte); }
};

// A thread that runs jobs one after another, as a worker of the injector
// process does: every ptrace request of a move must come from the thread
// that attached. Destroyed, it ends and has left this process's thread list
// (then the kernel has detached whatever it still traced).
class TracerThread {
 public:
  TracerThread();
  ~TracerThread();
  TracerThread(const TracerThread&) = delete;
  // Runs `job` on the thread and waits for it (bounded: a move is bounded
  // by its own timeouts; past 30 s the test run is aborted).
  void run(const std::function<void()>& job);

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool done_ = true;
  bool stop_ = false;
  pid_t tid_ = 0;
  std::thread thread_;
};

// One move between its phases, on a tracer thread of its own. Dropping it
// before finish() cancels it: the process is left untouched, without
// waiting for it to stop.
class PendingMove {
 public:
  PendingMove(const InjectRequest& request, const InjectorOptions& options);
  PendingMove(PendingMove&&) noexcept = default;
  ~PendingMove();
  // Phase 1; success with !seized() when there is nothing to do.
  Status prepare();
  bool seized() const;
  // Phase 2: stop, check, inject, restore, detach.
  Status finish();

 private:
  struct State {
    TracerThread tracer;
    std::unique_ptr<ProcessInjection> op;
  };
  std::unique_ptr<State> state_;
};

// A whole move as the injector process runs it: phase 1, then phase 2 if
// there is anything to do.
Status run_move(const InjectRequest& request, const InjectorOptions& options = test_options());
// Phase 1 only; the process is untouched if it fails.
Result<PendingMove> begin_move(const InjectRequest& request, const InjectorOptions& options = test_options());

// The fixture: the options every move of a test runs with.
class InjectTest {
 protected:
  InjectorOptions options = test_options();
  Status move(const InjectRequest& request) { return run_move(request, options); }
  Result<PendingMove> begin(const InjectRequest& request) { return begin_move(request, options); }
};

}  // namespace inject_test
