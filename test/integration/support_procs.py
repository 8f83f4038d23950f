"""Processes and kernel-truth snapshots for the tasks/compose/clients/control
integration tests.

Every process made here is recorded in a Procs registry (the `procs` fixture
of each test file) and killed by pid at the end of the test; every wait is
bounded.
"""
import errno
import os
import platform
import select
import signal
import subprocess
import sys
import time

import helpers
from helpers import NS_PROC_NAME

PY = sys.executable or "/usr/bin/python3"
NOBODY = ["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups"]
# Non-root, but able to get past the kernel's (default_permissions) checks on
# the mount: only the daemon's own checks can refuse it.
NOBODY_DAC = NOBODY + ["--inh-caps", "+dac_override", "--ambient-caps", "+dac_override"]

NS_FILES_IN_PROC = ["net", "uts", "ipc", "pid_for_children", "mnt", "cgroup", "user",
                    "time_for_children"]


# ---------------------------------------------------------------- writes

def write_errno(path, data):
    """One open + one write(2) + close of data; 0 or the errno. The writer is
    the test process (never write 0 or our own pid with this)."""
    if isinstance(data, str):
        data = data.encode()
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, data)
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def shell_echo(value, path, timeout=10, prefix=()):
    """`echo VALUE > PATH` by a real shell; returns the CompletedProcess.
    bash, not dash: dash reports every failed write as "I/O error", bash
    says which errno ("write error: Invalid argument")."""
    return helpers.run([*prefix, "bash", "-c", 'echo "$1" > "$2"', "bash", str(value), path],
                       check=False, timeout=timeout)


def read_text(path):
    with open(path) as f:
        return f.read()


def task_pids(cfs, container):
    return [int(x) for x in read_text(cfs.path(container, "tasks")).split()]


# ---------------------------------------------------------------- kernel truth

def ns_ino(path):
    return os.stat(path).st_ino


def container_ns(cfs, container, names=("network", "uts", "ipc", "pid", "mount", "cgroup")):
    """{containerfs ns name: nsfs inode} through the container's files; the
    pid namespace is the one its members' children are born into."""
    out = {}
    for n in names:
        p = cfs.path(container, n)
        if os.path.lexists(p):
            out[n] = os.stat(p).st_ino
        else:
            # inherited: the init holds it
            init = cfs.init_pid(container)
            out[n] = proc_ns(init, n)
    return out


def proc_ns(pid, name, tid=None):
    """Inode of a namespace of a process (pid: pid_for_children, the
    namespace that setns(CLONE_NEWPID) changes)."""
    pname = {"pid": "pid_for_children", "time": "time_for_children"}.get(name, NS_PROC_NAME[name])
    base = f"/proc/{pid}/task/{tid}" if tid else f"/proc/{pid}"
    return os.stat(f"{base}/ns/{pname}").st_ino


def threads_of(pid):
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return []


def thread_ns(pid, name):
    """{tid: inode} of one namespace kind for every thread of pid."""
    out = {}
    for tid in threads_of(pid):
        try:
            out[tid] = proc_ns(pid, name, tid)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            # The thread is exiting: its namespaces are no longer readable
            # (a task past exit_mm fails the ptrace access check: EACCES).
            pass
    return out


def process_view(pid):
    """What a refused entry must leave as it was: every thread's namespaces,
    the cgroup, whether it is traced or stopped."""
    st = helpers.proc_status(pid)
    assert st is not None, f"process {pid} is gone"
    ns = {}  # kind -> the inodes its threads have (threads may come and go)
    for tid in threads_of(pid):
        for n in NS_FILES_IN_PROC:
            try:
                ns.setdefault(n, set()).add(os.stat(f"/proc/{pid}/task/{tid}/ns/{n}").st_ino)
            except FileNotFoundError:
                pass
    return {"ns": ns, "cgroup": helpers.cgroup_of(pid), "tracer": int(st["TracerPid"]),
            "state": st["State"][0], "threads": int(st["Threads"])}


def assert_untouched(pid, before, tracer=0, state=None):
    """The process is as `before`: same namespaces in every thread, same
    cgroup, traced by `tracer` only (0: nobody), not stopped (unless state)."""
    after = process_view(pid)
    assert after["ns"] == before["ns"], f"namespaces of {pid} changed"
    assert after["cgroup"] == before["cgroup"], f"cgroup of {pid} changed: {after['cgroup']}"
    assert after["tracer"] == tracer, f"{pid} left traced by {after['tracer']}"
    if state is None:
        assert after["state"] not in ("T", "t"), f"{pid} left stopped ({after['state']})"
    else:
        assert after["state"] == state, f"{pid} state {after['state']}, expected {state}"


def in_container(pid, cfs, container, names=("network", "uts", "ipc", "pid", "mount", "cgroup"),
                 tid=None):
    want = container_ns(cfs, container, names)
    got = {n: proc_ns(pid, n, tid) for n in names}
    return got == want


def cgroup_path(rel):
    return os.path.join(helpers.find_cgroup2_mount(), rel.lstrip("/"))


def members_cgroup(cfs, container):
    """c<N>/tasks of a container, from where its init lives (c<N>/init)."""
    init_cg = cgroup_path(helpers.cgroup_of(cfs.init_pid(container)))
    assert os.path.basename(init_cg) == "init", init_cg
    return os.path.join(os.path.dirname(init_cg), "tasks")


def wait_dead(pid, timeout=5.0):
    helpers.wait_until(lambda: not helpers.alive(pid), timeout, what=f"{pid} to die")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


# ---------------------------------------------------------------- processes

class Procs:
    """Registry of processes a test starts; kill_all() kills them by pid and
    reaps them (bounded)."""

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
        self.pids.append(pid)

    def on_cleanup(self, fn):
        self.cleanups.append(fn)

    def kill_all(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                pass
        for pid in self.pids:
            helpers.kill_pid(pid, signal.SIGKILL)
        for p in self.popens:
            if p.poll() is None:
                helpers.kill_pid(p.pid, signal.SIGKILL)
                # A stopped process dies of SIGKILL too; a ptrace-stopped one
                # as soon as its tracer lets go.
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (p.stdin, p.stdout, p.stderr):
                if stream:
                    try:
                        stream.close()
                    except OSError:
                        pass
        deadline = time.monotonic() + 5
        for pid in self.pids:
            while helpers.alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        helpers.reap_zombie_children()

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
        helpers.wait_until(lambda: len(threads_of(p.pid)) == n + 1, 5,
                           what=f"{n + 1} threads in {p.pid}")
        return p

    def seccomp_sleep(self, seconds=100):
        """sleep under a seccomp filter that kills the process on setns()."""
        nr = {"x86_64": 308, "aarch64": 268}.get(platform.machine())
        if nr is None:
            import pytest
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
        helpers.wait_until(lambda: helpers.cmdline(p.pid).startswith("sleep"), 10,
                           what="the seccomp sleep to exec")
        st = helpers.proc_status(p.pid)
        assert st["Seccomp"] == "2", st.get("Seccomp")
        return p

    def strace(self, pid):
        """strace -p pid; returns once the kernel shows pid traced by it."""
        s = self.popen(["strace", "-p", str(pid), "-o", "/dev/null"])
        helpers.wait_until(lambda: int(helpers.proc_status(pid)["TracerPid"]) == s.pid, 10,
                           what=f"strace to attach to {pid}")
        return s

    def shell(self):
        sh = Shell(self)
        return sh


def read_line(stream, timeout):
    """One line from a pipe, bounded."""
    fd = stream.fileno()
    r, _, _ = select.select([fd], [], [], timeout)
    assert r, f"no output within {timeout}s"
    return stream.readline()


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


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    value = fn(*args, **kw)
    return value, time.monotonic() - t0


def errname(code):
    return errno.errorcode.get(code, str(code)) if code else "success"
