#include "inject_fixture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace inject_test {

InjectorOptions test_options() {
  InjectorOptions o;
  o.log = [](std::string_view msg) {
    if (std::getenv("CFS_TEST_VERBOSE")) std::fprintf(stderr, "[injector] %.*s\n", int(msg.size()), msg.data());
  };
  return o;
}

// Everything a child does goes through raw syscalls and write(2).
void say(int fd, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) (void)!::write(fd, buf, std::min<size_t>(size_t(n), sizeof buf - 1));
}

Pipe::Pipe() { REQUIRE(::pipe2(fd, O_CLOEXEC) == 0); }

Pipe::~Pipe() {
  for (int f : fd)
    if (f >= 0) ::close(f);
}

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

Child::Child(const std::function<void()>& body) {
  pid_ = ::fork();
  if (pid_ == 0) {
    body();
    ::_exit(0);
  }
  REQUIRE(pid_ > 0);
}

std::optional<int> Child::wait_exit(Ms timeout) {
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

void Child::reap() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  ::kill(pid_, SIGCONT);
  (void)wait_exit(5000ms);
}

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

void require_released(pid_t pid, bool allow_stopped) {
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

Child make_source(const std::string& hostname, int flags, const std::function<void()>& setup) {
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

void reader_loop(int cmd, int out) {
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

std::optional<Reply> parse_reply(const std::optional<std::string>& line) {
  if (!line) return std::nullopt;
  std::istringstream in(*line);
  Reply r;
  if (!(in >> r.byte >> r.host >> r.net >> r.err)) return std::nullopt;
  return r;
}
std::optional<Reply> ask(int cmd, int out, char byte) {
  if (::write(cmd, &byte, 1) != 1) return std::nullopt;
  return parse_reply(read_line(out, 5000ms));
}

ReaderTarget::ReaderTarget(const std::function<void()>& before)
    : child([&] {
        if (before) before();
        reader_loop(cmd.r(), out.w());
      }) {
  // Answering proves it is running and set up.
  auto r = ask();
  REQUIRE(r);
  REQUIRE(r->err == 0);
  // Let it block in read() again.
  REQUIRE(wait_until([&] { return proc_state(child.pid()) == 'S'; }, 2000ms));
}

void require_moved(pid_t pid, pid_t src, std::initializer_list<const char*> kinds) {
  for (pid_t tid : tasks_of(pid))
    for (const char* k : kinds) {
      INFO("thread " << tid << " ns " << k);
      CHECK(task_ns_ino(pid, tid, k) == ns_ino(src, k));
    }
}

// ---------------------------------------------------------------------------
// Running moves

TracerThread::TracerThread() : thread_([this] { loop(); }) {}

TracerThread::~TracerThread() {
  pid_t tid;
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    tid = tid_;
  }
  cv_.notify_all();
  thread_.join();
  // The kernel detaches a tracer's remaining tracees in exit_notify(),
  // after the futex wake that ends join().
  const std::string path = "/proc/self/task/" + std::to_string(tid);
  wait_until([&] { return ::access(path.c_str(), F_OK) != 0; }, 2000ms);
}

void TracerThread::loop() {
  std::unique_lock lk(mu_);
  tid_ = ::gettid();
  for (;;) {
    cv_.wait(lk, [&] { return !done_ || stop_; });
    if (done_ && stop_) return;
    lk.unlock();
    job_();
    lk.lock();
    done_ = true;
    cv_.notify_all();
  }
}

void TracerThread::run(const std::function<void()>& job) {
  std::unique_lock lk(mu_);
  job_ = job;
  done_ = false;
  cv_.notify_all();
  if (!cv_.wait_for(lk, 30s, [&] { return done_; })) {
    std::fprintf(stderr, "a move on the tracer thread did not end within 30 s\n");
    std::abort();  // it still uses the test's stack: no way to go on
  }
}

PendingMove::PendingMove(const InjectRequest& request, const InjectorOptions& options)
    : state_(std::make_unique<State>()) {
  state_->tracer.run([&] { state_->op = std::make_unique<ProcessInjection>(request, options); });
}

PendingMove::~PendingMove() {
  if (state_) state_->tracer.run([&] { state_->op.reset(); });
}

Status PendingMove::prepare() {
  Status s;
  state_->tracer.run([&] { s = state_->op->prepare(); });
  return s;
}

bool PendingMove::seized() const { return state_->op->seized(); }

Status PendingMove::finish() {
  Status s;
  state_->tracer.run([&] {
    if (state_->op->seized()) s = state_->op->complete();
    state_->op.reset();  // restored and detached on the tracer thread
  });
  return s;
}

Status run_move(const InjectRequest& request, const InjectorOptions& options) {
  auto pending = begin_move(request, options);
  if (!pending) return std::unexpected(pending.error());
  return pending->finish();
}

Result<PendingMove> begin_move(const InjectRequest& request, const InjectorOptions& options) {
  PendingMove pending(request, options);
  if (auto s = pending.prepare(); !s) return std::unexpected(s.error());
  return pending;
}

}  // namespace inject_test
