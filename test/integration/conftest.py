"""Fixtures: a real containerfs mounted in a temp directory, per test.

Each test gets its own cgroup directory (<cgroup2 mount>/cfs-test-<random>),
state directory and mount point, and a daemon started in the foreground as a
child of pytest. Teardown always runs: lazy unmount, kill the daemon by pid,
cgroup.kill the test's cgroup, wait until it is empty, remove the cgroup
directories bottom-up, remove the temp directories. Every wait is bounded.

The build directory is $CONTAINERFS_BUILD, or <repo>/build.
"""
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import helpers
from helpers import run, wait_until

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CONTAINERFS_BUILD", REPO / "build"))
DAEMON = BUILD / "containerfs"

MOUNT_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
CGROUP_TIMEOUT = 5.0
# A test that takes longer than this has hung somewhere in the file system:
# the watchdog kills its daemons (by pid), which fails every pending request.
WATCHDOG_SECONDS = 120.0


def pytest_configure(config):
    # Orphans (inits of a SIGKILLed daemon, test processes) come to us, not to
    # PID 1, which does not reap on this machine; teardown reaps them.
    helpers.set_child_subreaper()
    config.addinivalue_line("markers", "namespaces(list): the daemon's -o namespaces=")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the daemon logs to the report of a failing test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        shown = set()
        for c in getattr(item, "containerfs_instances", []):
            for d in c.daemons:
                log = d.read_log()
                if log and d.log_path not in shown:
                    shown.add(d.log_path)
                    report.sections.append((f"containerfs log {d.log_path}", log))


def pytest_report_header(config):
    return f"containerfs daemon: {DAEMON}"


def mounted_fuse(mnt):
    """True if mnt is a fuse.containerfs mount in /proc/self/mounts."""
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 3:
                continue
            # The kernel writes space, tab, newline, backslash as \ooo.
            where = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            if where == str(mnt) and fields[2] == "fuse.containerfs":
                return fields
    return None


class Daemon:
    """One containerfs process, foreground, stderr to a log file."""

    def __init__(self, mnt, cgroup, state, log_path, options=(), args=()):
        self.mnt, self.cgroup, self.state = str(mnt), str(cgroup), str(state)
        self.log_path = log_path
        self.options = list(options)
        self.args = list(args)
        self.proc = None

    def command(self):
        opts = ",".join([f"cgroup={self.cgroup}", f"state={self.state}"] + self.options)
        mnt = [self.mnt] if self.mnt else []  # "" to leave it out
        return [str(DAEMON), *self.args, *mnt, "-f", "-o", opts]

    def start(self, wait=True):
        with open(self.log_path, "a") as log:
            log.write(f"\n=== {' '.join(self.command())}\n")
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        if wait:
            self.wait_mounted()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def wait_mounted(self, timeout=MOUNT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not mounted_fuse(self.mnt):
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError(f"daemon exited {rc} before mounting:\n{self.read_log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.mnt} not mounted after {timeout}s:\n{self.read_log()}")
            time.sleep(0.01)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, sig=signal.SIGKILL):
        """Signals the daemon by pid (never by name)."""
        if self.proc and self.proc.poll() is None:
            helpers.kill_pid(self.proc.pid, sig)

    def stop(self):
        """Lazy unmount, then terminate and kill by pid, all bounded."""
        if self.mnt and mounted_fuse(self.mnt):
            run(["fusermount3", "-uz", self.mnt], check=False)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.kill(signal.SIGTERM)
        if self.wait_exit(STOP_TIMEOUT) is None:
            self.kill(signal.SIGKILL)
            self.wait_exit(STOP_TIMEOUT)

    saved_log = None

    def read_log(self):
        if self.saved_log is not None:
            return self.saved_log
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""


class CopiedDaemon(Daemon):
    """The daemon started from another program file (an upgrade)."""

    def __init__(self, exe, *args, **kw):
        super().__init__(*args, **kw)
        self.exe = exe

    def command(self):
        cmd = super().command()
        cmd[0] = self.exe
        return cmd


class Containerfs:
    """What a test gets: .mnt, .cgroup, .state, .daemon (Popen), .log()."""

    def __init__(self, tmp, cgroup, options):
        self.tmp = Path(tmp)
        self.cgroup = str(cgroup)
        self.mnt = str(self.tmp / "mnt")
        self.state = str(self.tmp / "state")
        self.log_path = str(self.tmp / "daemon.log")
        self.options = list(options)
        os.mkdir(self.mnt)
        self.daemons = []       # every daemon started, for teardown
        self.extra_mounts = []  # other mount points used by the test
        self.netns = []         # /run/netns entries made by the test
        self.procs = []         # other processes started by the test
        self.current = None

    # -- daemons
    def start(self, options=None, args=(), mnt=None, state=None, wait=True):
        d = Daemon(mnt or self.mnt, self.cgroup, state or self.state, self.log_path,
                   self.options if options is None else options, args)
        self.daemons.append(d)
        d.start(wait=wait)
        if mnt is None or mnt == self.mnt:
            self.current = d
        return d

    @property
    def daemon(self):
        return self.current.proc

    @property
    def pid(self):
        return self.current.pid

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def restart(self):
        """SIGKILL the daemon, lazy-unmount, start again on the same
        cgroup/state/mount point."""
        old = self.current
        old.kill(signal.SIGKILL)
        assert old.wait_exit() is not None, "daemon did not die of SIGKILL"
        run(["fusermount3", "-uz", self.mnt])
        return self.start()

    def unmount(self):
        """fusermount3 -u (not lazy); returns the daemon's exit code."""
        run(["fusermount3", "-u", self.mnt])
        rc = self.current.wait_exit()
        assert rc is not None, f"daemon still running after unmount:\n{self.log()}"
        return rc

    def try_daemon(self, options=None, args=(), mnt=None, timeout=5.0):
        """Runs another daemon on the same cgroup directory, with its own
        mount point (mnt="" for none) and state, expecting it to exit.
        Returns (exit code, or None if it kept running, and its log). One
        that keeps running is unmounted and killed."""
        if mnt is None:
            mnt = tempfile.mkdtemp(prefix="mnt2-", dir=self.tmp)
        if mnt:
            self.extra_mounts.append(mnt)
        n = len(self.daemons)
        d = Daemon(mnt, self.cgroup, str(self.tmp / f"state{n}"), str(self.tmp / f"daemon{n}.log"),
                   self.options if options is None else options, args)
        self.daemons.append(d)
        d.start(wait=False)
        rc = d.wait_exit(timeout)
        if rc is None:
            d.stop()
        return rc, d.read_log()

    def second_daemon(self, options=None, timeout=5.0):
        """Another daemon on the same cgroup directory: must be refused."""
        return self.try_daemon(options, timeout=timeout)

    # -- paths
    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def cg(self, *parts):
        return os.path.join(self.cgroup, *parts)

    def init_pid(self, container):
        with open(self.path(container, "init")) as f:
            return int(f.read().strip())

    def init_cgroup(self, container):
        """The cgroup directory the kernel says container's init is in."""
        rel = helpers.cgroup_of(self.init_pid(container))
        return os.path.join(helpers.find_cgroup2_mount(), rel.lstrip("/"))

    def cgroup_dir_of(self, container):
        """The container's own cgroup directory (c<id>), from the kernel: the
        init's cgroup, or its parent where the init sits in a leaf named
        'init' (layout c<id>/{init,tasks})."""
        cg = self.init_cgroup(container)
        return os.path.dirname(cg) if os.path.basename(cg) == "init" else cg

    def members_cgroup(self, container):
        """Where members go: the 'tasks' leaf if the layout has one."""
        cg = self.cgroup_dir_of(container)
        leaf = os.path.join(cg, "tasks")
        return leaf if os.path.isdir(leaf) else cg

    def mkdir(self, *names):
        for n in names:
            run(["mkdir", self.path(n)])

    def popen(self, cmd, **kw):
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def add_netns(self, name):
        self.netns.append(f"/run/netns/{name}")
        return f"/run/netns/{name}"

    # -- teardown
    def teardown(self):
        errors = []

        def attempt(what, fn):
            try:
                fn()
            except Exception as e:  # keep going: the next steps must run
                errors.append(f"{what}: {e!r}")

        for link in self.netns:
            attempt(f"remove {link}", lambda: os.path.lexists(link) and os.unlink(link))
        for d in reversed(self.daemons):
            attempt(f"stop daemon {d.proc.pid if d.proc else '?'}", d.stop)
        for m in [self.mnt] + self.extra_mounts:
            if mounted_fuse(m):
                attempt(f"unmount {m}", lambda: run(["fusermount3", "-uz", m], check=False))
        for p in self.procs:
            if p.poll() is None:
                helpers.kill_pid(p.pid)
                try:
                    p.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    errors.append(f"process {p.pid} survived SIGKILL")
        attempt("remove cgroups", self.remove_cgroups)
        helpers.reap_zombie_children()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return errors

    def remove_cgroups(self):
        if not os.path.isdir(self.cgroup):
            return
        try:
            with open(os.path.join(self.cgroup, "cgroup.kill"), "w") as f:
                f.write("1")
        except OSError:
            pass
        wait_until(lambda: not helpers.cgroup_populated(self.cgroup), CGROUP_TIMEOUT,
                   what=f"{self.cgroup} to become empty")
        helpers.reap_zombie_children()
        for d in list(reversed(helpers.cgroup_dirs(self.cgroup))) + ["."]:
            path = os.path.normpath(os.path.join(self.cgroup, d))
            try:
                helpers.retry_while_busy(lambda: os.rmdir(path), CGROUP_TIMEOUT)
            except FileNotFoundError:
                pass


@pytest.fixture
def cfs_factory(request):
    """Makes a Containerfs (not started) with its cgroup dir and temp dirs;
    tears everything down after the test."""
    if os.geteuid() != 0:
        pytest.skip("containerfs integration tests run as root")
    if not DAEMON.exists():
        pytest.fail(f"no daemon at {DAEMON}: build first (ninja -C build)")
    root = helpers.find_cgroup2_mount()
    if not root:
        pytest.skip("no cgroup v2 mount")
    made = []
    request.node.containerfs_instances = made

    def make(options=()):
        tmp = tempfile.mkdtemp(prefix="cfs-test-")
        cgroup = os.path.join(root, f"cfs-test-{secrets.token_hex(6)}")
        c = Containerfs(tmp, cgroup, options)
        made.append(c)
        return c

    # Watchdog: if a file system call hangs, kill the daemons by pid so the
    # test fails (ENOTCONN) instead of hanging the suite.
    def fire():
        for c in made:
            for d in c.daemons:
                d.kill(signal.SIGKILL)
    timer = threading.Timer(WATCHDOG_SECONDS, fire)
    timer.daemon = True
    timer.start()
    try:
        yield make
    finally:
        timer.cancel()
        problems = []
        logs = {}
        for c in made:
            problems += c.teardown()
            for d in c.daemons:
                logs[d.log_path] = d.read_log()
        # teardown() removes the temp dirs: keep the logs for the report.
        for c in made:
            for d in c.daemons:
                d.saved_log = logs.get(d.log_path, "")
        if problems:
            pytest.fail("teardown problems:\n" + "\n".join(problems))


@pytest.fixture
def cfs(cfs_factory, request):
    """A mounted containerfs. Options via @pytest.mark.namespaces("uts")."""
    options = []
    marker = request.node.get_closest_marker("namespaces")
    if marker:
        options.append(f"namespaces={marker.args[0]}")
    c = cfs_factory(options)
    c.start()
    return c


@pytest.fixture
def procs():
    """Test processes (support_procs.Procs), killed by pid afterwards."""
    from support_procs import Procs
    p = Procs()
    try:
        yield p
    finally:
        p.kill_all()
