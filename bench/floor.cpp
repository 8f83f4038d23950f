// floor: the raw-syscall floor under containerfs's mkdir/rmdir.
//
// What each case times, per iteration (clock_gettime(CLOCK_MONOTONIC)):
//   clone_ns           clone(NEWNET|NEWUTS|NEWIPC|NEWPID|NEWNS|NEWCGROUP) of a
//                      child that _exit(0)s at once, + waitpid.
//   clone_ns_cgroup    mkdir a cgroup v2 dir, open its cgroup.procs, the same
//                      clone whose child first writes "0" to cgroup.procs
//                      (moves itself in, as containerfs's child does), waitpid,
//                      rmdir.  Sub-steps are timed too (…_mkdir/_clone_wait/_rmdir).
//   clone3_into_cgroup the same with clone3(CLONE_INTO_CGROUP): the kernel
//                      places the child, no cgroup.procs write.
//   spawn_init         (with --init PATH) what containerfs's mkdir does for a
//                      default-namespace container, minus FUSE and bookkeeping:
//                      mkdir cgroup; clone(CLONE_VFORK|CLONE_VM|CLONE_NEWPID)
//                      child writes "0" to cgroup.procs, unshare(the other
//                      five), mount("/", MS_REC|MS_PRIVATE), sethostname,
//                      execve(PATH).  Timed until clone returns (= exec done).
//   teardown_init      the matching rmdir floor: write "1" to cgroup.kill,
//                      waitpid the init, rmdir the cgroup.
//
// Output: one JSON object on stdout (times in microseconds).  Warm-up
// iterations (--warmup, default 5) are run and discarded.
//
// Usage: floor --cgroup-parent DIR [--iters 200] [--warmup 5] [--init PATH]
//              [--only CASE]   (clone_ns, clone_ns_cgroup, clone3_into_cgroup, init)
//              [--extra-fds N] (hold N more O_CLOEXEC fds open, as a daemon with
//                               many containers does: clone copies the fd table,
//                               execve closes them)
//   DIR is a cgroup v2 directory this program may create children in; it
//   creates DIR/floor-<pid>-<n> and removes each one again.
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

constexpr int kNsFlags =
    CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWCGROUP;
constexpr size_t kStack = 64 * 1024;

double now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

struct Samples {
  std::vector<double> v;
};

std::map<std::string, Samples> g_results;
std::vector<std::string> g_order;

void record(const std::string& name, double us, bool keep) {
  if (!keep) return;
  if (!g_results.count(name)) g_order.push_back(name);
  g_results[name].v.push_back(us);
}

// Nearest-rank percentile (same definition as bench/run).
double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  if (rank < 1) rank = 1;
  return v[rank - 1];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

pid_t wait_child(pid_t pid) {
  int status;
  pid_t r;
  do r = ::waitpid(pid, &status, __WALL);
  while (r < 0 && errno == EINTR);
  if (r < 0) die("waitpid");
  return r;
}

int child_exit(void*) { return 0; }

struct JoinArg {
  int procs_fd;
};
int child_join_exit(void* a) {
  auto* arg = static_cast<JoinArg*>(a);
  if (::write(arg->procs_fd, "0", 1) != 1) return 1;
  return 0;
}

std::string g_parent;
int g_seq = 0;
std::string fresh_cgroup() {
  return g_parent + "/floor-" + std::to_string(::getpid()) + "-" + std::to_string(g_seq++);
}

void rmdir_cgroup(const std::string& path) {
  // A just-reaped child can keep the cgroup busy for a moment; bounded retry.
  for (int i = 0; i < 2000; ++i) {
    if (::rmdir(path.c_str()) == 0) return;
    if (errno != EBUSY) die(("rmdir " + path).c_str());
    ::usleep(100);
  }
  die(("rmdir (still busy) " + path).c_str());
}

char* g_stack = nullptr;

void bench_clone_ns(bool keep) {
  double t0 = now_us();
  pid_t pid = ::clone(child_exit, g_stack + kStack, kNsFlags | SIGCHLD, nullptr);
  if (pid < 0) die("clone");
  wait_child(pid);
  record("clone_ns", now_us() - t0, keep);
}

void bench_clone_ns_cgroup(bool keep) {
  std::string cg = fresh_cgroup();
  double t0 = now_us();
  if (::mkdir(cg.c_str(), 0755) != 0) die("mkdir cgroup");
  int procs = ::open((cg + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (procs < 0) die("open cgroup.procs");
  double t1 = now_us();
  JoinArg arg{procs};
  pid_t pid = ::clone(child_join_exit, g_stack + kStack, kNsFlags | SIGCHLD, &arg);
  if (pid < 0) die("clone");
  int status;
  while (::waitpid(pid, &status, __WALL) < 0)
    if (errno != EINTR) die("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    errno = EIO;
    die("child could not join the cgroup");
  }
  ::close(procs);
  double t2 = now_us();
  rmdir_cgroup(cg);
  double t3 = now_us();
  record("clone_ns_cgroup", t3 - t0, keep);
  record("clone_ns_cgroup_mkdir", t1 - t0, keep);
  record("clone_ns_cgroup_clone_wait", t2 - t1, keep);
  record("clone_ns_cgroup_rmdir", t3 - t2, keep);
}

bool bench_clone3_into_cgroup(bool keep) {
  std::string cg = fresh_cgroup();
  double t0 = now_us();
  if (::mkdir(cg.c_str(), 0755) != 0) die("mkdir cgroup");
  int dirfd = ::open(cg.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) die("open cgroup dir");
  clone_args args{};
  args.flags = static_cast<unsigned long long>(kNsFlags) | CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<unsigned long long>(dirfd);
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) ::_exit(0);
  if (pid < 0) {
    int err = errno;
    ::close(dirfd);
    ::rmdir(cg.c_str());
    errno = err;
    std::fprintf(stderr, "floor: clone3(CLONE_INTO_CGROUP): %s (skipped)\n", std::strerror(err));
    return false;
  }
  ::close(dirfd);
  wait_child(static_cast<pid_t>(pid));
  rmdir_cgroup(cg);
  record("clone3_into_cgroup", now_us() - t0, keep);
  return true;
}

// --- spawn_init / teardown_init: containerfs's own recipe, inlined ---------

struct InitPlan {
  int procs_fd;
  const char* path;
  const char* hostname;
  int error;
};

int child_become_init(void* a) {
  auto* plan = static_cast<InitPlan*>(a);
  if (::write(plan->procs_fd, "0", 1) != 1) goto fail;
  if (::unshare(kNsFlags & ~CLONE_NEWPID) != 0) goto fail;
  ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  if (::sethostname(plan->hostname, std::strlen(plan->hostname)) != 0) goto fail;
  {
    char* argv[] = {const_cast<char*>("containerfs-init"), nullptr};
    char* envp[] = {nullptr};
    ::execve(plan->path, argv, envp);
  }
fail:
  plan->error = errno;
  ::_exit(127);
}

void bench_init(const char* init_path, bool keep) {
  std::string cg = fresh_cgroup();
  double t0 = now_us();
  if (::mkdir(cg.c_str(), 0755) != 0) die("mkdir cgroup");
  int procs = ::open((cg + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (procs < 0) die("open cgroup.procs");
  InitPlan plan{procs, init_path, "floor", 0};
  pid_t pid = ::clone(child_become_init, g_stack + kStack,
                      CLONE_VFORK | CLONE_VM | CLONE_NEWPID | SIGCHLD, &plan);
  if (pid < 0) die("clone");
  double t1 = now_us();
  ::close(procs);
  if (plan.error) {
    errno = plan.error;
    wait_child(pid);
    rmdir_cgroup(cg);
    die("init child");
  }
  record("spawn_init", t1 - t0, keep);

  double t2 = now_us();
  int kill = ::open((cg + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  if (kill < 0) die("open cgroup.kill");
  if (::write(kill, "1", 1) != 1) die("write cgroup.kill");
  ::close(kill);
  wait_child(pid);
  rmdir_cgroup(cg);
  record("teardown_init", now_us() - t2, keep);
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 200, warmup = 5;
  const char* init_path = nullptr;
  std::string only;
  int extra_fds = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "floor: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--iters") iters = std::atoi(next());
    else if (a == "--warmup") warmup = std::atoi(next());
    else if (a == "--cgroup-parent") g_parent = next();
    else if (a == "--init") init_path = next();
    else if (a == "--only") only = next();
    else if (a == "--extra-fds") extra_fds = std::atoi(next());
    else {
      std::fprintf(stderr, "usage: floor --cgroup-parent DIR [--iters N] [--warmup N] [--init PATH] [--only CASE]\n");
      return 2;
    }
  }
  auto want = [&](const char* c) { return only.empty() || only == c; };
  if (g_parent.empty() || iters < 1) {
    std::fprintf(stderr, "usage: floor --cgroup-parent DIR [--iters N] [--warmup N] [--init PATH]\n");
    return 2;
  }
  for (int i = 0; i < extra_fds; ++i)
    if (::open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) die("open /dev/null (--extra-fds)");
  g_stack = static_cast<char*>(std::aligned_alloc(64, kStack));
  if (!g_stack) die("stack");

  // Each case runs its iterations back to back, so that e.g. the asynchronous
  // network-namespace cleanup of one case lands on that case, not the next.
  if (want("clone_ns"))
    for (int i = 0; i < warmup + iters; ++i) bench_clone_ns(i >= warmup);
  if (want("clone_ns_cgroup"))
    for (int i = 0; i < warmup + iters; ++i) bench_clone_ns_cgroup(i >= warmup);
  if (want("clone3_into_cgroup"))
    for (int i = 0; i < warmup + iters; ++i)
      if (!bench_clone3_into_cgroup(i >= warmup)) break;
  if (init_path && want("init"))
    for (int i = 0; i < warmup + iters; ++i) bench_init(init_path, i >= warmup);

  std::printf("{\"iters\": %d, \"warmup\": %d, \"extra_fds\": %d, \"flags\": \"%s\", \"cases\": {", iters, warmup, extra_fds,
              "CLONE_NEWNET|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWCGROUP");
  bool first = true;
  for (auto& name : g_order) {
    auto& v = g_results[name].v;
    double sum = 0;
    for (double x : v) sum += x;
    std::printf("%s\n  \"%s\": {\"n\": %zu, \"median_us\": %.1f, \"p90_us\": %.1f, \"mean_us\": %.1f, "
                "\"min_us\": %.1f, \"max_us\": %.1f}",
                first ? "" : ",", name.c_str(), v.size(), median(v), percentile(v, 90),
                sum / v.size(), *std::min_element(v.begin(), v.end()),
                *std::max_element(v.begin(), v.end()));
    first = false;
  }
  std::printf("\n}}\n");
  return 0;
}
