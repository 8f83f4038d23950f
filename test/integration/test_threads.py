"""Multi-threaded processes written to a tasks file. Every thread joins the
container's namespaces, the mount namespace too: each thread first gets a
filesystem context of its own (unshare(CLONE_FS)), so afterwards the
threads no longer share their working directory, root and umask. A process
with threads is refused (EINVAL, nothing changed) where the move would take
it into another pid namespace: the kernel would refuse it every later
thread.

Every check reads the kernel's own view (/proc/PID/task/*); every process
is killed by pid at the end (the `procs` fixture); every wait is bounded.
"""
import errno
import os
import subprocess
import time

import pytest

import helpers
from helpers import (PY, assert_moved, assert_refused, child_ns_ino, errname, read_line, thread_ns,
                     threads_of, wait_until, write_errno)

# -o splits on commas: the list escapes them (containerfs(8)). Everything
# fresh but the pid namespace, which stays the parent's.
OWN_MOUNT = r"network\,uts\,ipc\,mount\,cgroup"
OWN_MOUNT_NAMES = ("network", "uts", "ipc", "mount", "cgroup")

# A python3 process with 8 threads. Commands on stdin, one answer line each:
#   thread      start one more thread; it answers with its mount namespace
#   cd DIR      chdir in the main thread only; answers "ok"
THREADS = """\
import os, sys, threading
ev = threading.Event()
for _ in range(7):
    threading.Thread(target=ev.wait, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "thread":
        def report():
            print(os.readlink("/proc/thread-self/ns/mnt"), flush=True)
        t = threading.Thread(target=report)
        t.start()
        t.join()
    elif cmd[0] == "cd":
        os.chdir(cmd[1])
        print("ok", flush=True)
"""


def start_threads(procs, cwd):
    p = procs.popen([PY, "-c", THREADS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                    cwd=cwd)
    assert read_line(p.stdout, 10).strip() == "ready"
    wait_until(lambda: len(threads_of(p.pid)) == 8, 5, what=f"8 threads in {p.pid}")
    return p


def ask(p, command):
    p.stdin.write(command + "\n")
    p.stdin.flush()
    return read_line(p.stdout, 10).strip()


def cwd_of(pid, tid):
    return os.readlink(f"/proc/{pid}/task/{tid}/cwd")


@pytest.mark.namespaces(OWN_MOUNT)
def test_eight_threads_enter_a_mount_namespace_and_start_threads_after(cfs, procs, tmp_path):
    cfs.mkdir("web")
    p = start_threads(procs, str(tmp_path))
    tids = threads_of(p.pid)
    assert {cwd_of(p.pid, t) for t in tids} == {str(tmp_path)}
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid, OWN_MOUNT_NAMES)
    mnt = os.stat(cfs.path("web", "mount")).st_ino
    assert set(thread_ns(p.pid, "mount").values()) == {mnt}
    assert len(thread_ns(p.pid, "mount")) == 8
    # Every thread at the root of the container's mount namespace.
    assert {cwd_of(p.pid, t) for t in tids} == {"/"}
    # It still starts threads, born inside.
    assert ask(p, "thread") == f"mnt:[{mnt}]"
    # The threads no longer share a working directory (containerfs(7)).
    assert ask(p, "cd /tmp") == "ok"
    assert cwd_of(p.pid, p.pid) == "/tmp"
    assert {cwd_of(p.pid, t) for t in tids if t != p.pid} == {"/"}
    assert p.poll() is None


def test_threads_into_another_pid_namespace_are_refused_untouched(cfs, procs, tmp_path):
    """web has a pid namespace of its own (the default): a process with
    threads is refused with EINVAL, changed in nothing, and the log says
    how to get it in."""
    cfs.mkdir("web")
    p = start_threads(procs, str(tmp_path))
    assert_refused(cfs, "web", p.pid, errno.EINVAL, log_has=("8 threads", "rm web/pid"))
    assert {cwd_of(p.pid, t) for t in threads_of(p.pid)} == {str(tmp_path)}
    # It still starts threads, in the namespaces it was in.
    assert ask(p, "thread") == os.readlink(f"/proc/{p.pid}/ns/mnt")
    # Once web shares its parent's pid namespace, it goes in.
    os.unlink(cfs.path("web", "pid"))
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid, ("network", "uts", "ipc", "mount", "cgroup", "pid"))


# Four threads that keep starting threads that exit at once.
CHURN = """\
import os, sys, threading, time
def churn():
    while True:
        try:
            t = threading.Thread(target=time.sleep, args=(0.001,)); t.start(); t.join()
        except Exception as e:
            print("FAIL", repr(e), flush=True)
            os._exit(3)
ts = [threading.Thread(target=churn, daemon=True) for _ in range(4)]
for t in ts: t.start()
print("ready", flush=True)
time.sleep(100)
"""


@pytest.mark.namespaces(OWN_MOUNT)
def test_threads_coming_and_going_during_entry(cfs, procs):
    """A process whose threads start and exit all the time: every entry and
    every return home is complete (all threads, the new ones too, mount
    namespace included) or refused with nothing changed, and the process
    keeps making threads."""
    cfs.mkdir("web")
    p = procs.popen([PY, "-c", CHURN], stdout=subprocess.PIPE, text=True)
    assert read_line(p.stdout, 10).strip() == "ready"
    inside = {n: os.stat(cfs.path("web", n)).st_ino for n in ("network", "mount")}
    host = {n: child_ns_ino(os.getpid(), n) for n in ("network", "mount")}
    home = helpers.cgroup_of(p.pid)
    members = helpers.cgroup_rel(cfs.members_cgroup("web"))
    outcomes = []
    for _ in range(20):
        for target, want, cgroup in ((cfs.path("web", "tasks"), inside, members),
                                     (cfs.path("tasks"), host, home)):
            before = helpers.cgroup_of(p.pid)
            err = write_errno(target, str(p.pid))
            outcomes.append(err)
            assert p.poll() is None, f"the process died ({p.returncode}): {p.stdout.read()}"
            assert err in (0, errno.EBUSY, errno.EAGAIN), errname(err)
            st = helpers.proc_status(p.pid)
            assert st["TracerPid"] == "0" and st["State"][0] != "T", st
            for name in ("network", "mount"):
                seen = set(thread_ns(p.pid, name).values())
                if err == 0:
                    assert seen == {want[name]}, f"{name}: threads split over namespaces {seen}"
                else:
                    assert len(seen) == 1, f"refused, yet threads split over {name} namespaces {seen}"
            assert helpers.cgroup_of(p.pid) == (cgroup if err == 0 else before)
    time.sleep(0.2)
    assert p.poll() is None, f"the process died ({p.returncode}): {p.stdout.read()}"
    assert outcomes.count(0) >= 20, f"most entries should succeed: {outcomes}"
