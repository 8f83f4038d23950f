"""Helpers for the containerfs integration tests.

Everything here reads the kernel's own view (/proc, cgroupfs, nsfs) so that
the tests check what really happened, not what the daemon says happened.
Every wait is bounded.
"""
import ctypes
import errno
import os
import re
import signal
import subprocess
import time

# Default bound of any single command the tests run.
CMD_TIMEOUT = 10

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
DEFAULT_FRESH = ["network", "uts", "ipc", "pid", "mount", "cgroup"]

CLONE_NEWNET = 0x40000000
CLONE_NEWUTS = 0x04000000
NS_GET_PARENT = 0xB702  # _IO(0xb7, 0x2)
RENAME_NOREPLACE = 1
AT_FDCWD = -100


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


def errno_of(fn, *args, **kwargs):
    """0 if fn(*args) succeeds, else the errno of the OSError it raised."""
    try:
        fn(*args, **kwargs)
    except OSError as e:
        return e.errno
    return 0


def errname(code):
    return errno.errorcode.get(code, str(code)) if code else "success"


# ---------------------------------------------------------------- processes

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
    st = proc_status(pid)
    assert st is not None, f"process {pid} does not exist"
    return [int(x) for x in st["NSpid"].split()]


def ppid(pid):
    st = proc_status(pid)
    assert st is not None, f"process {pid} does not exist"
    return int(st["PPid"])


def alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_status(pid)
    return st is not None and not st["State"].startswith(("Z", "X"))


def gone(pid):
    """True once pid no longer exists at all (exited and reaped)."""
    return proc_status(pid) is None


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


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


def reap_zombie_children():
    """Reaps zombies that were reparented to us (we are a subreaper)."""
    me = os.getpid()
    for pid in all_pids():
        st = proc_status(pid)
        if st and int(st["PPid"]) == me and st["State"].startswith("Z"):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def set_child_subreaper():
    PR_SET_CHILD_SUBREAPER = 36
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- namespaces

def proc_ns_ino(pid, name):
    """nsfs inode of /proc/PID/ns/<containerfs name>."""
    return os.stat(f"/proc/{pid}/ns/{NS_PROC_NAME[name]}").st_ino


def stat_L_ino(path):
    """nsfs inode as `stat -L` (the real program) reports it."""
    return int(run(["stat", "-L", "-c", "%i", path]).stdout.strip())


def readlink(path):
    return run(["readlink", path]).stdout.rstrip("\n")


def ns_parent_ino(ns_path):
    """Inode of the parent of a pid/user namespace (ioctl NS_GET_PARENT)."""
    import fcntl
    fd = os.open(ns_path, os.O_RDONLY)
    try:
        parent = fcntl.ioctl(fd, NS_GET_PARENT)
        try:
            return os.fstat(parent).st_ino
        finally:
            os.close(parent)
    finally:
        os.close(fd)


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


# ---------------------------------------------------------------- cgroups

def find_cgroup2_mount():
    """The cgroup2 mount point from /proc/self/mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    return None


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
    pids = cgroup_procs(root)
    for d in cgroup_dirs(root):
        pids += cgroup_procs(os.path.join(root, d))
    return sorted(pids)


def cgroup_populated(cgdir):
    with open(os.path.join(cgdir, "cgroup.events")) as f:
        for line in f:
            k, _, v = line.partition(" ")
            if k == "populated":
                return int(v) == 1
    raise AssertionError(f"no populated line in {cgdir}/cgroup.events")


def cgroup_of(pid):
    """The cgroup v2 path of pid (the 0:: line of /proc/PID/cgroup)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    raise AssertionError(f"no cgroup v2 line for {pid}")


def move_to_cgroup(pid, cgdir):
    with open(os.path.join(cgdir, "cgroup.procs"), "w") as f:
        f.write(str(pid))


# ---------------------------------------------------------------- syscalls

_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(old, new, flags):
    """renameat2(2) via ctypes; raises OSError."""
    fn = _libc.renameat2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def snapshot(mnt, cgroup_root):
    """What a refused operation must not change: the whole tree as ls sees
    it, and the cgroup tree with the pids inside."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(mnt, followlinks=False):
        rel = os.path.relpath(dirpath, mnt)
        tree[rel] = sorted(dirnames + filenames)
    cg = {d: cgroup_procs(os.path.join(cgroup_root, d)) for d in cgroup_dirs(cgroup_root)}
    return tree, cg


def write_once(path, text):
    """One write(2) of `text` (str or bytes), as a shell's echo does."""
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def container_paths(mnt):
    """Every container directory under the mount, as relative paths."""
    out = []
    for dirpath, _dirnames, _ in os.walk(mnt, followlinks=False):
        rel = os.path.relpath(dirpath, mnt)
        if rel != ".":
            out.append(rel)
    return sorted(out)
