"""Helpers for the containerfs integration tests.

Everything here reads the kernel's own view (/proc, cgroupfs, nsfs) so that
the tests check what really happened, not what the daemon says happened.
Every wait is bounded, and every process a test starts is recorded in a
Procs registry (the `procs` fixture) and killed by pid at the end.

Sections: commands and waits; reads and writes; processes; namespaces;
cgroups and the container record; the mount; the daemon and the mounted
tree a test gets (Daemon, Containerfs). Fixtures and pytest hooks live in
conftest.py, nothing else does.
"""
import ctypes
import errno
import fcntl
import functools
import os
import platform
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The build directory is $CONTAINERFS_BUILD, or <repo>/build.
BUILD = Path(os.environ.get("CONTAINERFS_BUILD", REPO / "build"))
DAEMON = BUILD / "containerfs"

# Default bound of any single command the tests run.
CMD_TIMEOUT = 10
MOUNT_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
CGROUP_TIMEOUT = 5.0
# A test that takes longer than this has hung somewhere in the file system:
# the fixture's watchdog kills its daemons (by pid), which fails every
# pending request.
WATCHDOG_SECONDS = 120.0

PY = sys.executable or "/usr/bin/python3"
# Small C programs the tests run (the `program` fixture compiles them).
PROGRAMS = Path(__file__).resolve().parent / "programs"
# A plain user, uid and gid 1000 with no supplementary groups: setpriv
# prefixes that run a command as that user.
USER_ID = 1000
AS_USER = ["setpriv", f"--reuid={USER_ID}", f"--regid={USER_ID}", "--clear-groups"]
# The same user, able to get past the kernel's (default_permissions) checks
# on the mount: only the daemon's own checks can refuse it.
AS_USER_DAC = AS_USER + ["--inh-caps", "+dac_override", "--ambient-caps", "+dac_override"]

# containerfs file name -> /proc/PID/ns/ name
NS_PROC_NAME = {
    "network": "net",
    "uts": "uts",
    "ipc": "ipc",
    "pid": "pid",
    "user": "user",
    "mount": "mnt",
    "cgroup": "cgroup",
    "time": "time",
}
ALL_NS_FILES = list(NS_PROC_NAME)
# The namespaces a container gets fresh by default.
DEFAULT_FRESH = ["network", "uts", "ipc", "pid", "mount", "cgroup"]

# Names no container may take: the files of the root and of a container,
# and names with the prefixes of cgroup interface files (containerfs(7),
# "reserved"), one of each.
RESERVED_NAMES = [
    "tasks", "init", "self", "network", "uts", "ipc", "pid", "user", "mount", "cgroup", "time",
    "hostname", "uid_map", "gid_map", "freeze", "kill", "events", "timens_offsets",
    "root", "console", "run", "devices",
    "cgroup.procs", "memory.max", "cpu.weight", "cpuset.cpus", "io.max", "pids.max",
    "hugetlb.2MB.max", "rdma.max", "misc.max", "freezer.state", "cpu.pressure", "cgroup.kill"]

CLONE_NEWNET = 0x40000000
CLONE_NEWUTS = 0x04000000
NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1)
NS_GET_PARENT = 0xB702  # _IO(0xb7, 0x2)
RENAME_NOREPLACE = 1
AT_FDCWD = -100
PR_SET_CHILD_SUBREAPER = 36

# The container's record, on its cgroup directory (README, "Design decisions").
RECORD_XATTR = "trusted.containerfs"
# Where processes moved into containers came from, on the daemon's cgroup
# directory (the way home).
ORIGINS_XATTR = "trusted.containerfs.origins"
# The name (comm) of the daemon's injector process.
INJECTOR_NAME = "containerfs-inj"
# Where the crash tests leave {kind of operation: faults survived} for the
# terminal summary (config.stash).
FAULTS_SURVIVED = pytest.StashKey[dict]()

_libc = ctypes.CDLL(None, use_errno=True)


# ---------------------------------------------------------------- commands and waits

class CommandFailed(AssertionError):
    pass


def run(cmd, check=True, timeout=CMD_TIMEOUT, input=None, env=None):
    """Runs a real program with a bounded wait; text output."""
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise CommandFailed(f"{cmd!r} timed out after {timeout}s "
                            f"(stdout={e.stdout!r} stderr={e.stderr!r})") from None
    if check and proc.returncode != 0:
        raise CommandFailed(f"{cmd!r} exited {proc.returncode}\n"
                            f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def shell_echo(value, path, timeout=CMD_TIMEOUT, prefix=()):
    """`echo VALUE > PATH` by a real shell; returns the CompletedProcess.
    bash, not dash: dash reports every failed write as "I/O error", bash
    says which errno ("write error: Invalid argument")."""
    return run([*prefix, "bash", "-c", 'echo "$1" > "$2"', "bash", str(value), path],
               check=False, timeout=timeout)


def wait_until(predicate, timeout=5.0, interval=0.02, what="condition"):
    """Polls predicate() until it is truthy; returns its value or raises."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def retry_while_busy(fn, timeout=5.0, interval=0.02):
    """Calls fn() until it does not raise EBUSY (cgroup files and
    directories a dying process still holds), at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(interval)


def timed(fn, *args, **kw):
    """(fn(*args), the seconds it took)."""
    t0 = time.monotonic()
    value = fn(*args, **kw)
    return value, time.monotonic() - t0


def errno_of(fn, *args, **kwargs):
    """0 if fn(*args) succeeds, else the errno of the OSError it raised."""
    try:
        fn(*args, **kwargs)
    except OSError as e:
        return e.errno
    return 0


def errname(code):
    """errno.EINVAL -> "EINVAL", 0 -> "success"."""
    return errno.errorcode.get(code, str(code)) if code else "success"


def diff(a, b, path=""):
    """Readable differences between two nested dicts, one line each."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}")
            elif a[k] != b[k]:
                out += diff(a[k], b[k], f"{path}/{k}")
    else:
        out.append(f"{path}: {a!r} -> {b!r}")
    return out


# ---------------------------------------------------------------- reads and writes

def write_once(path, data, flags=os.O_WRONLY, offset=None):
    """One open (flags), an optional lseek to offset, one write(2) of data
    (str or bytes), as a shell's echo does; returns the bytes written and
    raises OSError."""
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, flags)
    try:
        if offset is not None:
            os.lseek(fd, offset, os.SEEK_SET)
        return os.write(fd, data)
    finally:
        os.close(fd)


def write_errno(path, data):
    """write_once(path, data): 0, or the errno of the open or the write.
    The writer is the test process (never write 0 or our own pid to a tasks
    file with this)."""
    return errno_of(write_once, path, data)


def touch(path):
    """creat(2) and close, as touch(1) makes a file: in a container, a fresh
    namespace of that kind."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def read_text(path):
    with open(path) as f:
        return f.read()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_keyed(path):
    """A file of "key value" lines (cgroup.events, cpu.stat, a container's
    events) as a dict of strings."""
    return dict(line.split() for line in read_text(path).splitlines())


def read_line(stream, timeout):
    """One line from a pipe, bounded."""
    r, _, _ = select.select([stream.fileno()], [], [], timeout)
    assert r, f"no output within {timeout}s"
    return stream.readline()


# ---------------------------------------------------------------- processes

def compile_program(name, outdir):
    """PROGRAMS/NAME.c compiled with cc into outdir; the executable's path."""
    exe = Path(outdir) / name
    r = run(["cc", "-O1", "-Wall", "-pthread", "-o", str(exe), str(PROGRAMS / f"{name}.c"), "-lm"],
            check=False, timeout=60)
    assert r.returncode == 0, f"cc {name}.c: {r.stderr}"
    return str(exe)


def proc_status(pid):
    """/proc/PID/status as a dict, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def nspid(pid):
    """The pid in every pid namespace, the host's first."""
    st = proc_status(pid)
    assert st is not None, f"process {pid} does not exist"
    return [int(x) for x in st["NSpid"].split()]


def ppid(pid):
    st = proc_status(pid)
    assert st is not None, f"process {pid} does not exist"
    return int(st["PPid"])


def start_time(pid):
    """The process's start time in clock ticks after boot (field 22 of
    /proc/PID/stat): with the pid, what names one process for good."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[19])


def cpu_ticks(pid):
    """utime + stime of the process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_status(pid)
    return st is not None and not st["State"].startswith(("Z", "X"))


def gone(pid):
    """True once pid no longer exists at all (exited and reaped)."""
    return proc_status(pid) is None


def wait_dead(pid, timeout=5.0):
    """Waits until pid is no longer alive (a zombie counts as dead)."""
    wait_until(lambda: not alive(pid), timeout, what=f"{pid} to die")


def wait_sleeping(pid, timeout=5.0):
    """Waits until pid runs sleep(1) and is asleep in it."""
    wait_until(lambda: (proc_status(pid) or {}).get("State", "").startswith("S")
               and cmdline(pid).split()[:1] in (["sleep"], ["/usr/bin/sleep"], ["/bin/sleep"]),
               timeout, what=f"{pid} to sleep")


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def unused_pid():
    """A pid number that no process has: above pid_max where that is still
    a pid the kernel could give (below 2^22), else a free one below it."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    if pid_max < (1 << 22):
        return pid_max + 1
    for pid in range(pid_max - 1, 300, -1):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    pytest.skip("no unused pid")


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def threads_of(pid):
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return []


def descendants(root_pid):
    """All live-or-zombie descendants of root_pid (by PPid)."""
    children = {}
    for pid in all_pids():
        st = proc_status(pid)
        if st is None:
            continue
        children.setdefault(int(st["PPid"]), []).append(pid)
    out, todo = [], [root_pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def live_children(parent, name=None):
    """Children of parent (by PPid) that are not zombies, only those whose
    Name (comm) is `name` if given."""
    out = []
    for pid in all_pids():
        st = proc_status(pid)
        if (st and int(st["PPid"]) == parent and st["State"][0] not in "ZX"
                and (name is None or st["Name"] == name)):
            out.append(pid)
    return out


def zombie_children(parent):
    return [p for p in all_pids()
            if (st := proc_status(p)) and int(st["PPid"]) == parent and st["State"][0] == "Z"]


def injector_processes(parent):
    """Live injector processes whose parent is `parent` (a daemon, or the
    tests, the subreaper, for a dead daemon's)."""
    return live_children(parent, INJECTOR_NAME)


def reap(pid):
    """waitpid(pid, WNOHANG): collects it if it is our zombie child."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def reap_zombie_children():
    """Reaps zombies that were reparented to us (we are a subreaper)."""
    for pid in zombie_children(os.getpid()):
        reap(pid)


def set_child_subreaper():
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_pid(pid, sig=signal.SIGKILL):
    """Signals pid (never a name); a process already gone is no error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stopped_or_traced(pids):
    """Problems, one line each, of the live processes among pids that are
    stopped (State T or t) or traced (TracerPid not 0): what an injection
    cut short must never leave. A frozen process is asleep (S), not T."""
    out = []
    for pid in pids:
        st = proc_status(pid)
        if st is None or st["State"][0] in "ZX":
            continue
        if st["State"][0] in "Tt":
            out.append(f"{pid} ({cmdline(pid)}) left stopped: {st['State']}")
        if st["TracerPid"] != "0":
            out.append(f"{pid} ({cmdline(pid)}) left traced by {st['TracerPid']}")
    return out


class Procs:
    """Registry of the processes a test starts and of what else it must undo
    (on_cleanup); kill_all() runs the clean-ups, kills the processes by pid
    and reaps them, all bounded."""

    def __init__(self):
        self.popens = []
        self.pids = []
        self.cleanups = []

    def popen(self, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(cmd, **kw)
        self.popens.append(p)
        return p

    def add_pid(self, pid):
        """A process started by something else (not our Popen)."""
        self.pids.append(pid)

    def on_cleanup(self, fn):
        self.cleanups.append(fn)

    def kill_all(self):
        """Returns the problems: processes that survived SIGKILL. Safe to
        call again: what it did is forgotten."""
        cleanups, pids, popens = self.cleanups, self.pids, self.popens
        self.cleanups, self.pids, self.popens = [], [], []
        problems = []
        for fn in reversed(cleanups):
            try:
                fn()
            except Exception:
                pass
        for pid in pids:
            kill_pid(pid)
        for p in popens:
            if p.poll() is None:
                # A stopped process dies of SIGKILL too; a ptrace-stopped one
                # as soon as its tracer lets go.
                kill_pid(p.pid)
            try:
                p.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append(f"process {p.pid} survived SIGKILL")
            for stream in (p.stdin, p.stdout, p.stderr):
                if stream:
                    try:
                        stream.close()
                    except OSError:
                        pass
        deadline = time.monotonic() + STOP_TIMEOUT
        for pid in pids:
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if alive(pid):
                problems.append(f"process {pid} survived SIGKILL")
            reap(pid)
        reap_zombie_children()
        return problems

    # ---- kinds of processes

    def sleep(self, seconds=100, prefix=()):
        return self.popen([*prefix, "sleep", str(seconds)])

    def threads(self, n, seconds=100):
        """A python3 process with n extra threads (n+1 in all), all sleeping;
        returns once the kernel shows them all."""
        code = ("import threading, time, sys\n"
                f"for _ in range({n}):\n"
                f"    threading.Thread(target=time.sleep, args=({seconds},), daemon=True).start()\n"
                "print('ready', flush=True)\n"
                f"time.sleep({seconds})\n")
        p = self.popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
        line = read_line(p.stdout, 10)
        assert line.strip() == "ready", f"thread process said {line!r}"
        wait_until(lambda: len(threads_of(p.pid)) == n + 1, 5,
                   what=f"{n + 1} threads in {p.pid}")
        return p

    def seccomp_sleep(self, seconds=100):
        """sleep under a seccomp filter that kills the process on setns()."""
        nr = {"x86_64": 308, "aarch64": 268}.get(platform.machine())
        if nr is None:
            pytest.skip(f"no setns number for {platform.machine()}")
        code = f"""
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
insns = [(BPF_LD_W_ABS, 0, 0, 0),            # A = seccomp_data.nr
         (BPF_JEQ_K, 0, 1, {nr}),             # setns?
         (BPF_RET_K, 0, 0, 0x80000000),       # SECCOMP_RET_KILL_PROCESS
         (BPF_RET_K, 0, 0, 0x7fff0000)]       # SECCOMP_RET_ALLOW
prog_bytes = b"".join(struct.pack("HBBI", *i) for i in insns)
buf = ctypes.create_string_buffer(prog_bytes, len(prog_bytes))
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
prog = Prog(len(insns), ctypes.cast(buf, ctypes.c_void_p))
assert libc.prctl(38, 1, 0, 0, 0) == 0            # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0, ctypes.get_errno()  # PR_SET_SECCOMP
os.execvp("sleep", ["sleep", "{seconds}"])
"""
        p = self.popen([PY, "-c", code])
        wait_until(lambda: cmdline(p.pid).startswith("sleep"), 10,
                   what="the seccomp sleep to exec")
        st = proc_status(p.pid)
        assert st["Seccomp"] == "2", st.get("Seccomp")
        return p

    def strace(self, pid):
        """strace -p pid; returns once the kernel shows pid traced by it."""
        s = self.popen(["strace", "-p", str(pid), "-o", "/dev/null"])
        wait_until(lambda: int(proc_status(pid)["TracerPid"]) == s.pid, 10,
                   what=f"strace to attach to {pid}")
        return s

    def shell(self):
        return Shell(self)


class Shell:
    """A real /bin/sh reading commands from a pipe. After its pid is written
    to a tasks file, the commands it runs are its children: they are born in
    the container's pid namespace."""

    def __init__(self, procs):
        self.p = procs.popen(["sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, bufsize=0)
        self.pid = self.p.pid
        self.buf = b""
        assert self.run("echo hi") == "hi"

    def run(self, cmd, timeout=10):
        """Runs cmd; returns its output (stdout+stderr), stripped."""
        marker = f"__done_{time.monotonic_ns()}__"
        self.p.stdin.write(f"{cmd}\necho {marker}\n".encode())
        self.p.stdin.flush()
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while marker.encode() + b"\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"sh {self.pid}: no answer to {cmd!r} within {timeout}s: {self.buf!r}"
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                assert chunk, f"sh {self.pid} exited; output so far {self.buf!r}"
                self.buf += chunk
        out, _, self.buf = self.buf.partition(marker.encode() + b"\n")
        return out.decode(errors="replace").strip()


# ---------------------------------------------------------------- users

def open_up_to(path):
    """Lets every user reach `path` (search permission on each directory
    above it): temp dirs are 0700."""
    d = os.path.dirname(str(path))
    while d not in ("/", ""):
        mode = os.stat(d).st_mode
        if not mode & 0o001:
            os.chmod(d, (mode & 0o7777) | 0o711)
        d = os.path.dirname(d)


def free_user_id():
    """A uid that is also free as a gid, from a range kept for tests."""
    taken = {int(line.split(":")[2]) for line in open("/etc/passwd")}
    taken |= {int(line.split(":")[2]) for line in open("/etc/group")}
    for uid in range(23000, 24000):
        if uid not in taken:
            return uid
    raise AssertionError("no free uid in 23000-23999")


def add_user(prefix="cfs"):
    """A real user account with a group of its own (useradd, no home):
    (name, uid, gid). Remove it with remove_user."""
    name = f"{prefix}{secrets.token_hex(4)}"
    uid = free_user_id()
    run(["useradd", "--no-create-home", "--uid", str(uid), "--user-group", "--shell", "/bin/sh",
         name])
    try:
        gid = int(run(["id", "-g", name]).stdout)
    except Exception:
        remove_user(name, uid)
        raise
    return name, uid, gid


def remove_user(name, uid):
    """Kills by pid every process that runs as uid (anything left would
    keep userdel from working), then userdel and groupdel; returns the
    problems."""
    def running():
        return [pid for pid in all_pids()
                if (st := proc_status(pid)) and st.get("Uid", "").split()[:1] == [str(uid)]
                and st["State"][0] not in "ZX"]

    for pid in running():
        kill_pid(pid)
    problems = []
    try:
        wait_until(lambda: not running(), STOP_TIMEOUT, what=f"the processes of {name} to die")
    except AssertionError as e:
        problems.append(str(e))
    reap_zombie_children()
    for cmd in (["userdel", name], ["groupdel", name]):
        r = run(cmd, check=False)
        # groupdel: userdel removed the user's own group already (6).
        if r.returncode not in (0, 6):
            problems.append(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return problems


def user_prefix(uid, gid):
    """setpriv arguments that run a command as uid/gid with that user's
    groups."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups"]


# ---------------------------------------------------------------- namespaces

def ns_ino(path):
    """The nsfs inode of the namespace a path opens (links followed)."""
    return os.stat(path).st_ino


# The next command of a shell that moved itself into a container, saying
# which namespaces the shell is in now (`exec "$PY" -c "$OWN_NS" uts net`):
# /proc in there shows the container's pid namespace, where the shell is not
# (it keeps its own, as with setns(2)), so it reads them through the host's
# /proc, opened as fd 3 before the move (`exec 3</proc`).
OWN_NS = ("import os, sys\n"
          "print('\\n'.join(os.readlink(f'self/ns/{n}', dir_fd=3) for n in sys.argv[1:]))")


def proc_ns_ino(pid, name, tid=None):
    """nsfs inode of a namespace a process (or one thread of it) is in, by
    containerfs file name: /proc/PID/ns/<net, uts, ...>."""
    base = f"/proc/{pid}/task/{tid}" if tid else f"/proc/{pid}"
    return os.stat(f"{base}/ns/{NS_PROC_NAME[name]}").st_ino


def child_ns_ino(pid, name, tid=None):
    """As proc_ns_ino, but for pid and time the namespace the process's
    children are born into (pid_for_children, time_for_children): the one
    setns(2) changes, so the one a move into a container changes."""
    proc_name = {"pid": "pid_for_children", "time": "time_for_children"}.get(
        name, NS_PROC_NAME[name])
    base = f"/proc/{pid}/task/{tid}" if tid else f"/proc/{pid}"
    return os.stat(f"{base}/ns/{proc_name}").st_ino


def proc_ns_inos(pid, names=ALL_NS_FILES):
    """{containerfs ns name: nsfs inode} of the namespaces pid is in."""
    return {n: proc_ns_ino(pid, n) for n in names}


def thread_ns(pid, name):
    """{tid: inode} of one namespace kind for every thread of pid (as
    child_ns_ino)."""
    out = {}
    for tid in threads_of(pid):
        try:
            out[tid] = child_ns_ino(pid, name, tid)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            # The thread is exiting: its namespaces are no longer readable
            # (a task past exit_mm fails the ptrace access check: EACCES).
            pass
    return out


def stat_L_ino(path):
    """nsfs inode as `stat -L` (the real program) reports it."""
    return int(run(["stat", "-L", "-c", "%i", path]).stdout.strip())


def readlink(path):
    """The link's text as readlink(1) (the real program) prints it."""
    return run(["readlink", path]).stdout.rstrip("\n")


def _ns_ioctl_ino(ns_path, request):
    fd = os.open(ns_path, os.O_RDONLY)
    try:
        other = fcntl.ioctl(fd, request)
        try:
            return os.fstat(other).st_ino
        finally:
            os.close(other)
    finally:
        os.close(fd)


def ns_parent_ino(ns_path):
    """Inode of the parent of a pid/user namespace (ioctl NS_GET_PARENT)."""
    return _ns_ioctl_ino(ns_path, NS_GET_PARENT)


def ns_owner_ino(ns_path):
    """Inode of the user namespace that owns a namespace (NS_GET_USERNS)."""
    return _ns_ioctl_ino(ns_path, NS_GET_USERNS)


def all_ns_inodes():
    """{inode: [(pid, ns name)]} of every namespace under /proc/*/ns/*."""
    out = {}
    for pid in all_pids():
        try:
            names = os.listdir(f"/proc/{pid}/ns")
        except OSError:
            continue
        for n in names:
            try:
                ino = os.stat(f"/proc/{pid}/ns/{n}").st_ino
            except OSError:
                continue
            out.setdefault(ino, []).append((pid, n))
    return out


def container_ns(cfs, container, names=DEFAULT_FRESH):
    """{containerfs ns name: nsfs inode} through the container's files; an
    inherited one (no file) is the init's. The pid namespace is the one its
    members' children are born into."""
    out = {}
    for n in names:
        p = cfs.path(container, n)
        out[n] = ns_ino(p) if os.path.lexists(p) else child_ns_ino(cfs.init_pid(container), n)
    return out


def process_view(pid):
    """What a refused entry must leave as it was: every thread's namespaces,
    the cgroup, whether it is traced or stopped."""
    st = proc_status(pid)
    assert st is not None, f"process {pid} is gone"
    entries = ["net", "uts", "ipc", "pid_for_children", "mnt", "cgroup", "user",
               "time_for_children"]
    ns = {}  # kind -> the inodes its threads have (threads may come and go)
    for tid in threads_of(pid):
        for n in entries:
            try:
                ns.setdefault(n, set()).add(os.stat(f"/proc/{pid}/task/{tid}/ns/{n}").st_ino)
            except FileNotFoundError:
                pass
    return {"ns": ns, "cgroup": cgroup_of(pid), "tracer": int(st["TracerPid"]),
            "state": st["State"][0], "threads": int(st["Threads"])}


def assert_untouched(pid, before, tracer=0, state=None):
    """The process is as `before` (process_view): same namespaces in every
    thread, same cgroup, traced by `tracer` only (0: nobody), not stopped
    (unless state)."""
    after = process_view(pid)
    assert after["ns"] == before["ns"], f"namespaces of {pid} changed"
    assert after["cgroup"] == before["cgroup"], f"cgroup of {pid} changed: {after['cgroup']}"
    assert after["tracer"] == tracer, f"{pid} left traced by {after['tracer']}"
    if state is None:
        assert after["state"] not in ("T", "t"), f"{pid} left stopped ({after['state']})"
    else:
        assert after["state"] == state, f"{pid} state {after['state']}, expected {state}"


def assert_refused(cfs, container, pid, want, log_has=()):
    """Writing pid to the container's tasks fails with errno `want`, and
    nothing changed: every thread's namespaces, the cgroup, not traced, not
    stopped, and the container's tasks as they were; the daemon's log says
    each of `log_has`."""
    before = process_view(pid)
    listed = cfs.task_pids(container)
    err = write_errno(cfs.path(container, "tasks"), str(pid))
    assert err == want, errname(err)
    assert_untouched(pid, before)
    assert cfs.task_pids(container) == listed
    for text in log_has:
        wait_until(lambda: text in cfs.log(), 5, what=f"{text!r} in the daemon's log")


def assert_moved(cfs, container, pid, names=DEFAULT_FRESH):
    """Every thread of pid is in the container's namespaces, the process in
    the container's member cgroup; nobody traces it."""
    want = container_ns(cfs, container, names)
    for tid in threads_of(pid):
        try:
            got = {n: child_ns_ino(pid, n, tid) for n in names}
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue  # the thread is exiting (as thread_ns)
        assert got == want, f"thread {tid} of {pid}: {got} != {want}"
    members = cfs.members_cgroup(container)
    assert cgroup_of(pid) == cgroup_rel(members)
    assert pid in cgroup_procs(members)
    st = proc_status(pid)
    assert st["TracerPid"] == "0", f"{pid} left traced by {st['TracerPid']}"


def ip_netns_add(procs):
    """`ip netns add` of a fresh name, deleted at the end of the test;
    returns (name, /run/netns/name)."""
    name = f"cfst-{secrets.token_hex(4)}"
    run(["ip", "netns", "add", name])
    procs.on_cleanup(lambda: run(["ip", "netns", "del", name], check=False))
    return name, f"/run/netns/{name}"


def link_netns(procs, target):
    """`ln -s TARGET /run/netns/NAME` for a fresh name, removed at the end
    of the test: what makes a namespace file known to `ip netns`. Returns
    the name."""
    os.makedirs("/run/netns", exist_ok=True)
    name = f"cfst-{secrets.token_hex(4)}"
    link = f"/run/netns/{name}"
    procs.on_cleanup(lambda: os.path.lexists(link) and os.unlink(link))
    run(["ln", "-s", target, link])
    return name


# ---------------------------------------------------------------- cgroups and the record

@functools.cache
def find_cgroup2_mount():
    """The cgroup2 mount point from /proc/self/mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    return None


def cgroup_path(rel):
    """The directory of a cgroup v2 path as /proc/PID/cgroup writes it."""
    return os.path.join(find_cgroup2_mount(), rel.lstrip("/"))


def cgroup_rel(cgdir):
    """The cgroup v2 path of a cgroup directory, as /proc/PID/cgroup writes
    it (the inverse of cgroup_path)."""
    return "/" + os.path.relpath(cgdir, find_cgroup2_mount())


def cgroup_of(pid):
    """The cgroup v2 path of pid (the 0:: line of /proc/PID/cgroup)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    raise AssertionError(f"no cgroup v2 line for {pid}")


def cgroup_dirs(root):
    """Sorted directories below root (relative paths), i.e. the cgroup tree."""
    out = []
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            out.append(os.path.relpath(os.path.join(dirpath, d), root))
    return sorted(out)


def container_cgroups(root):
    """Container cgroups (named c<id>) anywhere below root, relative."""
    return [d for d in cgroup_dirs(root) if re.fullmatch(r"c\d+", os.path.basename(d))]


def child_cgroups(root):
    """Container cgroups directly below root."""
    return [d for d in container_cgroups(root) if "/" not in d]


def cgroup_procs(cgdir):
    with open(os.path.join(cgdir, "cgroup.procs")) as f:
        return [int(x) for x in f.read().split()]


def all_cgroup_procs(root):
    """Every pid in root and the cgroups below it, sorted."""
    pids = cgroup_procs(root)
    for d in cgroup_dirs(root):
        pids += cgroup_procs(os.path.join(root, d))
    return sorted(pids)


def cgroup_populated(cgdir):
    return read_keyed(os.path.join(cgdir, "cgroup.events"))["populated"] == "1"


def move_to_cgroup(pid, cgdir):
    with open(os.path.join(cgdir, "cgroup.procs"), "w") as f:
        f.write(str(pid))


def remove_cgroup_tree(cgroup):
    """cgroup.kill of cgroup, a bounded wait until it is empty, then its
    directories removed bottom-up (a test's or a run's own cgroup)."""
    if not os.path.isdir(cgroup):
        return
    try:
        with open(os.path.join(cgroup, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:
        pass
    wait_until(lambda: not cgroup_populated(cgroup), CGROUP_TIMEOUT,
               what=f"{cgroup} to become empty")
    reap_zombie_children()
    for d in list(reversed(cgroup_dirs(cgroup))) + ["."]:
        path = os.path.normpath(os.path.join(cgroup, d))
        try:
            retry_while_busy(lambda: os.rmdir(path), CGROUP_TIMEOUT)
        except FileNotFoundError:
            pass


def read_record(cgdir):
    """The lines of a container's record, the xattr trusted.containerfs of
    its cgroup directory (first line "containerfs-record 1")."""
    return os.getxattr(cgdir, RECORD_XATTR).decode(errors="replace").splitlines()


# ---------------------------------------------------------------- the mount

def mounted_fuse(mnt):
    """The /proc/self/mounts fields of the fuse.containerfs mount at mnt, or
    None."""
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


def container_paths(mnt):
    """Every container directory under the mount, as relative paths."""
    out = []
    for dirpath, _dirnames, _ in os.walk(mnt, followlinks=False):
        rel = os.path.relpath(dirpath, mnt)
        if rel != ".":
            out.append(rel)
    return sorted(out)


def snapshot(mnt, cgroup_root):
    """What a refused operation must not change: the whole tree as ls sees
    it, and the cgroup tree with the pids inside."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(mnt, followlinks=False):
        rel = os.path.relpath(dirpath, mnt)
        tree[rel] = sorted(dirnames + filenames)
    cg = {d: cgroup_procs(os.path.join(cgroup_root, d)) for d in cgroup_dirs(cgroup_root)}
    return tree, cg


def renameat2(old, new, flags):
    """renameat2(2) via ctypes; raises OSError."""
    fn = _libc.renameat2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


# ---------------------------------------------------------------- running a system

BUSYBOX = shutil.which("busybox")
# What a container's own /dev holds (containerfs(7), `root`).
OWN_DEV = {"null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", "pts", "shm",
           "fd", "stdin", "stdout", "stderr"}


def make_busybox_root(dest, marker="busybox root", owner=None):
    """A root file system of busybox-static at dest: /bin/busybox with a
    link per applet (/bin/sh among them), /etc (passwd, group, and a file
    `marker` holding `marker`), /tmp. owner: uid (and gid) to chown it all
    to, for a delegated user's container."""
    if not BUSYBOX:
        pytest.skip("busybox-static is not installed")
    root = Path(dest)
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = run([BUSYBOX, "--list"]).stdout.split()
    for name in applets:
        if name != "busybox":
            os.symlink("busybox", root / "bin" / name)
    for d in ("etc", "tmp", "root"):
        (root / d).mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "etc" / "marker").write_text(marker + "\n")
    if owner is not None:
        for path in [root, *root.rglob("*")]:
            os.lchown(path, owner, owner)
    return root


def mounts_of(pid):
    """The mounts pid sees (/proc/PID/mountinfo): a list of dicts with the
    mount point, the root of the mount within its file system, its type
    and its per-mount options."""
    out = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields, _, rest = line.partition(" - ")
            parts = fields.split()
            unescape = lambda t: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), t)
            out.append({"point": unescape(parts[4]), "root": unescape(parts[3]),
                        "type": rest.split()[0], "options": parts[5].split(",")})
    return out


def console_bytes(cfs, container):
    """What `cat CONTAINER/console` gives."""
    return read_bytes(cfs.path(container, "console"))


def wait_console(cfs, container, text, timeout=5.0):
    """Waits until the console of container holds text (str); returns all
    of it."""
    want = text.encode()
    wait_until(lambda: want in console_bytes(cfs, container), timeout,
               what=f"{text!r} on the console of {container}: {console_bytes(cfs, container)[-300:]!r}")
    return console_bytes(cfs, container)


def run_in(cfs, container, line):
    """`echo LINE > CONTAINER/run` (one write(2)); 0 or the errno."""
    return write_errno(cfs.path(container, "run"), line + "\n")


# ---------------------------------------------------------------- the tree after a crash

def init_processes_below(cgroup_rel):
    """containerfs-init processes whose cgroup is cgroup_rel or below it."""
    out = []
    for pid in all_pids():
        if cmdline(pid).partition(" ")[0] != "containerfs-init":  # "containerfs-init web/db"
            continue
        try:
            cg = cgroup_of(pid)
        except (AssertionError, OSError):
            continue
        if cg == cgroup_rel or cg.startswith(cgroup_rel + "/"):
            out.append(pid)
    return out


def orphaned_inits():
    """containerfs-init processes whose parent is us (orphans come to the
    subreaper) -- a container's init is the daemon's child, or ours after
    the daemon that made it died."""
    return [p for p in live_children(os.getpid())
            if cmdline(p).partition(" ")[0] == "containerfs-init"]


def tree_problems(mnt, cgroup, allowed_members=()):
    """What is wrong between the tree a daemon shows at mnt and the cgroups
    below its cgroup directory (an empty list if nothing):

    - every container listed has a live init in its cgroup's init leaf, and
      its cgroup directory carries a valid record naming that init;
    - every container cgroup (c<N>) belongs to a listed container;
    - no containerfs-init below the cgroup, or orphaned to us, that is no
      listed container's init;
    - no process below the cgroup but the inits and allowed_members.

    Read while nothing changes the tree."""
    problems = []
    cg_root_rel = cgroup_rel(cgroup)
    inits = {}
    own_cgroups = set()
    for c in container_paths(mnt):
        try:
            init = int(read_text(os.path.join(mnt, c, "init")))
        except OSError as e:
            problems.append(f"{c}: init unreadable: {e}")
            continue
        inits[c] = init
        if not alive(init):
            problems.append(f"{c}: init {init} is not alive")
            continue
        try:
            cg_rel = cgroup_of(init)
        except (AssertionError, OSError) as e:
            problems.append(f"{c}: cgroup of init {init} unreadable: {e}")
            continue
        if os.path.basename(cg_rel) != "init" or not cg_rel.startswith(cg_root_rel + "/"):
            problems.append(f"{c}: init {init} in cgroup {cg_rel}")
            continue
        cgdir = cgroup_path(os.path.dirname(cg_rel))
        own_cgroups.add(os.path.relpath(cgdir, cgroup))
        try:
            lines = read_record(cgdir)
        except OSError as e:
            problems.append(f"{c}: no record on {cgdir}: {e}")
            continue
        if lines[:1] != ["containerfs-record 1"]:
            problems.append(f"{c}: bad record {lines!r}")
        if not any(ln.startswith(f"init {init} ") for ln in lines):
            problems.append(f"{c}: record does not name init {init}: {lines!r}")
    extra = set(container_cgroups(cgroup)) - own_cgroups
    if extra:
        problems.append(f"container cgroups no listed container explains: {sorted(extra)}")
    init_set = set(inits.values())
    stray = [p for p in init_processes_below(cg_root_rel) if p not in init_set]
    if stray:
        problems.append(f"containerfs-init processes below the cgroup that are no listed "
                        f"container's init: {stray}")
    orphans = [p for p in orphaned_inits() if p not in init_set]
    if orphans:
        problems.append(f"orphaned containerfs-init processes: {orphans}")
    others = [p for p in all_cgroup_procs(cgroup) if p not in init_set and p not in allowed_members]
    if others:
        problems.append(f"processes below the cgroup that are neither inits nor members: "
                        f"{[(p, cmdline(p)) for p in others]}")
    return problems


def settle_and_reap(cgroup, timeout=2.0, reap=reap_zombie_children):
    """Reaps zombie children (orphans come to us) until no process below
    cgroup is dying, bounded: what an init system does for the orphans of
    a dead daemon (inits an interrupted rmdir killed) before starting it
    again. reap: what reaps them (all zombie children by default)."""
    deadline = time.monotonic() + timeout
    while True:
        reap()
        dying = [p for p in all_cgroup_procs(cgroup)
                 if (proc_status(p) or {}).get("State", "Z")[0] in "ZX"]
        if not dying or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def injector_left_behind(daemon_pid, timeout=5.0, reap=reap_zombie_children):
    """The injector process of a daemon killed with SIGKILL comes to us (the
    subreaper): it must finish its moves and exit by itself, bounded.
    Returns the problems."""
    def orphans():
        reap()
        return injector_processes(os.getpid())

    deadline = time.monotonic() + timeout
    while orphans():
        if time.monotonic() > deadline:
            return [f"the injector process of daemon {daemon_pid} is still alive after "
                    f"{timeout} s: {orphans()}"]
        time.sleep(0.01)
    return []


# ---------------------------------------------------------------- the daemon

def copy_programs(dest):
    """Copies the daemon and containerfs-init (as a package upgrade brings
    new files) into the directory dest; returns the daemon's copy."""
    os.makedirs(dest, exist_ok=True)
    for prog in ("containerfs", "containerfs-init"):
        shutil.copy2(BUILD / prog, Path(dest) / prog)
    return Path(dest) / "containerfs"


class Daemon:
    """One containerfs process, foreground, stderr to a log file. exe: the
    program (another copy of it for an upgrade)."""

    def __init__(self, mnt, cgroup, state, log_path, options=(), args=(), exe=None):
        self.mnt, self.cgroup, self.state = str(mnt), str(cgroup), str(state)
        self.log_path = log_path
        self.options = list(options)
        self.args = list(args)
        self.exe = str(exe or DAEMON)
        self.proc = None
        self.log_start = 0     # where this daemon's lines begin in the log
        self.saved_log = None  # the log, kept once teardown removed the file

    def command(self):
        opts = ",".join([f"cgroup={self.cgroup}", f"state={self.state}"] + self.options)
        mnt = [self.mnt] if self.mnt else []  # "" to leave it out
        return [self.exe, *self.args, *mnt, "-f", "-o", opts]

    def start(self, wait=True):
        """Starts the daemon; with wait, returns once it serves (wait_ready)."""
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {' '.join(self.command())}\n".encode())
            log.flush()
            self.log_start = log.tell()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ready(self):
        """Mounted, and the tree loaded: the daemon mounts first, then
        rebuilds the tree (enabling the controllers of its cgroup, reading
        the records) and says "mounted at" once it serves."""
        if not mounted_fuse(self.mnt):
            return False
        with open(self.log_path, "rb") as f:
            f.seek(self.log_start)
            return f"containerfs[{self.pid}]: info: mounted at ".encode() in f.read()

    def wait_ready(self, timeout=MOUNT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.ready():
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError(f"daemon exited {rc} before it was ready:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.mnt} not ready after {timeout}s:\n{self.log()}")
            time.sleep(0.01)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """The exit status, or None if it still runs after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, sig=signal.SIGKILL):
        """Signals the daemon by pid (never by name)."""
        if self.running():
            kill_pid(self.proc.pid, sig)

    def terminate(self):
        """SIGTERM, as a service manager stops it; SIGKILL if it has not
        exited in time. Returns the exit status (None: it survived both)."""
        if self.proc is None:
            return None
        self.kill(signal.SIGTERM)
        rc = self.wait_exit()
        if rc is None:
            self.kill(signal.SIGKILL)
            rc = self.wait_exit()
        return rc

    def stop(self):
        """Lazy unmount, then terminate by pid, all bounded."""
        if self.mnt and mounted_fuse(self.mnt):
            run(["fusermount3", "-uz", self.mnt], check=False)
        if self.running():
            self.terminate()

    def log(self):
        """Everything written to the daemon's log file (shared by every
        daemon a Containerfs starts on its mount point)."""
        if self.saved_log is not None:
            return self.saved_log
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""


class Containerfs:
    """What a test gets: a mount point (.mnt), the daemon's cgroup directory
    (.cgroup) and state directory (.state) in a temp directory (.tmp), the
    daemon mounted there (.daemon, a Daemon), and ways to reach the kernel's
    view of each container. Processes go into the test's Procs (.procs)."""

    def __init__(self, tmp, cgroup, options, procs):
        self.tmp = Path(tmp)
        self.cgroup = str(cgroup)
        self.mnt = str(self.tmp / "mnt")
        self.state = str(self.tmp / "state")
        self.log_path = str(self.tmp / "daemon.log")
        self.options = list(options)
        self.procs = procs
        os.mkdir(self.mnt)
        self.daemons = []       # every daemon started, for teardown
        self.extra_mounts = []  # other mount points used by the test
        self.daemon = None      # the one mounted at .mnt

    # -- daemons
    def start(self, options=None, args=(), exe=None):
        """Starts a daemon on .mnt, .cgroup and .state; returns once mounted."""
        d = Daemon(self.mnt, self.cgroup, self.state, self.log_path,
                   self.options if options is None else options, args, exe)
        self.daemons.append(d)
        self.daemon = d
        return d.start()

    def kill_daemon(self):
        """SIGKILL of the daemon, and its exit awaited (the mount is left
        dead: ENOTCONN)."""
        self.daemon.kill(signal.SIGKILL)
        assert self.daemon.wait_exit() is not None, "daemon did not die of SIGKILL"

    def restart(self):
        """SIGKILL the daemon (if it still runs), lazy-unmount, start again
        on the same cgroup/state/mount point."""
        self.kill_daemon()
        run(["fusermount3", "-uz", self.mnt])
        return self.start()

    def unmount(self):
        """fusermount3 -u (not lazy); returns the daemon's exit code."""
        run(["fusermount3", "-u", self.mnt])
        rc = self.daemon.wait_exit()
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
        return rc, d.log()

    def log(self):
        return self.daemon.log()

    # -- paths
    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def cg(self, *parts):
        return os.path.join(self.cgroup, *parts)

    def init_pid(self, container):
        with open(self.path(container, "init")) as f:
            return int(f.read().strip())

    def init_cgroup(self, container):
        """The cgroup directory the kernel says container's init is in: the
        leaf 'init' of the container's own (README, "Design decisions")."""
        cg = cgroup_path(cgroup_of(self.init_pid(container)))
        assert os.path.basename(cg) == "init", f"{container}'s init is in {cg}"
        return cg

    def cgroup_dir_of(self, container):
        """The container's own cgroup directory (c<id>), from the kernel: the
        parent of its init's leaf."""
        return os.path.dirname(self.init_cgroup(container))

    def members_cgroup(self, container):
        """Where members go: the leaf 'tasks' of the container's cgroup."""
        return os.path.join(self.cgroup_dir_of(container), "tasks")

    def task_pids(self, container=""):
        """The pids `cat CONTAINER/tasks` lists (the host's for "")."""
        return [int(x) for x in read_text(self.path(container, "tasks")).split()]

    # -- changes
    def mkdir(self, *names):
        """mkdir(1) of each name, in order."""
        for n in names:
            run(["mkdir", self.path(n)])

    def enter(self, container, pid):
        """`echo PID > CONTAINER/tasks` by the test process (one write(2));
        fails the test if it is refused."""
        err = write_errno(self.path(container, "tasks"), f"{pid}\n")
        assert err == 0, f"moving {pid} into {container or 'the host'}: {errname(err)}"

    # -- teardown
    def teardown(self):
        """Stops every daemon, unmounts, kills the test's processes,
        removes the cgroups and the temp directory; returns the problems."""
        errors = []

        def attempt(what, fn):
            try:
                fn()
            except Exception as e:  # keep going: the next steps must run
                errors.append(f"{what}: {e!r}")

        for d in reversed(self.daemons):
            attempt(f"stop daemon {d.proc.pid if d.proc else '?'}", d.stop)
        for m in [self.mnt] + self.extra_mounts:
            if mounted_fuse(m):
                attempt(f"unmount {m}", lambda: run(["fusermount3", "-uz", m], check=False))
        errors += self.procs.kill_all()
        attempt("remove cgroups", self.remove_cgroups)
        reap_zombie_children()
        # Keep the logs for the report of a failing test: the files go now.
        for d in self.daemons:
            d.saved_log = d.log()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return errors

    def remove_cgroups(self):
        remove_cgroup_tree(self.cgroup)
