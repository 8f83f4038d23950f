"""The daemon at the scale of a host.

Its open files do not grow with the number of containers (nor with pollers
that have gone); a mkdir stopped by a resource limit fails with the kernel's
errno and leaves nothing behind, and the daemon serves on; the kernel may
cache the tree, but no reader sees a change late — one made by another
client, one made by the kernel (an init killed), one made by the daemon (a
namespace change); and no lock is held while a container is being made, so
everything else goes on meanwhile.
"""
import errno
import os
import re
import resource
import select
import signal
import threading
import time

import pytest

import helpers
from helpers import errno_of, run, wait_until, write_once


def daemon_fds(cfs):
    return len(os.listdir(f"/proc/{cfs.daemon.pid}/fd"))


def inotify_watches(pid):
    """How many files the process watches through inotify (its fdinfo)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                total += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            pass
    return total


def container_cgroup_dirs(cfs):
    return sorted(helpers.container_cgroups(cfs.cgroup))


def inits_below(cfs):
    return sorted(p for p in helpers.all_cgroup_procs(cfs.cgroup))


def settle(cfs, count):
    """The daemon's fd count once idle (its helper threads come and go)."""
    deadline = time.monotonic() + 5
    fds = daemon_fds(cfs)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = daemon_fds(cfs)
        if now == fds:
            return now
        fds = now
    return fds


# ----------------------------------------------------------------- open files

def test_open_files_do_not_grow_with_the_number_of_containers(cfs):
    cfs.mkdir(*[f"w{i}" for i in range(10)])
    before = settle(cfs, 10)
    cfs.mkdir(*[f"c{i}" for i in range(300)])
    for i in range(0, 300, 3):  # and nested ones
        os.mkdir(cfs.path(f"c{i}", "n"))
    after = settle(cfs, 400)
    assert after - before <= 2, (before, after)
    # Two watches a container (its init, its controls), none of them a file.
    assert inotify_watches(cfs.daemon.pid) >= 2 * 400
    for i in range(0, 300, 3):
        os.rmdir(cfs.path(f"c{i}", "n"))
    for i in range(300):
        os.rmdir(cfs.path(f"c{i}"))
    assert settle(cfs, 10) - before <= 2


def test_event_pollers_leave_nothing_behind_once_closed(cfs):
    cfs.mkdir(*[f"p{i}" for i in range(60)])
    fds = settle(cfs, 60)
    watches = inotify_watches(cfs.daemon.pid)
    files = [open(cfs.path(f"p{i}", "events")) for i in range(60)]
    try:
        poller = select.poll()
        for f in files:
            f.read()
            poller.register(f, select.POLLPRI | select.POLLIN)
        poller.poll(50)  # every file asks the daemon to tell it of a change
        assert inotify_watches(cfs.daemon.pid) >= watches + 60
    finally:
        for f in files:
            f.close()
    wait_until(lambda: inotify_watches(cfs.daemon.pid) == watches, 5, what="the pollers' watches to end")
    assert settle(cfs, 60) == fds


# ----------------------------------------------------------------- limits

def no_new_containers(cfs, cgroups, procs):
    assert container_cgroup_dirs(cfs) == cgroups
    assert inits_below(cfs) == procs


def test_mkdir_out_of_file_descriptors_fails_with_emfile_and_leaves_nothing(cfs):
    cfs.mkdir("old")
    pid = cfs.daemon.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    cgroups, procs = container_cgroup_dirs(cfs), inits_below(cfs)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (daemon_fds(cfs) + 1, hard))
    try:
        err = errno_of(os.mkdir, cfs.path("new"))
        assert errno.errorcode.get(err) == "EMFILE"
        no_new_containers(cfs, cgroups, procs)
        # It serves on (what needs no new descriptor).
        assert "new" not in os.listdir(cfs.mnt)
        assert os.stat(cfs.path("old")).st_nlink == 2
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    assert open(cfs.path("old", "hostname")).read() == "old\n"
    cfs.mkdir("new")
    assert "new" in os.listdir(cfs.mnt)


def test_mkdir_beyond_a_namespace_limit_fails_with_enospc_and_leaves_nothing(cfs):
    """The kernel's per-user-namespace limits (user.max_*_namespaces): set to
    0 inside a container's own user namespace (root here lacks
    CAP_SYS_RESOURCE for the host's), a child container's fresh uts
    namespace cannot be made there."""
    cfs.mkdir("web")
    helpers.touch(cfs.path("web", "user"))
    write_once(cfs.path("web", "uid_map"), "0 0 4294967295\n")
    write_once(cfs.path("web", "gid_map"), "0 0 4294967295\n")
    init = cfs.init_pid("web")
    run(["nsenter", "-t", str(init), "-U", "--preserve-credentials", "sh", "-c",
         "echo 0 > /proc/sys/user/max_uts_namespaces"])
    cgroups, procs = container_cgroup_dirs(cfs), inits_below(cfs)
    err = errno_of(os.mkdir, cfs.path("web", "child"))
    assert errno.errorcode.get(err) == "ENOSPC"
    no_new_containers(cfs, cgroups, procs)
    assert os.listdir(cfs.path("web")) == [n for n in os.listdir(cfs.path("web")) if n != "child"]
    assert open(cfs.path("web", "hostname")).read() == "web\n"
    run(["nsenter", "-t", str(init), "-U", "--preserve-credentials", "sh", "-c",
         "echo 1000 > /proc/sys/user/max_uts_namespaces"])
    os.mkdir(cfs.path("web", "child"))


@pytest.fixture
def pids_limit(cfs):
    """Sets the number of processes the daemon's tree may have, through a
    pids cgroup: the daemon's own on a unified host, one the test makes in
    the v1 pids hierarchy otherwise. Yields set(n); undone afterwards."""
    v2 = os.path.join(cfs.cgroup, "pids.max")
    if os.path.exists(v2):
        def set_v2(n):
            with open(v2, "w") as f:
                f.write(str(n))
        yield set_v2, lambda: int(open(os.path.join(cfs.cgroup, "pids.current")).read())
        set_v2("max")
        return
    v1_root = "/sys/fs/cgroup/pids"
    if not os.path.isdir(v1_root):
        pytest.skip("no pids controller (neither in cgroup v2 here nor in v1)")
    v1 = os.path.join(v1_root, os.path.basename(cfs.cgroup))
    os.mkdir(v1)
    origin = None
    for line in open(f"/proc/{cfs.daemon.pid}/cgroup"):
        parts = line.strip().split(":", 2)
        if parts[1] == "pids":
            origin = os.path.join(v1_root, parts[2].lstrip("/"))
    # The daemon, and so everything it starts from now on, counts there.
    with open(os.path.join(v1, "cgroup.procs"), "w") as f:
        f.write(str(cfs.daemon.pid))

    def set_v1(n):
        with open(os.path.join(v1, "pids.max"), "w") as f:
            f.write(str(n))
    try:
        yield set_v1, lambda: int(open(os.path.join(v1, "pids.current")).read())
    finally:
        set_v1("max")
        for pid in open(os.path.join(v1, "cgroup.procs")).read().split():
            try:
                with open(os.path.join(origin or v1_root, "cgroup.procs"), "w") as f:
                    f.write(pid)
            except OSError:
                pass
        helpers.retry_while_busy(lambda: os.rmdir(v1), 5.0)


def test_mkdir_beyond_the_process_limit_fails_with_eagain_and_leaves_nothing(cfs, pids_limit):
    set_limit, current = pids_limit
    cfs.mkdir("old")
    cgroups, procs = container_cgroup_dirs(cfs), inits_below(cfs)
    set_limit(current())
    err = errno_of(os.mkdir, cfs.path("new"))
    assert errno.errorcode.get(err) == "EAGAIN"
    no_new_containers(cfs, cgroups, procs)
    assert open(cfs.path("old", "hostname")).read() == "old\n"
    set_limit("max")
    cfs.mkdir("new")


# ----------------------------------------------------------------- no stale answer

def test_a_container_whose_init_is_killed_is_gone_for_every_reader_at_once(cfs):
    cfs.mkdir("web", "db")
    # In the kernel's caches: listed, looked up, stat'ed.
    assert {"web", "db"} <= set(os.listdir(cfs.mnt))
    os.stat(cfs.path("web"))
    os.stat(cfs.path("web", "tasks"))
    run(["ls", "-l", cfs.mnt])
    helpers.kill_pid(cfs.init_pid("web"))
    wait_until(lambda: "init of container web exited" in cfs.log(), 5, what="the daemon to see the end")
    assert not os.path.exists(cfs.path("web"))
    assert errno_of(os.stat, cfs.path("web", "tasks")) == errno.ENOENT
    assert "web" not in os.listdir(cfs.mnt)
    assert "web" not in run(["ls", "-l", cfs.mnt]).stdout
    assert os.path.isdir(cfs.path("db"))


def test_changes_by_another_client_show_at_once(cfs, procs):
    cfs.mkdir("a")
    os.stat(cfs.path("a"))
    os.listdir(cfs.mnt)
    other = ["sh", "-c", f"mkdir {cfs.path('b')} && rmdir {cfs.path('a')} && mv {cfs.path('b')} {cfs.path('c')}"]
    run(other)
    names = set(os.listdir(cfs.mnt))
    assert "c" in names and "a" not in names and "b" not in names
    assert errno_of(os.stat, cfs.path("a")) == errno.ENOENT
    assert os.stat(cfs.path("c")).st_nlink == 2


def test_a_namespace_change_shows_at_once(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    assert open(cfs.path("web", "hostname")).read() == "web\n"
    assert os.readlink(cfs.path("web", "network")) == f"/proc/{init}/ns/net"
    os.stat(cfs.path("web", "uts"))
    os.unlink(cfs.path("web", "uts"))  # a new init, without a uts namespace of its own
    new = cfs.init_pid("web")
    assert new != init
    assert not os.path.exists(cfs.path("web", "hostname"))
    assert not os.path.lexists(cfs.path("web", "uts"))
    assert os.readlink(cfs.path("web", "network")) == f"/proc/{new}/ns/net"
    assert os.lstat(cfs.path("web", "network")).st_size == len(f"/proc/{new}/ns/net")
    helpers.touch(cfs.path("web", "uts"))
    assert open(cfs.path("web", "hostname")).read() == "web\n"


def test_chown_shows_on_every_file_at_once(cfs):
    cfs.mkdir("web")
    os.stat(cfs.path("web"))
    os.stat(cfs.path("web", "tasks"))
    os.chown(cfs.path("web", "tasks"), 4321, 4321)  # a file's chown delegates the container
    assert os.stat(cfs.path("web", "events")).st_uid == 4321
    wait_until(lambda: os.stat(cfs.path("web")).st_uid == 4321, 1, what="the directory's owner")


# ----------------------------------------------------------------- no lock across a spawn

def test_everything_else_goes_on_while_a_container_is_being_made(outer_cgroup):
    """A mkdir whose init cannot start (frozen from a cgroup above the
    daemon's) waits out its bound. The kernel itself holds the directory it
    is made in meanwhile (no listing of it, no other mkdir there), but the
    daemon holds nothing: lookups, stat, links, reads, listings and renames
    elsewhere answer at once."""
    cfs, outer = outer_cgroup
    cfs.start()
    cfs.mkdir("a", "a/x", "b")
    with open(os.path.join(outer, "cgroup.freeze"), "w") as f:
        f.write("1")
    result = {}
    t = threading.Thread(target=lambda: result.update(err=errno_of(os.mkdir, cfs.path("slow"))))
    t.start()
    try:
        time.sleep(0.3)
        start = time.monotonic()
        os.stat(cfs.path("a"))
        assert os.readlink(cfs.path("a", "network")).startswith("/proc/")
        assert open(cfs.path("b", "events")).read().startswith("populated 0")
        assert "x" in os.listdir(cfs.path("a"))
        os.rename(cfs.path("a", "x"), cfs.path("a", "y"))
        assert sorted(n for n in os.listdir(cfs.path("a")) if n in ("x", "y")) == ["y"]
        took = time.monotonic() - start
        assert took < 1.5, took
        assert t.is_alive(), "the stuck mkdir should still be waiting"
    finally:
        t.join(timeout=30)
    assert errno.errorcode.get(result["err"]) == "ETIMEDOUT"
    assert "slow" not in os.listdir(cfs.mnt)
    with open(os.path.join(outer, "cgroup.freeze"), "w") as f:
        f.write("0")
    cfs.mkdir("slow")


# ----------------------------------------------------------------- many containers

def test_a_thousand_containers_made_listed_and_removed_leave_nothing(cfs):
    n = 1000
    fds = settle(cfs, 0)
    for i in range(n):
        os.mkdir(cfs.path(f"m{i:04d}"))
    listing = run(["ls", "-l", cfs.mnt]).stdout
    assert len(re.findall(r" m\d{4}$", listing, re.M)) == n
    assert len(container_cgroup_dirs(cfs)) == n
    for i in range(n):
        os.rmdir(cfs.path(f"m{i:04d}"))
    assert container_cgroup_dirs(cfs) == []
    assert inits_below(cfs) == []
    assert settle(cfs, 0) - fds <= 2
