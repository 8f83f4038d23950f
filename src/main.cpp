// containerfs [SOURCE] MOUNTPOINT [-f] [-d] [-s] [-o OPTIONS]
//
// Exit codes follow libfuse's fuse_main(): 1 bad arguments (an unknown or
// malformed option, containerfs's or libfuse's), 2 no mount point, 3 set-up
// failed (not root, no cgroup v2, another daemon owns the cgroup
// directory), 4 the mount point is unusable (missing, not a directory,
// already a containerfs mount) or mounting failed, 5 daemonize failed,
// 6 signal handlers, 7 the session loop failed. Every mistake is caught
// before anything is made, and reported in one line on stderr.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <boost/filesystem.hpp>
#include <fmt/format.h>

#include "containerfs/fuse/events_watch.hpp"
#include "containerfs/fuse/invalidator.hpp"
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/libfuse_options.hpp"
#include "containerfs/kernel/injector_process.hpp"
#include "containerfs/kernel/mountinfo.hpp"
#include "containerfs/kernel/reaper.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/home_places.hpp"
#include "containerfs/mount_point.hpp"
#include "containerfs/options.hpp"
#include "containerfs/util/log.hpp"
#include "containerfs/util/made_dirs.hpp"

#ifndef CONTAINERFS_LIBEXECDIR
#define CONTAINERFS_LIBEXECDIR "/usr/local/libexec"
#endif
#ifndef CONTAINERFS_VERSION
#define CONTAINERFS_VERSION "0"
#endif

namespace {

using namespace containerfs;

constexpr const char* kUsage = "usage: containerfs [SOURCE] MOUNTPOINT [-f] [-d] [-s] [-o OPTIONS]";

struct ParseState {
  Options options;
  OptionParser parser{options, fuse::libfuse_refusal};
  std::vector<std::string> positional;
  bool bad = false;
  bool fsname_given = false;
};

int process_option(void* data, const char* arg, int key, fuse_args*) {
  auto* st = static_cast<ParseState*>(data);
  if (key == FUSE_OPT_KEY_NONOPT) {
    st->positional.emplace_back(arg);
    return 0;  // SOURCE and MOUNTPOINT: libfuse never sees them
  }
  if (key == FUSE_OPT_KEY_OPT) {
    if (st->bad) return 0;  // the first mistake is the one reported
    if (std::string_view(arg).starts_with("fsname=")) st->fsname_given = true;
    auto ours = st->parser.feed(arg);
    if (!ours) {
      st->bad = true;
      return 0;
    }
    return *ours ? 0 : 1;
  }
  return 1;
}

// One line on stderr: what is wrong, for a command that then exits.
template <typename... Args>
int refuse_start(int exit_code, fmt::format_string<Args...> f, Args&&... args) {
  fmt::print(stderr, "containerfs: {}\n", fmt::format(f, std::forward<Args>(args)...));
  return exit_code;
}

void usage() {
  fmt::print(
      "{}\n\n"
      "containerfs options:\n"
      "    -o cgroup=DIR          cgroup v2 directory the daemon owns\n"
      "                           (default: <cgroup2 mount>/containerfs)\n"
      "    -o namespaces=LIST     namespaces a new container gets fresh\n"
      "                           (default: network,uts,ipc,pid,mount,cgroup)\n"
      "    -o state=DIR           state directory (default: /run/containerfs)\n\n",
      kUsage);
}

std::string find_init_program() {
  boost::system::error_code ec;
  auto exe = boost::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = exe.parent_path() / "containerfs-init";
    if (::access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  return std::string(CONTAINERFS_LIBEXECDIR) + "/containerfs-init";
}

// The cgroup directory the daemon owns, and its path below the cgroup2 mount.
struct RootCgroup {
  kernel::Cgroup cgroup;
  std::string relative;  // below the cgroup2 mount
  std::string mount;     // the cgroup2 mount
};

// Opens (making it if missing) and locks the daemon's cgroup directory, or
// says why not.
std::expected<RootCgroup, std::string> open_root_cgroup(const Options& options,
                                                         std::string_view mountinfo, MadeDirs& made) {
  auto mount = kernel::find_cgroup2_mount(mountinfo);
  if (!mount) return std::unexpected("no cgroup v2 mount found in /proc/self/mountinfo");
  std::string dir = options.cgroup.empty() ? *mount + "/containerfs" : options.cgroup;
  if (!dir.starts_with(*mount + "/"))
    return std::unexpected(fmt::format("cgroup={} is not below the cgroup v2 mount {}", dir, *mount));
  auto made_dir = made.make(dir);
  auto cgroup = made_dir ? kernel::Cgroup::open(dir) : fail(made_dir.error());
  if (!cgroup)
    return std::unexpected(fmt::format("cannot open cgroup directory {}: {}", dir, std::strerror(cgroup.error())));
  if (auto locked = cgroup->lock_exclusive(); !locked)
    return std::unexpected(fmt::format("another containerfs daemon owns {}", dir));
  std::string relative = dir.substr(mount->size());
  return RootCgroup{std::move(*cgroup), relative, *mount};
}

// The daemon keeps no descriptor per container, but each request in flight
// holds a few (a cgroup directory, a pidfd, /proc files) and up to 64 run
// at once: the soft limit of 1024 is raised to the hard one.
void raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
    log::warn("cannot raise the open-files limit: {}", log::errno_text(errno));
}

// The command line, read whole: containerfs's options, libfuse's, the
// mount point. What is left in `args` is for fuse_session_new.
struct CommandLine {
  ParseState parsed;
  fuse_cmdline_opts cmd{};
  fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  CommandLine() = default;
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;
  ~CommandLine() { fuse_opt_free_args(&args); }
};

// Reads the command line into `line`; an exit code if the command ends here
// (a mistake, --help, --version), nullopt to go on.
std::optional<int> read_command_line(int argc, char* argv[], CommandLine& line) {
  auto& parsed = line.parsed;
  line.args = FUSE_ARGS_INIT(argc, argv);
  parsed.options.namespaces = default_namespaces();
  if (fuse_opt_parse(&line.args, &parsed, nullptr, process_option) != 0) return 1;
  if (!parsed.bad && !parsed.parser.finish()) parsed.bad = true;
  if (parsed.bad) return refuse_start(1, "{}", parsed.parser.problem());
  if (parsed.positional.size() > 2)
    return refuse_start(1, "too many arguments: {} ({})", fmt::join(parsed.positional, " "), kUsage);
  if (parsed.positional.size() == 2) parsed.options.source = parsed.positional[0];
  fuse_opt_add_arg(&line.args, "-osubtype=containerfs");
  if (!parsed.fsname_given)
    fuse_opt_add_arg(&line.args, fmt::format("-ofsname={}", parsed.options.source).c_str());
  fuse_opt_add_arg(&line.args, "-odefault_permissions");

  if (fuse_parse_cmdline(&line.args, &line.cmd) != 0) return 1;
  free(line.cmd.mountpoint);  // NULL: the mount point is not libfuse's to check (see main)
  line.cmd.mountpoint = nullptr;
  // Line by line: --version's last line comes from another program.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (line.cmd.show_help) {
    usage();
    fuse_cmdline_help();
    fuse_lowlevel_help();
    return 0;
  }
  if (line.cmd.show_version) {
    fmt::print("containerfs version {}\n", CONTAINERFS_VERSION);
    std::fflush(stdout);
    fuse_lowlevel_version();
    return 0;
  }
  if (parsed.positional.empty()) return refuse_start(2, "no mount point given ({})", kUsage);
  return std::nullopt;
}

// The FUSE session loop, as many threads as libfuse is told; 0 or its error.
int serve(fuse_session* session, const fuse_cmdline_opts& cmd) {
  if (cmd.singlethread) return fuse_session_loop(session);
  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
  fuse_loop_cfg_set_max_threads(loop, cmd.max_threads ? cmd.max_threads : 64);
  if (cmd.max_idle_threads != UINT_MAX) fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
  int rc = fuse_session_loop_mt(session, loop);
  fuse_loop_cfg_destroy(loop);
  return rc;
}

// Mounted and daemonized: the model, its helpers, the loop, until unmounted.
int run_mounted(fuse_session* session, fuse::Filesystem& fs, const CommandLine& line, RootCgroup root,
                const std::string& mountpoint) {
  // Threads start only now: fuse_daemonize forks.
  model::Config config;
  config.root = std::move(root.cgroup);
  config.root_cgroup_path = root.relative;
  config.cgroup2_mount = root.mount;
  config.fresh_namespaces = line.parsed.options.namespaces;
  config.init_path = find_init_program();
  config.mount_point = mountpoint;
  fuse::Invalidator invalidator;
  fs.invalidator = &invalidator;
  auto containers = std::make_unique<model::Containers>(std::move(config));
  containers->on_change([&fs](const model::TreeChange& change) { fuse::forget_change(fs, change); });
  if (auto loaded = containers->load(); !loaded)
    log::error("rebuilding the tree failed: {}", log::errno_text(loaded.error()));
  // Its children are reaped by the containers' reaper, as every child is.
  kernel::InjectorProcess injector({.syslog = !line.cmd.foreground});
  fs.injector = &injector;
  model::HomePlaces places(line.parsed.options.state);
  fs.places = &places;
  fuse::EventsWatcher events;
  fs.events = &events;
  fs.containers = containers.get();
  invalidator.start(session);
  log::info("mounted at {} ({} containers)", mountpoint, containers->size());

  int rc = serve(session, line.cmd);
  invalidator.stop();
  fuse_session_unmount(session);
  fuse_remove_signal_handlers(session);
  log::info("unmounted; containers stay (mount again to manage them)");
  return rc == 0 ? 0 : 7;
}

}  // namespace

int main(int argc, char* argv[]) {
  // The daemon's own helper (kernel/injector_process.hpp), started by it.
  if (argc >= 2 && argv[1] == kernel::kInjectorServiceFlag)
    return kernel::run_injector_service(kernel::kInjectorControlFd,
                                        argc >= 3 && argv[2] == kernel::kInjectorSyslogFlag);
  kernel::Reaper::prepare_process();
  raise_fd_limit();
  CommandLine line;
  if (auto done = read_command_line(argc, argv, line)) return *done;

  // Everything is checked before anything is made.
  if (::geteuid() != 0) return refuse_start(3, "must run as root");
  auto mountinfo = kernel::read_own_mountinfo();
  if (!mountinfo) return refuse_start(3, "cannot read /proc/self/mountinfo: {}", std::strerror(mountinfo.error()));
  auto mountpoint = check_mount_point(line.parsed.positional.back(), *mountinfo);
  if (!mountpoint) return refuse_start(4, "{}", mountpoint.error());
  log::set_debug(line.cmd.debug);
  // libfuse checks the options it keeps once more as a whole (each one was
  // checked as it came), still before anything is made.
  fuse::Filesystem fs;
  auto ops = fuse::make_operations();
  std::unique_ptr<fuse_session, decltype(&fuse_session_destroy)> session(
      fuse_session_new(&line.args, &ops, sizeof ops, &fs), fuse_session_destroy);
  if (!session) return 1;

  MadeDirs made;  // removed again unless the file system gets mounted
  auto root = open_root_cgroup(line.parsed.options, *mountinfo, made);
  if (!root) return refuse_start(3, "{}", root.error());
  if (auto state = made.make(line.parsed.options.state); !state)
    return refuse_start(3, "cannot create state directory {}: {}", line.parsed.options.state,
                        std::strerror(state.error()));
  if (fuse_set_signal_handlers(session.get()) != 0) return 6;
  if (fuse_session_mount(session.get(), mountpoint->c_str()) != 0) return 4;
  made.keep();
  if (fuse_daemonize(line.cmd.foreground) != 0) return 5;
  log::to_syslog(!line.cmd.foreground);
  return run_mounted(session.get(), fs, line, std::move(*root), *mountpoint);
}
