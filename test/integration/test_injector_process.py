"""Issue 6, item 2: the injector process, which carries every tasks move
through whatever happens to the daemon (containerfs(8), INJECTOR PROCESS).

The crash loop (test_crash.py) kills the daemon in the middle of moves;
these tests pin down the helper's own contract: what it holds, that it
outlives a dead daemon only as long as its moves take, that a dead helper is
replaced, and that a clean unmount leaves nothing behind.
"""
import errno
import os
import signal
import time

import helpers
from helpers import wait_until
from support_procs import container_ns, proc_ns, members_cgroup

HELPER = "containerfs-inj"


def helpers_of(parent):
    """Live injector processes whose parent is `parent`."""
    out = []
    for p in helpers.all_pids():
        st = helpers.proc_status(p)
        if st and st["Name"] == HELPER and int(st["PPid"]) == parent and st["State"][0] not in "ZX":
            out.append(p)
    return out


def the_helper(cfs):
    found = []
    wait_until(lambda: found.extend(helpers_of(cfs.pid)) or found, 5,
               what="the daemon's injector process")
    assert len(found) == 1, f"more than one injector process: {found}"
    return found[0]


def zombie_children(parent):
    return [p for p in helpers.all_pids()
            if (st := helpers.proc_status(p)) and int(st["PPid"]) == parent
            and st["State"][0] == "Z"]


def enter(cfs, container, pid):
    helpers.write_once(cfs.path(container, "tasks"), f"{pid}\n")
    want = container_ns(cfs, container, ("network", "uts", "ipc"))
    assert {n: proc_ns(pid, n) for n in want} == want
    assert pid in helpers.cgroup_procs(members_cgroup(cfs, container))


def test_injector_process_holds_only_its_control_socket(cfs):
    """A child of the daemon, named for what it is, holding stdin/out/err and
    one socket: not /dev/fuse (a dead daemon's mount must fail at once), not
    the cgroup directory the daemon locks (a new daemon must start)."""
    helper = the_helper(cfs)
    assert helpers.cmdline(helper) == "containerfs-injector --injector-service"
    assert os.readlink(f"/proc/{helper}/exe") == os.readlink(f"/proc/{cfs.pid}/exe")
    fds = {int(fd): os.readlink(f"/proc/{helper}/fd/{fd}") for fd in os.listdir(f"/proc/{helper}/fd")}
    assert sorted(fds) == [0, 1, 2, 3], fds
    assert fds[3].startswith("socket:"), fds
    assert not any("fuse" in t or t.startswith(cfs.cgroup) for t in fds.values()), fds
    # The same cgroup as the daemon: a service manager counts it as the daemon's.
    assert helpers.cgroup_of(helper) == helpers.cgroup_of(cfs.pid)


def test_moves_go_on_after_the_injector_process_is_killed(cfs, procs):
    """SIGKILL of the helper: the next move starts a new one and succeeds;
    the dead one is reaped, not left a zombie of the daemon."""
    cfs.mkdir("c")
    old = the_helper(cfs)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not helpers.alive(old) or helpers.proc_status(old)["State"][0] == "Z", 5,
               what="the helper to die")
    p = procs.sleep()
    enter(cfs, "c", p.pid)
    new = the_helper(cfs)
    assert new != old
    wait_until(lambda: old not in zombie_children(cfs.pid), 5, what="the dead helper to be reaped")
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


def test_clean_unmount_ends_the_injector_process(cfs):
    helper = the_helper(cfs)
    daemon = cfs.current
    helpers.run(["fusermount3", "-u", cfs.mnt])
    assert daemon.wait_exit() == 0
    # Reaped by the daemon before it exited, so gone, not a zombie of ours.
    wait_until(lambda: not helpers.alive(helper), 5, what="the helper to exit")
    assert helper not in zombie_children(os.getpid())


def test_daemon_killed_helper_exits_by_itself_and_the_mount_fails(cfs):
    """kill -9 of the daemon: its helper has no move to finish, so it exits
    at once (it comes to us, the subreaper); the mount fails with ENOTCONN
    because nothing but the dead daemon held /dev/fuse; a new daemon starts
    on the same cgroup while the old helper may still run."""
    cfs.mkdir("c")
    helper = the_helper(cfs)
    cfs.current.kill(signal.SIGKILL)
    assert cfs.current.wait_exit() is not None
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
    err = helpers.errno_of(helpers.write_once, cfs.path("c", "tasks"), f"{helper}\n")
    assert err == errno.EINVAL
    assert helpers.cgroup_of(helper) == before
    assert helpers.proc_status(helper)["TracerPid"] == "0"
