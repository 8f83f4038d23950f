"""Every way the injector refuses a move leaves the process as it was: the
namespaces of every thread, its cgroup, the container's tasks, neither
traced nor stopped. A thread that cannot be stopped, threads that exit in
the middle, an io_uring worker thread, and a setns one thread would be
refused (its own seccomp filter, or credentials it changed for itself)
while the others would not.

Every check reads the kernel's own view (/proc/PID/task/*); every process
is killed by pid at the end (the `procs` fixture); every wait is bounded.
"""
import errno
import os
import subprocess
import time

import pytest

import helpers
from helpers import (PY, assert_moved, assert_refused, assert_untouched, errname, process_view,
                     read_line, threads_of, timed, wait_until, write_errno)

# -o splits on commas: the list escapes them (containerfs(8)). Own
# namespaces but pid: a process with threads may enter.
OWN_BUT_PID = r"network\,uts\,ipc\,mount\,cgroup"
OWN_BUT_PID_NAMES = ("network", "uts", "ipc", "mount", "cgroup")


# A python3 process whose second thread sits in posix_spawn(3): glibc's
# clone(CLONE_VM | CLONE_VFORK) waits, killable only, until the child execs,
# and the child first opens a FIFO nobody writes to. Says "spawning" first
# (posix_spawn keeps the interpreter's lock meanwhile).
STUCK_IN_VFORK = """\
import os, sys, threading
fifo = sys.argv[1]
def spawn():
    pid = os.posix_spawn("/bin/true", ["true"], {}, file_actions=[(os.POSIX_SPAWN_OPEN, 3, fifo, os.O_RDONLY, 0)])
    os.waitpid(pid, 0)
print("spawning", flush=True)
threading.Thread(target=spawn, daemon=True).start()
threading.Event().wait()
"""


@pytest.mark.namespaces(OWN_BUT_PID)
def test_a_thread_that_cannot_stop_is_ebusy_untouched(cfs, procs, tmp_path):
    cfs.mkdir("web")
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)

    def let_it_go():  # a reader of the FIFO gets its writer: the child execs
        os.close(os.open(fifo, os.O_RDWR))
    procs.on_cleanup(let_it_go)
    p = procs.popen([PY, "-c", STUCK_IN_VFORK, fifo], stdout=subprocess.PIPE, text=True)
    assert read_line(p.stdout, 10).strip() == "spawning"

    def stuck():
        for tid in threads_of(p.pid):
            st = helpers.proc_status(f"{p.pid}/task/{tid}")
            if st and st["State"][0] == "D":
                return tid
        return None
    tid = wait_until(stuck, 5, what="a thread of it waiting for its vfork child")
    (_, took) = timed(assert_refused, cfs, "web", p.pid, errno.EBUSY,
                      log_has=(f"thread {tid} did not stop",))
    assert took < 5, f"refused after {took:.1f}s"
    # Freed, it runs on, and now moves.
    let_it_go()
    wait_until(lambda: not stuck(), 5, what="the vfork child to exec")
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid, OWN_BUT_PID_NAMES)


# A python3 process with 6 threads that, at "go" on stdin, exit each after
# its own short delay (0 to 5 ms) while the main thread waits on.
EXITING = """\
import sys, threading, time
go = threading.Event()
def thread(delay):
    go.wait()
    time.sleep(delay)
for i in range(6):
    threading.Thread(target=thread, args=(0.001 * i,)).start()
print("ready", flush=True)
sys.stdin.readline()
go.set()
threading.Event().wait()
"""


@pytest.mark.namespaces(OWN_BUT_PID)
def test_threads_exiting_in_the_middle_of_a_move(cfs, procs):
    """Each round, threads exit while the move is under way: it ends with
    every remaining thread inside and the process a member, or refused with
    the process exactly as it was."""
    cfs.mkdir("web")
    outcomes = {}
    for _ in range(15):
        p = procs.popen([PY, "-c", EXITING], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert read_line(p.stdout, 10).strip() == "ready"
        wait_until(lambda: len(threads_of(p.pid)) == 7, 5, what="7 threads")
        before = process_view(p.pid)
        p.stdin.write("go\n")
        p.stdin.flush()
        err = write_errno(cfs.path("web", "tasks"), str(p.pid))
        outcomes[errname(err)] = outcomes.get(errname(err), 0) + 1
        assert err in (0, errno.EAGAIN, errno.EBUSY), errname(err)
        if err == 0:
            assert_moved(cfs, "web", p.pid, OWN_BUT_PID_NAMES)
        else:
            assert_untouched(p.pid, before)
            assert p.pid not in cfs.task_pids("web")
        assert p.poll() is None
        helpers.kill_pid(p.pid)
        p.wait(timeout=5)
    print(f"outcomes: {outcomes}")
    assert outcomes.get("success", 0) > 0, outcomes


@pytest.mark.namespaces(OWN_BUT_PID)
@pytest.mark.parametrize("kind", ["wrk", "sqp"])
def test_a_process_with_an_io_uring_thread_is_einval_at_once_untouched(cfs, procs, program, kind):
    """An io_uring worker (iou-wrk-N) or submission poller (iou-sqp-N)
    never returns to user space to run a system call: the move is refused
    before any thread is touched, at once, and the log says why."""
    cfs.mkdir("web")
    p = procs.popen([program("io_uring_worker"), kind], stdout=subprocess.PIPE, text=True)
    said = read_line(p.stdout, 10).strip()
    if said.startswith("none"):
        pytest.skip(f"io_uring is not available here (errno {said.split()[1]})")
    assert said == "ready"
    worker = wait_until(lambda: [t for t in threads_of(p.pid)
                                 if helpers.proc_status(f"{p.pid}/task/{t}")["Name"].startswith("iou-")],
                        5, what="the io_uring thread")[0]
    (_, took) = timed(assert_refused, cfs, "web", p.pid, errno.EINVAL,
                      log_has=(f"thread {worker} (iou-{kind}-{p.pid}) is an io_uring worker",))
    assert took < 1, f"refused after {took:.2f}s"
    assert p.poll() is None


@pytest.mark.namespaces(OWN_BUT_PID)
@pytest.mark.parametrize("how", ["seccomp", "nobody"])
def test_setns_refused_in_the_second_of_three_threads_moves_none(cfs, procs, program, how):
    """The second thread would be refused setns (its own filter answers it
    EPERM, or it made itself uid 65534 without capabilities), the first and
    third would not: EPERM, and no thread moves."""
    cfs.mkdir("web")
    p = procs.popen([program("three_threads"), how], stdout=subprocess.PIPE, text=True)
    said = read_line(p.stdout, 10).split()
    assert said[0] == "ready" and len(threads_of(p.pid)) == 3, said
    second = int(said[1])
    assert sorted(threads_of(p.pid)).index(second) == 1
    assert_refused(cfs, "web", p.pid, errno.EPERM, log_has=(f"thread {second}",))
    assert p.poll() is None
