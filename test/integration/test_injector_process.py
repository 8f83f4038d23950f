"""The injector process, which carries every tasks move through whatever
happens to the daemon (containerfs(8), INJECTOR PROCESS).

The crash loop (test_crash.py) kills the daemon in the middle of moves;
these tests pin down the helper's own contract: what it holds, that it
outlives a dead daemon only as long as its moves take, that a dead helper is
replaced, and that a clean unmount leaves nothing behind.
"""
import errno
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import helpers
from helpers import (CLONE_NEWNET, assert_moved, proc_ns_ino, wait_sleeping, wait_until,
                     write_errno)


def the_helper(cfs):
    """The daemon's one injector process (waited for: it may be starting)."""
    found = wait_until(lambda: helpers.injector_processes(cfs.daemon.pid), 5,
                       what="the daemon's injector process")
    assert len(found) == 1, f"more than one injector process: {found}"
    return found[0]


def enter(cfs, container, pid):
    """Moves pid into the container (through the injector process) and
    checks that it arrived."""
    cfs.enter(container, pid)
    assert_moved(cfs, container, pid, ("network", "uts", "ipc"))


def test_injector_process_holds_only_its_control_socket(cfs):
    """A child of the daemon, named for what it is, holding stdin/out/err and
    one socket: not /dev/fuse (a dead daemon's mount must fail at once), not
    the cgroup directory the daemon locks (a new daemon must start)."""
    helper = the_helper(cfs)
    assert helpers.cmdline(helper) == "containerfs-injector --injector-service"
    assert os.readlink(f"/proc/{helper}/exe") == os.readlink(f"/proc/{cfs.daemon.pid}/exe")
    fds = {int(fd): os.readlink(f"/proc/{helper}/fd/{fd}") for fd in os.listdir(f"/proc/{helper}/fd")}
    assert sorted(fds) == [0, 1, 2, 3], fds
    assert fds[3].startswith("socket:"), fds
    assert not any("fuse" in t or t.startswith(cfs.cgroup) for t in fds.values()), fds
    # The same cgroup as the daemon: a service manager counts it as the daemon's.
    assert helpers.cgroup_of(helper) == helpers.cgroup_of(cfs.daemon.pid)


def test_injector_process_is_kept_from_the_oom_killer(cfs):
    """Killing it mid-injection is the one way left to harm a process being
    moved: oom_score_adj -1000 where the daemon may set it (CAP_SYS_RESOURCE),
    a log line saying so where it may not."""
    helper = the_helper(cfs)
    cap_sys_resource = 1 << 24
    caps = int(helpers.proc_status(cfs.daemon.pid)["CapEff"], 16)
    with open(f"/proc/{helper}/oom_score_adj") as f:
        adj = int(f.read())
    if caps & cap_sys_resource:
        assert adj == -1000
    else:
        assert adj == 0
        wait_until(lambda: "stays open to the OOM killer" in cfs.log(), 5, what="the log line")


def test_moves_go_on_after_the_injector_process_is_killed(cfs, procs):
    """SIGKILL of the helper: it is reaped at once (not left a zombie of the
    daemon until the next move); the next move starts a new one and
    succeeds."""
    cfs.mkdir("c")
    old = the_helper(cfs)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: helpers.proc_status(old) is None, 5, what="the dead helper to be reaped")
    assert old not in helpers.zombie_children(cfs.daemon.pid)
    p = procs.sleep()
    enter(cfs, "c", p.pid)
    new = the_helper(cfs)
    assert new != old
    assert "died; starting a new one" in cfs.log()


def test_injector_process_ignores_sigterm_sigint_sighup(cfs, procs):
    """A service manager's SIGTERM to the whole group must not cut a move
    short: the helper only ends when the daemon's socket closes."""
    cfs.mkdir("c")
    helper = the_helper(cfs)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        os.kill(helper, sig)
    time.sleep(0.2)
    assert helpers.alive(helper) and helpers.proc_status(helper)["State"][0] != "Z"
    p = procs.sleep()
    enter(cfs, "c", p.pid)
    assert the_helper(cfs) == helper


def test_a_stuck_injector_process_costs_a_bounded_wait(cfs, procs):
    """A helper that does not answer (SIGSTOPped here) makes a tasks write
    fail with ETIMEDOUT after the bound (10 s), never hang; the rest of the
    tree works meanwhile; once it runs again, the stale move is dropped with
    the process untouched, and moves work again."""
    cfs.mkdir("c")
    helper = the_helper(cfs)
    p = procs.sleep()
    before = proc_ns_ino(p.pid, "network")
    os.kill(helper, signal.SIGSTOP)
    try:
        result = {}

        def write():
            t0 = time.monotonic()
            result["err"] = write_errno(cfs.path("c", "tasks"), f"{p.pid}\n")
            result["took"] = time.monotonic() - t0

        th = threading.Thread(target=write, daemon=True)
        th.start()
        time.sleep(0.5)
        assert "c" in os.listdir(cfs.mnt)  # the daemon serves others meanwhile
        th.join(20)
        assert not th.is_alive(), "the write hung"
        assert result["err"] == errno.ETIMEDOUT
        assert 9 < result["took"] < 15, result
    finally:
        os.kill(helper, signal.SIGCONT)
    # The stale move seizes the process before it finds itself cancelled:
    # untraced only counts after that.
    wait_until(lambda: f"move of pid {p.pid} cancelled" in cfs.log(), 5, what="the stale move to be cancelled")
    wait_until(lambda: helpers.proc_status(p.pid)["TracerPid"] == "0"
               and helpers.proc_status(p.pid)["State"][0] == "S", 5, what="the stale move to be dropped")
    assert proc_ns_ino(p.pid, "network") == before
    assert p.pid not in helpers.cgroup_procs(cfs.members_cgroup("c"))
    enter(cfs, "c", p.pid)
    assert the_helper(cfs) == helper


def test_clean_unmount_ends_the_injector_process(cfs):
    helper = the_helper(cfs)
    assert cfs.unmount() == 0
    # Reaped by the daemon before it exited, so gone, not a zombie of ours.
    helpers.wait_dead(helper)
    assert helper not in helpers.zombie_children(os.getpid())


def test_daemon_killed_helper_exits_by_itself_and_the_mount_fails(cfs):
    """kill -9 of the daemon: its helper has no move to finish, so it exits
    at once (it comes to us, the subreaper); the mount fails with ENOTCONN
    because nothing but the dead daemon held /dev/fuse; a new daemon starts
    on the same cgroup while the old helper may still run."""
    cfs.mkdir("c")
    helper = the_helper(cfs)
    cfs.daemon.kill(signal.SIGKILL)
    assert cfs.daemon.wait_exit() is not None
    assert helpers.errno_of(os.listdir, cfs.mnt) == errno.ENOTCONN

    def exited():
        helpers.reap_zombie_children()
        return not helpers.alive(helper)

    wait_until(exited, 5, what="the dead daemon's helper to exit")
    cfs.restart()
    assert os.listdir(cfs.mnt).count("c") == 1
    assert the_helper(cfs) != helper


def test_a_move_refuses_the_injector_process_itself(cfs):
    """Like the daemon, its helper is no process to move (EINVAL), and
    stays where it is."""
    cfs.mkdir("c")
    helper = the_helper(cfs)
    before = helpers.cgroup_of(helper)
    err = write_errno(cfs.path("c", "tasks"), f"{helper}\n")
    assert err == errno.EINVAL
    assert helpers.cgroup_of(helper) == before
    assert helpers.proc_status(helper)["TracerPid"] == "0"


# ------------------------------------------------- the helper on its own
#
# The helper speaks to the daemon over a SOCK_SEQPACKET socket at fd 3
# (src/kernel/inject/wire.hpp): a job message carries the job's own socket
# and descriptors, and the job socket carries notes both ways. These tests
# play the daemon's part, to pin down the contract the crash loop relies on.

# magic pid ns_source nstypes has_join has_undo has_pidfd has_requester uid gid
# has_place, then (padding) the working directory and the root to put a
# process back in: dev ino path[PATH_MAX] each
JOB = struct.Struct("=IiiiIIIIIII4xQQ4096sQQ4096s")
NOTE = struct.Struct("=Ii")       # kind error
MAGIC = 0x31736663
PREPARED, PROCEED, DONE, JOINED, PROCEED_JOINED = 1, 2, 3, 4, 5


class Helper:
    """containerfs --injector-service started by the test, fd 3 its socket."""

    def __init__(self):
        self.ctrl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.posix_spawn(str(helpers.DAEMON),
                                  ["containerfs-injector", "--injector-service"], os.environ,
                                  file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
        theirs.close()

    def job(self, pid, source, nstypes, join=None, undo=None, pidfd=None):
        """Sends a job; returns the job socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fds = [theirs.fileno()] + [fd for fd in (join, undo, pidfd) if fd is not None]
        msg = JOB.pack(MAGIC, pid, source, nstypes, join is not None, undo is not None,
                       pidfd is not None, 0, 0, 0, 0, 0, 0, b"", 0, 0, b"")
        socket.send_fds(self.ctrl, [msg], fds)
        theirs.close()
        ours.settimeout(10)
        return ours

    def traces(self, pid):
        """Whether one of the helper's threads is pid's tracer."""
        tracer = helpers.proc_status(pid)["TracerPid"]
        return tracer != "0" and os.path.exists(f"/proc/{self.pid}/task/{tracer}")

    @staticmethod
    def note(sock):
        data = sock.recv(64)
        assert len(data) == NOTE.size, f"note of {len(data)} bytes"
        return NOTE.unpack(data)

    def close(self):
        self.ctrl.close()
        try:
            wait_until(lambda: os.waitpid(self.pid, os.WNOHANG)[0] == self.pid, 10,
                       what="the helper to exit")
        except AssertionError:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise


@pytest.fixture
def helper():
    h = Helper()
    yield h
    h.close()


class Fds:
    """Descriptors a test hands to the helper: O_PATH ones of directories,
    pidfds; closed at the end (the fds fixture)."""

    def __init__(self):
        self.opened = []

    def dir(self, path):
        self.opened.append(os.open(path, os.O_PATH | os.O_DIRECTORY))
        return self.opened[-1]

    def pidfd(self, pid):
        self.opened.append(os.pidfd_open(pid))
        return self.opened[-1]

    def close(self):
        for fd in self.opened:
            os.close(fd)


@pytest.fixture
def fds():
    f = Fds()
    yield f
    f.close()


@pytest.fixture
def cgroups():
    """Two empty cgroups, a and b, removed at the end."""
    top = os.path.join(helpers.find_cgroup2_mount(), f"cfs-inj-{secrets.token_hex(4)}")
    dirs = [os.path.join(top, n) for n in ("a", "b")]
    for d in [top] + dirs:
        os.mkdir(d)
    yield dirs
    for d in dirs:  # what the test put there (its own processes), by pid
        for pid in helpers.cgroup_procs(d):
            helpers.kill_pid(pid)
    helpers.reap_zombie_children()
    helpers.reap_zombie_children()
    for d in dirs + [top]:
        if os.path.isdir(d):  # "gone" tests remove one themselves
            helpers.retry_while_busy(lambda: os.rmdir(d))  # raises if it stays


def netns_holder(procs):
    """A process in a fresh network namespace: the source of the moves."""
    p = procs.popen(["unshare", "--net", "sleep", "1000"])
    wait_until(lambda: helpers.alive(p.pid) and proc_ns_ino(p.pid, "network") != proc_ns_ino(os.getpid(), "network")
               and helpers.cmdline(p.pid).startswith("sleep"), 5, what="the netns holder")
    return p


def sleeper_in(procs, cgdir):
    """A sleeping process in cgroup cgdir: (Popen, its netns, its cgroup)."""
    p = procs.sleep()
    helpers.move_to_cgroup(p.pid, cgdir)
    wait_sleeping(p.pid)
    return p, proc_ns_ino(p.pid, "network"), helpers.cgroup_of(p.pid)


def untouched(pid, netns, cgroup):
    """Not traced, asleep again (it runs for a moment once detached), in
    the same network namespace and cgroup."""
    wait_until(lambda: helpers.proc_status(pid)["State"][0] == "S", 5, what=f"{pid} to sleep")
    assert helpers.proc_status(pid)["TracerPid"] == "0"
    assert proc_ns_ino(pid, "network") == netns
    assert helpers.cgroup_of(pid) == cgroup


def test_helper_moves_the_process_the_pidfd_names(helper, procs, cgroups, fds):
    """The control for the next test: with the target's own pidfd, the job
    is prepared (seized, nothing changed yet), then on proceed the process
    joins cgroup a, then the namespace, and it is reported done."""
    src = netns_holder(procs)
    p = procs.sleep()
    helpers.move_to_cgroup(p.pid, cgroups[1])
    sock = helper.job(p.pid, src.pid, CLONE_NEWNET, join=fds.dir(cgroups[0]),
                      undo=fds.dir(cgroups[1]), pidfd=fds.pidfd(p.pid))
    assert helper.note(sock) == (PREPARED, 0)
    assert helpers.cgroup_of(p.pid).endswith("/b")
    assert helper.traces(p.pid)
    sock.send(NOTE.pack(PROCEED_JOINED, 0))  # as for a writer moving itself
    assert helper.note(sock) == (JOINED, 0)
    assert helpers.cgroup_of(p.pid).endswith("/a")
    assert helper.note(sock) == (DONE, 0)
    assert proc_ns_ino(p.pid, "network") == proc_ns_ino(src.pid, "network")
    assert helpers.proc_status(p.pid)["TracerPid"] == "0"


def test_helper_refuses_a_pid_whose_checked_process_is_gone(helper, procs, cgroups, fds):
    """pid reuse: the daemon checked process X (pidfd), X exited, and its
    pid now names another process. The job is refused with ESRCH and that
    other process is left exactly as it was."""
    src = netns_holder(procs)
    gone = procs.popen(["true"])
    gone_fd = fds.pidfd(gone.pid)
    gone.wait(timeout=5)
    p, netns, cg = sleeper_in(procs, cgroups[1])  # stands for the process that got the pid
    sock = helper.job(p.pid, src.pid, CLONE_NEWNET, join=fds.dir(cgroups[0]),
                      undo=fds.dir(cgroups[1]), pidfd=gone_fd)
    assert helper.note(sock) == (PREPARED, errno.ESRCH)
    untouched(p.pid, netns, cg)


def test_helper_changes_nothing_for_a_move_the_daemon_never_confirms(helper, procs, cgroups,
                                                                     fds):
    """The job socket closing before proceed (the daemon died between its
    checks and its go-ahead): nothing was changed but the seize; the process
    is detached untouched and keeps sleeping in its cgroup."""
    src = netns_holder(procs)
    p, netns, cg = sleeper_in(procs, cgroups[1])
    sock = helper.job(p.pid, src.pid, CLONE_NEWNET, join=fds.dir(cgroups[0]),
                      undo=fds.dir(cgroups[1]))
    assert helper.note(sock) == (PREPARED, 0)
    assert helper.traces(p.pid)
    sock.close()
    wait_until(lambda: helpers.proc_status(p.pid)["TracerPid"] == "0", 5,
               what="the process to be detached")
    untouched(p.pid, netns, cg)
    assert helpers.cgroup_procs(cgroups[0]) == []


def test_helper_refuses_up_front_a_process_setns_would_refuse(helper, procs, cgroups, fds):
    """A process without CAP_SYS_ADMIN could not run the setns: refused at
    prepare with EPERM, before the cgroup write, the process untouched."""
    src = netns_holder(procs)
    p = procs.popen(["setpriv", "--inh-caps=-all", "--bounding-set=-sys_admin", "sleep", "100"])
    wait_until(lambda: helpers.cmdline(p.pid).startswith("sleep")
               and helpers.proc_status(p.pid)["State"][0] == "S", 5, what="the capless sleep")
    helpers.move_to_cgroup(p.pid, cgroups[1])
    netns = proc_ns_ino(p.pid, "network")
    sock = helper.job(p.pid, src.pid, CLONE_NEWNET, join=fds.dir(cgroups[0]))
    assert helper.note(sock) == (PREPARED, errno.EPERM)
    untouched(p.pid, netns, helpers.cgroup_rel(cgroups[1]))


def test_helper_puts_a_failed_move_back_into_the_nearest_cgroup_left(helper, procs, cgroups,
                                                                     fds):
    """The injection fails after the cgroup write (the namespaces' source
    exits between prepare and proceed): the pid goes back to the cgroup
    given to undo -- and, that one being gone meanwhile, to its parent."""
    src = netns_holder(procs)
    p = procs.sleep()
    wait_until(lambda: helpers.proc_status(p.pid)["State"][0] == "S", 5, what="the sleep")
    top = os.path.dirname(cgroups[0])
    gone = os.path.join(top, "gone")
    os.mkdir(gone)
    undo = fds.dir(gone)
    os.rmdir(gone)
    helpers.move_to_cgroup(p.pid, cgroups[1])
    netns = proc_ns_ino(p.pid, "network")
    try:
        sock = helper.job(p.pid, src.pid, CLONE_NEWNET, join=fds.dir(cgroups[0]), undo=undo)
        assert helper.note(sock) == (PREPARED, 0)
        helpers.kill_pid(src.pid)
        src.wait(timeout=5)
        sock.send(NOTE.pack(PROCEED, 0))  # no `joined` asked for: done only
        assert helper.note(sock) == (DONE, errno.ESRCH)
        untouched(p.pid, netns, helpers.cgroup_rel(top))
    finally:
        helpers.kill_pid(p.pid)  # in top, which the fixture removes last
        p.wait(timeout=5)


def test_helper_ignores_a_malformed_job_and_serves_the_next(helper, procs):
    """A message that is not a job (wrong magic, descriptors missing) is
    logged and dropped; the helper goes on."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    socket.send_fds(helper.ctrl, [JOB.pack(0xdead, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b"", 0, 0, b"")],
                    [theirs.fileno()])
    socket.send_fds(helper.ctrl, [JOB.pack(MAGIC, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, b"", 0, 0, b"")],
                    [theirs.fileno()])
    helper.ctrl.send(b"\x01\x02")  # not a job at all
    theirs.close()
    ours.settimeout(2)
    assert ours.recv(64) == b""  # its copies were closed: end of file, no answer
    src = netns_holder(procs)
    p = procs.sleep()
    sock = helper.job(p.pid, src.pid, CLONE_NEWNET)
    assert helper.note(sock) == (PREPARED, 0)
    sock.send(NOTE.pack(PROCEED, 0))
    assert helper.note(sock) == (DONE, 0)
    assert proc_ns_ino(p.pid, "network") == proc_ns_ino(src.pid, "network")


def test_helper_started_without_its_socket_exits_1(tmp_path):
    """`containerfs --injector-service` by hand, fd 3 not the socket."""
    r = subprocess.run([str(helpers.DAEMON), "--injector-service"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 1
    assert "not the daemon's control socket" in r.stderr


def test_a_move_refuses_any_injector_process(cfs, helper):
    """Not only the daemon's own helper: one of an earlier daemon (here one
    the test started) may still be finishing moves, and moving it could
    kill it in the middle of one. EINVAL, and it stays where it is."""
    cfs.mkdir("c")
    wait_until(lambda: helpers.cmdline(helper.pid) == "containerfs-injector --injector-service", 5,
               what="the helper to run")
    before = helpers.cgroup_of(helper.pid)
    err = write_errno(cfs.path("c", "tasks"), f"{helper.pid}\n")
    assert err == errno.EINVAL
    assert helpers.cgroup_of(helper.pid) == before
    assert "is the daemon or an injector process" in cfs.log()


def test_a_new_helper_matches_the_running_daemon_after_an_in_place_upgrade(cfs, procs, tmp_path):
    """A package upgrade replaces the program file (rename over it) while
    the daemon runs: a helper started afterwards comes from the daemon's own
    (now deleted) executable, not from the new file, so both ends always
    speak the same protocol."""
    copy = helpers.copy_programs(tmp_path / "bin")
    cfs.daemon.stop()
    cfs.start(exe=copy)
    cfs.mkdir("c")
    shutil.copy2(helpers.DAEMON, copy.with_name("containerfs.new"))
    os.rename(copy.with_name("containerfs.new"), copy)
    old = the_helper(cfs)
    os.kill(old, signal.SIGKILL)
    p = procs.sleep()
    enter(cfs, "c", p.pid)
    new = the_helper(cfs)
    assert new != old
    assert os.readlink(f"/proc/{new}/exe") == f"{copy} (deleted)"
    assert os.readlink(f"/proc/{new}/exe") == os.readlink(f"/proc/{cfs.daemon.pid}/exe")


def test_the_helper_keeps_few_threads_over_many_moves(cfs, procs):
    """Workers that ended a move cleanly take the next one; the helper keeps
    at most 4 idle ones (its main thread aside), however many moves ran."""
    cfs.mkdir("a", "b")
    p = procs.sleep()
    for i in range(30):
        helpers.write_once(cfs.path("ab"[i % 2], "tasks"), f"{p.pid}\n")
    helper = the_helper(cfs)
    assert int(helpers.proc_status(helper)["Threads"]) <= 5
    assert p.pid in helpers.cgroup_procs(cfs.members_cgroup("b"))
