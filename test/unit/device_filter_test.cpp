// containerfs::kernel device filters against the real kernel (root and a
// cgroup2 mount; without them each test says so with WARN and does
// nothing): programs loaded and attached to a cgroup made for the test
// (removed afterwards, also on failure), and processes forked into it that
// open and mknod devices and get EPERM where the rules say so. Every child
// is killed and reaped by its guard; every wait is bounded.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/device_filter.hpp"
#include "containerfs/kernel/device_program.hpp"
#include "containerfs/kernel/mountinfo.hpp"
#include "containerfs/util/fd.hpp"
#include "random_device_rules.hpp"

using namespace containerfs;
using namespace containerfs::kernel;
using namespace std::chrono_literals;

namespace {

// The cgroup2 mount's root cgroup, or nullopt (with a WARN) when the
// tests cannot run: not root, or no cgroup2 mount.
std::optional<Cgroup> cgroup2_root_or_skip() {
  if (::geteuid() != 0) {
    WARN("not root: device filter test skipped");
    return std::nullopt;
  }
  auto mountinfo = read_own_mountinfo();
  auto mount = mountinfo ? find_cgroup2_mount(*mountinfo) : Result<std::string>(fail(ENOENT));
  if (!mount) {
    WARN("no cgroup2 mount: device filter test skipped");
    return std::nullopt;
  }
  auto root = Cgroup::open(*mount);
  INFO(*mount);
  REQUIRE(root);
  return std::move(*root);
}

// A fresh cgroup below `parent`, removed (after its processes are gone)
// when the test ends, however it ends.
class TestCgroup {
 public:
  explicit TestCgroup(const Cgroup& parent) : parent_(parent) {
    static int counter = 0;
    name_ = "cfs-devtest-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    auto made = parent.create_child(name_);
    INFO(parent.path() << "/" << name_);
    REQUIRE(made);
    cgroup_ = std::move(*made);
  }
  TestCgroup(const TestCgroup&) = delete;
  ~TestCgroup() {
    cgroup_ = Cgroup();
    if (auto ok = parent_.remove_child(name_, 5000ms); !ok)
      WARN("could not remove test cgroup " << parent_.path() << "/" << name_ << ": errno " << ok.error());
  }
  const Cgroup& cgroup() const { return cgroup_; }
  int fd() const { return cgroup_.fd(); }

 private:
  const Cgroup& parent_;
  std::string name_;
  Cgroup cgroup_;
};

// A temporary directory for device nodes, removed with what is in it.
struct TempDir {
  std::string path;
  TempDir() {
    char templ[] = "/tmp/cfs-devtest-XXXXXX";
    REQUIRE(::mkdtemp(templ));
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Kills and reaps a child when the test leaves, whatever happened.
struct ChildGuard {
  pid_t pid = -1;
  std::optional<int> status;
  ~ChildGuard() {
    if (pid > 0 && !status) {
      ::kill(pid, SIGKILL);
      reap(5000ms);
    }
  }
  // Waits at most `limit` for the child to exit.
  bool reap(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!status) {
      int st = 0;
      pid_t r = ::waitpid(pid, &st, WNOHANG);
      if (r == pid) status = st;
      else if (r < 0 && errno != EINTR) return false;
      else if (std::chrono::steady_clock::now() > end) return false;
      else std::this_thread::sleep_for(5ms);
    }
    return true;
  }
};

// Reads exactly `size` bytes within `limit`; false on EOF or timeout.
bool read_exact(int fd, void* buffer, size_t size, std::chrono::milliseconds limit) {
  auto* out = static_cast<char*>(buffer);
  const auto end = std::chrono::steady_clock::now() + limit;
  while (size > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, int(left.count())) <= 0) continue;
    ssize_t n = ::read(fd, out, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out += n;
    size -= size_t(n);
  }
  return true;
}

// Both ends of a pipe, closed when the test leaves.
struct Pipe {
  UniqueFd read_end, write_end;
  Pipe() {
    int fd[2];
    REQUIRE(::pipe2(fd, O_CLOEXEC) == 0);
    read_end.reset(fd[0]);
    write_end.reset(fd[1]);
  }
};

// What a child does, in the cgroup, to a device: open it or make a node.
struct DeviceOp {
  enum Kind { open, mknod } kind;
  std::string path;
  int flags = 0;  // open flags
  dev_t dev = 0;  // for mknod, a character device
};

DeviceOp open_op(const char* path, int flags) { return {DeviceOp::open, path, flags, 0}; }
DeviceOp mknod_op(const std::string& path, unsigned major, unsigned minor) {
  return {DeviceOp::mknod, path, 0, makedev(major, minor)};
}

// Forks a child; it moves itself into the cgroup (writing 0 to its
// cgroup.procs) and then runs `body(write_fd)` (raw system calls only),
// writing what it reports to the pipe it is given.
template <typename Body>
void start_in_cgroup(const Cgroup& cgroup, ChildGuard& child, Pipe& report, Body body) {
  const int procs = ::openat(cgroup.fd(), "cgroup.procs", O_WRONLY | O_CLOEXEC);
  REQUIRE(procs >= 0);
  child.pid = ::fork();
  if (child.pid == 0) {
    if (::write(procs, "0", 1) != 1) ::_exit(100);
    body(report.write_end.get());
    ::_exit(0);
  }
  ::close(procs);
  REQUIRE(child.pid > 0);
  report.write_end.reset();
}

// Runs the operations in a child moved into the cgroup; 0 or the errno of
// each.
std::vector<int> run_in_cgroup(const Cgroup& cgroup, const std::vector<DeviceOp>& ops) {
  ChildGuard child;
  Pipe report;
  start_in_cgroup(cgroup, child, report, [&](int out) {
    for (const auto& op : ops) {
      int err = 0;
      if (op.kind == DeviceOp::open) {
        int fd = ::open(op.path.c_str(), op.flags | O_CLOEXEC);
        if (fd < 0) err = errno;
        else ::close(fd);
      } else if (::mknod(op.path.c_str(), S_IFCHR | 0600, op.dev) != 0) {
        err = errno;
      }
      if (::write(out, &err, sizeof err) != sizeof err) ::_exit(101);
    }
  });
  std::vector<int> errs(ops.size());
  REQUIRE(read_exact(report.read_end.get(), errs.data(), errs.size() * sizeof(int), 10000ms));
  REQUIRE(child.reap(5000ms));
  CHECK(WIFEXITED(*child.status));
  CHECK(WEXITSTATUS(*child.status) == 0);
  return errs;
}

std::vector<std::uint32_t> ours_attached(int cgroup_fd) {
  auto all = attached_device_programs(cgroup_fd);
  REQUIRE(all);
  std::vector<std::uint32_t> ids;
  for (const auto& p : *all)
    if (p.name == kDeviceFilterName) ids.push_back(p.id);
  return ids;
}

DeviceRules rules_of(std::string_view text) {
  auto r = DeviceRules::parse(text);
  REQUIRE(r);
  return *r;
}

size_t open_fd_count() {
  return size_t(std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}));
}

// True once no program has the id (a detached program is freed when its
// last reference goes), waiting at most 2 s.
bool program_gone(std::uint32_t id) {
  const auto end = std::chrono::steady_clock::now() + 2000ms;
  for (;;) {
    auto fd = device_program_by_id(id);
    if (!fd && fd.error() == ENOENT) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace

TEST_CASE("device filter: an attached program refuses what the rules do not allow, with EPERM", "[kernel][devices]") {
  auto root = cgroup2_root_or_skip();
  if (!root) return;
  TestCgroup cg(*root);
  TempDir nodes;

  // Before: nothing attached, everything works.
  auto none = attached_device_filter(cg.fd());
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  CHECK(run_in_cgroup(cg.cgroup(), {open_op("/dev/zero", O_RDONLY)}) == std::vector<int>{0});

  const size_t fds_before = open_fd_count();
  auto id = apply_device_filter(cg.fd(), rules_of("c 1:3 rwm\nc 1:7 r\n"));
  REQUIRE(id);
  CHECK(open_fd_count() == fds_before);  // the daemon holds nothing
  auto found = attached_device_filter(cg.fd());
  REQUIRE(found);
  CHECK(*found == std::optional<std::uint32_t>(*id));
  CHECK(ours_attached(cg.fd()) == std::vector<std::uint32_t>{*id});

  const auto errs = run_in_cgroup(cg.cgroup(), {
                                                   open_op("/dev/null", O_RDWR),
                                                   open_op("/dev/full", O_RDONLY),
                                                   open_op("/dev/full", O_WRONLY),
                                                   open_op("/dev/zero", O_RDONLY),
                                                   mknod_op(nodes.path + "/null", 1, 3),
                                                   mknod_op(nodes.path + "/zero", 1, 5),
                                                   mknod_op(nodes.path + "/full", 1, 7),
                                               });
  CHECK(errs == std::vector<int>{0, 0, EPERM, EPERM, 0, EPERM, EPERM});
  CHECK(::access((nodes.path + "/null").c_str(), F_OK) == 0);
  CHECK(::access((nodes.path + "/zero").c_str(), F_OK) != 0);
  // Outside the cgroup nothing changed.
  int zero = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
  CHECK(zero >= 0);
  if (zero >= 0) ::close(zero);
}

TEST_CASE("device filter: a replacement takes the old one's place in one step", "[kernel][devices]") {
  auto root = cgroup2_root_or_skip();
  if (!root) return;
  TestCgroup cg(*root);
  // Both allow /dev/null, neither /dev/zero; only the second /dev/full.
  const DeviceRules a = rules_of("c 1:3 rwm\n");
  const DeviceRules b = rules_of("c 1:3 rwm\nc 1:7 rwm\n");
  auto first = apply_device_filter(cg.fd(), a);
  REQUIRE(first);

  // A member opens /dev/null and /dev/zero over and over while the filter
  // is replaced: a moment with no filter would let /dev/zero open, a moment
  // with a wrong one would refuse /dev/null.
  ChildGuard child;
  Pipe report, stop;
  start_in_cgroup(cg.cgroup(), child, report, [&](int out) {
    stop.write_end.reset();
    long counts[3] = {0, 0, 0};  // attempts, /dev/zero opened, /dev/null refused
    const char ready = 'r';
    if (::write(out, &ready, 1) != 1) ::_exit(101);
    for (long i = 0; i < 50'000'000; ++i) {
      pollfd p{stop.read_end.get(), POLLIN, 0};
      if (::poll(&p, 1, 0) != 0) break;
      int fd = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        ++counts[1];
        ::close(fd);
      }
      fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) ++counts[2];
      else ::close(fd);
      ++counts[0];
    }
    if (::write(out, counts, sizeof counts) != sizeof counts) ::_exit(101);
  });
  stop.read_end.reset();
  char ready = 0;
  REQUIRE(read_exact(report.read_end.get(), &ready, 1, 10000ms));

  std::uint32_t previous = *first;
  std::vector<std::uint32_t> replaced;
  for (int round = 0; round <= 100; ++round) {  // b, a, b, ... b
    auto id = apply_device_filter(cg.fd(), round % 2 ? a : b);
    REQUIRE(id);
    CHECK(*id != previous);
    REQUIRE(ours_attached(cg.fd()) == std::vector<std::uint32_t>{*id});
    replaced.push_back(previous);
    previous = *id;
  }
  stop.write_end.reset();
  long counts[3] = {0, 0, 0};
  REQUIRE(read_exact(report.read_end.get(), counts, sizeof counts, 10000ms));
  REQUIRE(child.reap(5000ms));
  CHECK(counts[0] > 100);
  CHECK(counts[1] == 0);
  CHECK(counts[2] == 0);
  // Every program replaced is gone from the kernel, not only detached.
  for (auto old : replaced) CHECK(program_gone(old));
  // The last one (b) is what applies now.
  CHECK(run_in_cgroup(cg.cgroup(), {open_op("/dev/full", O_RDONLY), open_op("/dev/zero", O_RDONLY)}) ==
        std::vector<int>{0, EPERM});
}

TEST_CASE("device filter: removing it allows everything again and leaves others' programs", "[kernel][devices]") {
  auto root = cgroup2_root_or_skip();
  if (!root) return;
  TestCgroup cg(*root);

  // Another program on the same cgroup (someone else's), allowing all.
  auto other = load_device_program(device_program(DeviceRules::allow_all()), "other_devices");
  REQUIRE(other);
  REQUIRE(attach_device_program(cg.fd(), other->get()));
  auto other_id = program_id(other->get());
  REQUIRE(other_id);
  other->reset();  // it stays attached without an fd

  auto none = attached_device_filter(cg.fd());
  REQUIRE(none);
  CHECK_FALSE(none->has_value());  // not ours

  auto id = apply_device_filter(cg.fd(), DeviceRules::own_dev());
  REQUIRE(id);
  auto second = apply_device_filter(cg.fd(), DeviceRules::deny_all());
  REQUIRE(second);
  CHECK(run_in_cgroup(cg.cgroup(), {open_op("/dev/null", O_RDONLY)}) == std::vector<int>{EPERM});

  REQUIRE(remove_device_filter(cg.fd()));
  auto after = attached_device_filter(cg.fd());
  REQUIRE(after);
  CHECK_FALSE(after->has_value());
  CHECK(program_gone(*second));
  CHECK(run_in_cgroup(cg.cgroup(), {open_op("/dev/null", O_RDONLY), open_op("/dev/zero", O_RDONLY)}) ==
        std::vector<int>{0, 0});
  // The other program is still there, alone.
  auto all = attached_device_programs(cg.fd());
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK((*all)[0].id == *other_id);
  CHECK((*all)[0].name == "other_devices");
  // Removing again: nothing to do, no error.
  CHECK(remove_device_filter(cg.fd()));
}

TEST_CASE("device filter: a parent cgroup's filter and a child's both apply", "[kernel][devices]") {
  auto root = cgroup2_root_or_skip();
  if (!root) return;
  TestCgroup parent(*root);
  TestCgroup child(parent.cgroup());
  REQUIRE(apply_device_filter(parent.fd(), rules_of("c 1:3 rwm\nc 1:5 rwm\n")));
  REQUIRE(apply_device_filter(child.fd(), rules_of("c 1:3 rwm\nc 1:7 rwm\n")));
  const std::vector<DeviceOp> ops = {open_op("/dev/null", O_RDONLY), open_op("/dev/zero", O_RDONLY),
                                     open_op("/dev/full", O_RDONLY)};
  CHECK(run_in_cgroup(parent.cgroup(), ops) == std::vector<int>{0, 0, EPERM});
  CHECK(run_in_cgroup(child.cgroup(), ops) == std::vector<int>{0, EPERM, EPERM});
  // Each cgroup lists only its own.
  CHECK(ours_attached(parent.fd()).size() == 1);
  CHECK(ours_attached(child.fd()).size() == 1);
}

TEST_CASE("device filter: the kernel's verifier takes the program of any rule set", "[kernel][devices]") {
  if (!cgroup2_root_or_skip()) return;
  std::mt19937 rng(5150);
  for (int round = 0; round < 40; ++round) {
    const auto rules = test::random_device_rules(rng, round);
    INFO(rules.format());
    CHECK(load_device_program(device_program(rules), kDeviceFilterName));
  }
  std::string text = "a\n";
  for (std::size_t i = 0; i < kMaxDeviceExceptions; ++i) text += "-b " + std::to_string(i) + ":* rw\n";
  CHECK(load_device_program(device_program(rules_of(text)), kDeviceFilterName));
}

TEST_CASE("device filter: refusals carry the kernel's errno and attach nothing", "[kernel][devices]") {
  if (!cgroup2_root_or_skip()) return;
  const bpf_insn no_r0[] = {{BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  auto bad = load_device_program(no_r0, kDeviceFilterName);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == EACCES);  // the verifier: r0 never written
  const auto good = device_program(DeviceRules::allow_all());
  for (const char* name : {"", "has space", "sixteen_chars_xx", "dash-ed"}) {
    auto r = load_device_program(good, name);
    INFO(name);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
  // Not a cgroup: a plain directory.
  TempDir dir;
  const int fd = ::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto r = apply_device_filter(fd, DeviceRules::own_dev());
  auto q = attached_device_filter(fd);
  auto rm = remove_device_filter(fd);
  ::close(fd);
  REQUIRE_FALSE(r);
  CHECK(r.error() == EBADF);
  REQUIRE_FALSE(q);
  CHECK(q.error() == EBADF);
  REQUIRE_FALSE(rm);
  CHECK(rm.error() == EBADF);
}
