// Injector and Ticket: one tracer thread per operation (see inject.hpp).
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "containerfs/kernel/inject.hpp"
#include "session.hpp"

namespace containerfs::kernel {

namespace inject_detail {

struct Shared {
  InjectorOptions options;
  void log(std::string_view msg) const {
    if (options.log) {
      options.log(msg);
    } else {
      fmt::print(stderr, "{}\n", msg);
      std::fflush(stderr);
    }
  }
};

// State shared by a Ticket, the Injector and the tracer thread.
struct Session {
  enum class Cmd { none, proceed, cancel };

  std::shared_ptr<Shared> shared;
  InjectRequest request;

  std::mutex mu;
  std::condition_variable cv;
  Cmd cmd = Cmd::none;
  bool log_result = false;
  bool prepared = false;
  Status prepare_result;
  bool done = false;
  Status result;
  pid_t tracer_tid = 0;

  std::mutex join_mu;
  std::thread thread;
  bool joined = false;

  // The tracer thread.
  void body() {
    {
      std::lock_guard lk(mu);
      tracer_tid = ::gettid();
    }
    // This thread polls with short sleeps: make them short (per thread).
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    Status outcome;
    {
      ProcessInjection op(request, shared->options, [s = shared](std::string_view m) { s->log(m); });
      Status prep = op.prepare();
      const bool pending = prep && op.seized();
      {
        std::lock_guard lk(mu);
        prepared = true;
        prepare_result = prep;
      }
      cv.notify_all();
      if (pending) {
        Cmd c;
        {
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return cmd != Cmd::none; });
          c = cmd;
        }
        // Cancel: nothing to do here. The threads were only interrupted;
        // this thread's exit detaches them (and hands on any signal).
        outcome = c == Cmd::proceed ? op.complete() : fail(ECANCELED);
      } else {
        outcome = prep;
      }
    }  // everything stopped is restored and detached here
    bool log_it;
    {
      std::lock_guard lk(mu);
      done = true;
      result = outcome;
      log_it = log_result;
    }
    cv.notify_all();
    if (log_it && !outcome)
      shared->log(fmt::format("containerfs: moving pid {} into the namespaces of pid {} failed: {}",
                              request.pid, request.ns_source_pid, std::strerror(outcome.error())));
  }

  bool command(Cmd c, bool log) {
    std::lock_guard lk(mu);
    if (cmd != Cmd::none) return false;
    cmd = c;
    log_result = log;
    cv.notify_all();
    return true;
  }

  bool is_done() {
    std::lock_guard lk(mu);
    return done;
  }

  // The result, or ETIMEDOUT if the tracer thread is not done by then.
  Status wait_done(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu);
    if (!cv.wait_for(lk, timeout, [&] { return done; })) return fail(ETIMEDOUT);
    return result;
  }

  // Joins the tracer thread, then waits (bounded) until it has left the
  // thread list: the kernel detaches its remaining tracees in exit_notify(),
  // after the futex wake that ends join().
  void join() {
    std::lock_guard lk(join_mu);
    if (joined) return;
    if (thread.joinable()) thread.join();
    joined = true;
    pid_t tid;
    bool failed;
    {
      std::lock_guard lk2(mu);
      tid = tracer_tid;
      failed = !done || !result;
    }
    // Only a failed operation can have left threads attached.
    if (tid <= 0 || !failed) return;
    const std::string path = fmt::format("/proc/self/task/{}", tid);
    const auto until = Clock::now() + std::chrono::seconds(1);
    while (::access(path.c_str(), F_OK) == 0 && Clock::now() < until) ::usleep(50);
  }
};

}  // namespace inject_detail

using inject_detail::Session;

// --- Ticket ---------------------------------------------------------------

Ticket::Ticket(Ticket&& o) noexcept : session_(std::move(o.session_)) {}

Ticket& Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    cancel();
    session_ = std::move(o.session_);
  }
  return *this;
}

Ticket::~Ticket() { cancel(); }

Status Ticket::finish() {
  if (!session_) return fail(EINVAL);
  session_->command(Session::Cmd::proceed, false);
  Status r = session_->wait_done(session_->shared->options.wait_timeout);
  if (r || r.error() != ETIMEDOUT || session_->is_done()) session_->join();
  return r;
}

void Ticket::proceed_detached() {
  if (!session_) return;
  session_->command(Session::Cmd::proceed, true);
  session_.reset();  // the Injector reaps the thread
}

void Ticket::cancel() {
  if (!session_) return;
  if (session_->command(Session::Cmd::cancel, false) || session_->is_done()) {
    (void)session_->wait_done(session_->shared->options.wait_timeout);
    if (session_->is_done()) session_->join();
  }
  session_.reset();
}

// --- Injector -------------------------------------------------------------

Injector::Injector() : Injector(InjectorOptions{}) {}

Injector::Injector(InjectorOptions options)
    : shared_(std::make_shared<inject_detail::Shared>(inject_detail::Shared{std::move(options)})) {}

Injector::~Injector() {
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lk(mutex_);
    sessions.swap(sessions_);
  }
  for (auto& s : sessions) s->command(Session::Cmd::cancel, false);
  for (auto& s : sessions) s->join();
}

void Injector::reap_finished() {
  std::vector<std::shared_ptr<Session>> finished;
  {
    std::lock_guard lk(mutex_);
    auto it = std::partition(sessions_.begin(), sessions_.end(),
                             [](const std::shared_ptr<Session>& s) { return !s->is_done(); });
    finished.assign(std::make_move_iterator(it), std::make_move_iterator(sessions_.end()));
    sessions_.erase(it, sessions_.end());
  }
  for (auto& s : finished) s->join();
}

Result<Ticket> Injector::begin(const InjectRequest& request) {
  reap_finished();
  auto s = std::make_shared<Session>();
  s->shared = shared_;
  s->request = request;
  try {
    // A raw pointer: the Session must not own its own thread.
    s->thread = std::thread([raw = s.get()] { raw->body(); });
  } catch (const std::system_error& e) {
    return fail(e.code().value() != 0 ? e.code().value() : EAGAIN);
  }
  {
    std::lock_guard lk(mutex_);
    sessions_.push_back(s);
  }
  Status prep;
  {
    std::unique_lock lk(s->mu);
    if (!s->cv.wait_for(lk, shared_->options.wait_timeout, [&] { return s->prepared; })) {
      lk.unlock();
      s->command(Session::Cmd::cancel, false);  // it ends by itself; reaped later
      return fail(ETIMEDOUT);
    }
    prep = s->prepare_result;
  }
  if (!prep) {
    // Untouched only once the tracer thread is gone (it may hold attached,
    // interrupted threads that its exit detaches).
    s->join();
    return std::unexpected(prep.error());
  }
  return Ticket(std::move(s));
}

Status Injector::run(const InjectRequest& request) {
  auto ticket = begin(request);
  if (!ticket) return std::unexpected(ticket.error());
  return ticket->finish();
}

}  // namespace containerfs::kernel
