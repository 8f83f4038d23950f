"""A frozen container never wedges the daemon.

Anything that would start a process inside a frozen container (a new init
for a namespace change, a child container's init) or run injected code in a
frozen process is refused at once with EBUSY and changes nothing; every
other request keeps being served meanwhile. A process frozen behind the
daemon's back (an ancestor cgroup the daemon does not own) costs a bounded
wait, never a hang, and the child it stopped holds nothing of the daemon's,
so a daemon killed meanwhile can be replaced at once.
"""
import errno
import os
import subprocess
import threading
import time

import pytest

import helpers
from helpers import errno_of, run, write_once
from helpers import assert_untouched, process_view

# A refusal must come at once, not after a spawn timed out.
PROMPT = 1.0


def freeze(cfs, name, on=True):
    write_once(cfs.path(name, "freeze"), "1\n" if on else "0\n")


def timed_errno(fn, *args):
    start = time.monotonic()
    err = errno_of(fn, *args)
    return err, time.monotonic() - start


def container_state(cfs, name):
    """What a refused change must leave: its init, its files, its links."""
    d = cfs.path(name)
    links = {f: os.readlink(os.path.join(d, f)) for f in os.listdir(d)
             if os.path.islink(os.path.join(d, f))}
    return cfs.init_pid(name), sorted(os.listdir(d)), links


@pytest.fixture
def frozen(cfs):
    cfs.mkdir("f")
    freeze(cfs, "f")
    yield cfs
    # Thawed again so that teardown's kill is not slowed by it.
    if os.path.isdir(cfs.path("f")):
        freeze(cfs, "f", False)


def test_namespace_changes_of_a_frozen_container_are_ebusy_at_once(frozen):
    cfs = frozen
    cfs.mkdir("other")
    before = container_state(cfs, "f")
    tree = helpers.snapshot(cfs.mnt, cfs.cgroup)
    # rm (inherit again), touch (a fresh one), ln -s (share another's).
    err, took = timed_errno(os.unlink, cfs.path("f", "uts"))
    assert (errno.errorcode.get(err), took < PROMPT) == ("EBUSY", True)
    err, took = timed_errno(lambda: open(cfs.path("f", "user"), "w").close())
    assert (errno.errorcode.get(err), took < PROMPT) == ("EBUSY", True)
    err, took = timed_errno(os.symlink, "../time", cfs.path("f", "time"))
    assert (errno.errorcode.get(err), took < PROMPT) == ("EBUSY", True)
    assert container_state(cfs, "f") == before
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == tree
    # Thawed, the same change goes through.
    freeze(cfs, "f", False)
    os.unlink(cfs.path("f", "uts"))
    assert not os.path.lexists(cfs.path("f", "uts"))


def test_a_child_of_a_frozen_container_is_ebusy_and_leaves_no_cgroup(frozen):
    cfs = frozen
    tree = helpers.snapshot(cfs.mnt, cfs.cgroup)
    err, took = timed_errno(os.mkdir, cfs.path("f", "child"))
    assert (errno.errorcode.get(err), took < PROMPT) == ("EBUSY", True)
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == tree
    freeze(cfs, "f", False)
    os.mkdir(cfs.path("f", "child"))
    assert helpers.alive(cfs.init_pid("f/child"))


def test_a_frozen_host_cgroup_refuses_every_new_container(cfs):
    """The daemon's own cgroup frozen (by root, in cgroupfs): mkdir is
    EBUSY at once, and reads go on."""
    cfs.mkdir("a")
    with open(os.path.join(cfs.cgroup, "cgroup.freeze"), "w") as f:
        f.write("1")
    try:
        err, took = timed_errno(os.mkdir, cfs.path("b"))
        assert (errno.errorcode.get(err), took < PROMPT) == ("EBUSY", True)
        assert sorted(os.listdir(cfs.mnt)).count("a") == 1
        assert "b" not in os.listdir(cfs.mnt)
    finally:
        with open(os.path.join(cfs.cgroup, "cgroup.freeze"), "w") as f:
            f.write("0")


def test_moving_into_or_out_of_a_frozen_container_is_ebusy(frozen, procs):
    cfs = frozen
    outside = procs.sleep()
    before = process_view(outside.pid)
    err, took = timed_errno(write_once, cfs.path("f", "tasks"), f"{outside.pid}\n")
    assert (errno.errorcode.get(err), took < PROMPT) == ("EBUSY", True)
    assert_untouched(outside.pid, before)
    # A member of a frozen container cannot be taken home either.
    freeze(cfs, "f", False)
    member = procs.sleep()
    write_once(cfs.path("f", "tasks"), f"{member.pid}\n")
    freeze(cfs, "f")
    inside = process_view(member.pid)
    err, took = timed_errno(write_once, cfs.path("tasks"), f"{member.pid}\n")
    assert (errno.errorcode.get(err), took < PROMPT) == ("EBUSY", True)
    assert str(member.pid) in open(cfs.path("f", "tasks")).read().split()
    freeze(cfs, "f", False)
    after = process_view(member.pid)
    assert (after["ns"], after["cgroup"]) == (inside["ns"], inside["cgroup"])


def test_thawing_a_container_below_a_frozen_one_is_done_at_once(cfs, procs):
    """Its own request is taken (its freeze file reads 0) and the write
    returns at once; its member stays frozen, as cgroup.freeze has it,
    until the container above is thawed."""
    cfs.mkdir("p", "p/c")
    member = procs.sleep()
    cfs.enter("p/c", member.pid)
    freeze(cfs, "p/c")
    freeze(cfs, "p")
    err, took = timed_errno(write_once, cfs.path("p", "c", "freeze"), "0\n")
    assert (errno.errorcode.get(err, err), took < PROMPT) == (0, True)
    assert open(cfs.path("p", "c", "freeze")).read() == "0\n"
    assert open(cfs.path("p", "c", "events")).read() == "populated 1\nfrozen 1\n"
    freeze(cfs, "p", False)
    helpers.wait_until(lambda: open(cfs.path("p", "c", "events")).read().endswith("frozen 0\n"), 5,
                       what="p/c to thaw with p")
    # Freezing below a frozen container returns at once too.
    freeze(cfs, "p")
    err, took = timed_errno(write_once, cfs.path("p", "c", "freeze"), "1\n")
    assert (errno.errorcode.get(err, err), took < PROMPT) == (0, True)
    freeze(cfs, "p", False)
    assert open(cfs.path("p", "c", "events")).read() == "populated 1\nfrozen 1\n"
    freeze(cfs, "p/c", False)


def test_other_requests_are_served_while_a_container_is_frozen(frozen):
    cfs = frozen
    cfs.mkdir("g")
    assert sorted(n for n in os.listdir(cfs.mnt) if n in ("f", "g")) == ["f", "g"]
    assert open(cfs.path("f", "events")).read() == "populated 0\nfrozen 1\n"
    assert open(cfs.path("f", "hostname")).read() == "f\n"
    os.rename(cfs.path("g"), cfs.path("h"))
    os.rmdir(cfs.path("h"))
    # A frozen container is removed as any other (SIGKILL ends frozen tasks).
    os.rmdir(cfs.path("f"))
    assert "f" not in os.listdir(cfs.mnt)


def fds_of(pid):
    out = []
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for n in names:
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{n}"))
        except OSError:
            pass
    return out


def test_a_spawn_frozen_behind_the_daemons_back_is_bounded_and_holds_nothing(outer_cgroup):
    """Frozen from an ancestor cgroup the daemon does not own, a new init
    stops before its exec: mkdir fails within the spawn bound (ETIMEDOUT),
    other requests are served meanwhile, the stopped child holds neither
    /dev/fuse nor the daemon's cgroup directory, and a daemon killed in the
    middle is replaced at once."""
    cfs, outer = outer_cgroup
    cfs.start()
    cfs.mkdir("a")
    with open(os.path.join(outer, "cgroup.freeze"), "w") as f:
        f.write("1")
    result = {}

    def make():
        result["errno"], result["took"] = timed_errno(os.mkdir, cfs.path("b"))

    t = threading.Thread(target=make)
    t.start()
    # Meanwhile: served.
    time.sleep(0.5)
    assert "a" in os.listdir(cfs.mnt)
    # The daemon's children other than the injector hold none of its files.
    daemon_pid = cfs.daemon.pid
    for pid in helpers.descendants(daemon_pid):
        if helpers.cmdline(pid).startswith("containerfs-injector"):
            continue
        held = fds_of(pid)
        assert "/dev/fuse" not in held, (pid, held)
        assert not any(h.startswith(cfs.cgroup) and h.rstrip("/") == cfs.cgroup for h in held), (pid, held)
    t.join(timeout=30)
    assert not t.is_alive(), "mkdir did not return"
    assert errno.errorcode.get(result["errno"]) == "ETIMEDOUT"
    assert result["took"] < 15
    assert "b" not in os.listdir(cfs.mnt)
    # Killed while another spawn is stuck, the daemon is replaced at once.
    t = threading.Thread(target=lambda: errno_of(os.mkdir, cfs.path("c")))
    t.start()
    time.sleep(0.5)
    cfs.kill_daemon()
    run(["fusermount3", "-uz", cfs.mnt])
    t.join(timeout=30)
    with open(os.path.join(outer, "cgroup.freeze"), "w") as f:
        f.write("0")
    cfs.start()
    assert "a" in os.listdir(cfs.mnt)
    assert "c" not in os.listdir(cfs.mnt)
