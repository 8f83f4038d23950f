"""Control of a container through its cgroup: freeze, kill, events with
poll(), and the cgroup's controller files in a container directory.

The truth is the kernel's: cgroup.events of the container's cgroup, CPU
time in /proc/PID/stat, processes alive or gone, the cgroup's own files.
"""
import errno
import os
import select
import subprocess
import threading
import time

import pytest

import helpers
from helpers import (PY, cpu_ticks, errname, read_keyed, read_line, read_text, run, shell_echo,
                     wait_until, write_errno)


def cg_events(cgdir):
    return read_keyed(os.path.join(cgdir, "cgroup.events"))


def events(cfs, c):
    return read_keyed(cfs.path(c, "events"))


def busy(procs):
    """A process that burns CPU all the time."""
    return procs.popen(["sh", "-c", "while :; do :; done"])


# ------------------------------------------------------------------ freeze

def test_freeze_and_thaw(cfs, procs):
    cfs.mkdir("web")
    p = busy(procs)
    cfs.enter("web", p.pid)
    cg = cfs.cgroup_dir_of("web")
    assert read_text(cfs.path("web", "freeze")).strip() == "0"
    r = shell_echo(1, cfs.path("web", "freeze"))
    assert r.returncode == 0, r.stderr
    # The write returns once frozen: no waiting here.
    assert events(cfs, "web")["frozen"] == "1"
    assert cg_events(cg)["frozen"] == "1"
    assert cg_events(cfs.members_cgroup("web"))["frozen"] == "1"
    assert read_text(cfs.path("web", "freeze")).strip() == "1"
    assert read_text(os.path.join(cg, "cgroup.freeze")).strip() == "1"
    # It really does not run.
    t0 = cpu_ticks(p.pid)
    time.sleep(0.5)
    assert cpu_ticks(p.pid) == t0, "a frozen member used CPU"
    r = shell_echo(0, cfs.path("web", "freeze"))
    assert r.returncode == 0, r.stderr
    wait_until(lambda: events(cfs, "web")["frozen"] == "0", 5, what="frozen 0")
    assert cg_events(cg)["frozen"] == "0"
    t0 = cpu_ticks(p.pid)
    wait_until(lambda: cpu_ticks(p.pid) > t0, 5, what="the thawed member to run")
    assert p.poll() is None


@pytest.mark.parametrize("value", ["2", "-1", "abc", "yes"])
def test_freeze_garbage_is_einval(cfs, procs, value):
    cfs.mkdir("web")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    err = write_errno(cfs.path("web", "freeze"), value)
    assert err == errno.EINVAL, errname(err)
    assert events(cfs, "web")["frozen"] == "0"
    assert read_text(os.path.join(cfs.cgroup_dir_of("web"), "cgroup.freeze")).strip() == "0"


def test_freeze_empty_container(cfs):
    cfs.mkdir("web")
    assert write_errno(cfs.path("web", "freeze"), "1") == 0
    assert events(cfs, "web")["frozen"] == "1"
    assert write_errno(cfs.path("web", "freeze"), "0") == 0
    wait_until(lambda: events(cfs, "web")["frozen"] == "0", 5, what="thaw")
    # The init was thawed too: the container still works.
    cfs.mkdir("web/child")
    assert helpers.alive(cfs.init_pid("web/child"))


# ------------------------------------------------------------------ kill

def test_kill_kills_members_not_the_init(cfs, procs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    members = [procs.sleep(), procs.sleep(), busy(procs)]
    for p in members:
        cfs.enter("web", p.pid)
    assert events(cfs, "web")["populated"] == "1"
    r = shell_echo(1, cfs.path("web", "kill"))
    assert r.returncode == 0, r.stderr
    for p in members:
        assert p.wait(timeout=5) == -9
    wait_until(lambda: cfs.task_pids("web") == [], 5, what="tasks empty")
    wait_until(lambda: events(cfs, "web")["populated"] == "0", 5, what="populated 0")
    assert helpers.alive(init)
    assert cfs.init_pid("web") == init
    # The container keeps working.
    s = procs.sleep()
    cfs.enter("web", s.pid)
    assert cfs.task_pids("web") == [s.pid]


def test_kill_with_nested_containers_spares_every_init(cfs, procs):
    cfs.mkdir("web", "web/db")
    a = procs.sleep()
    cfs.enter("web", a.pid)
    inits = [cfs.init_pid("web"), cfs.init_pid("web/db")]
    assert write_errno(cfs.path("web", "kill"), "1") == 0
    assert a.wait(timeout=5) == -9
    time.sleep(0.2)
    assert all(helpers.alive(i) for i in inits)
    assert [cfs.init_pid("web"), cfs.init_pid("web/db")] == inits
    cfs.mkdir("web/db/x")


@pytest.mark.parametrize("value", ["0", "2", "-1", "abc", "11"])
def test_kill_other_values_are_einval(cfs, procs, value):
    cfs.mkdir("web")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    err = write_errno(cfs.path("web", "kill"), value)
    assert err == errno.EINVAL, f"{value!r}: {errname(err)}"
    time.sleep(0.1)
    assert p.poll() is None
    assert cfs.task_pids("web") == [p.pid]


# ------------------------------------------------------------------ events

def poll_once(fd, timeout_s):
    pl = select.poll()
    pl.register(fd, select.POLLIN | select.POLLPRI)
    t0 = time.monotonic()
    ready = pl.poll(int(timeout_s * 1000))
    return ready, time.monotonic() - t0


def test_poll_on_events_wakes_when_a_member_exits(cfs, procs):
    cfs.mkdir("web")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    fd = os.open(cfs.path("web", "events"), os.O_RDONLY)
    try:
        assert os.read(fd, 4096).decode().split("\n")[:2] == ["populated 1", "frozen 0"]
        # Nothing changed: poll waits.
        ready, _ = poll_once(fd, 0.3)
        assert ready == [], f"poll woke without a change: {ready}"
        killer = threading.Timer(0.2, helpers.kill_pid, (p.pid,))
        killer.start()
        ready, took = poll_once(fd, 2.0)
        killer.join()
        assert ready, "poll did not wake within 2s of the member's exit"
        assert took < 2.0
        p.wait(timeout=5)
        # A re-read from offset 0 shows the new state.
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.read(fd, 4096).decode().split("\n")[:2] == ["populated 0", "frozen 0"]
        # And poll waits again.
        ready, _ = poll_once(fd, 0.3)
        assert ready == []
    finally:
        os.close(fd)


def test_poll_on_events_wakes_on_freeze_by_another_process(cfs, procs):
    cfs.mkdir("web")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    fd = os.open(cfs.path("web", "events"), os.O_RDONLY)
    try:
        os.read(fd, 4096)
        freezer = threading.Timer(0.2, lambda: run(["sh", "-c", 'echo 1 > "$1"', "sh",
                                                    cfs.path("web", "freeze")]))
        freezer.start()
        ready, took = poll_once(fd, 2.0)
        freezer.join()
        assert ready, "poll did not wake on freeze"
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.read(fd, 4096).decode().split("\n")[:2] == ["populated 1", "frozen 1"]
    finally:
        os.close(fd)
        write_errno(cfs.path("web", "freeze"), "0")


def test_a_shell_waits_for_the_container_to_empty(cfs, procs, tmp_path):
    """A python3 program in its own process polls the file, as a user would."""
    cfs.mkdir("web")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    code = ("import os, select, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
            "os.read(fd, 4096)\n"
            "print('armed', flush=True)\n"
            "while True:\n"
            "    pl = select.poll(); pl.register(fd, select.POLLPRI | select.POLLIN)\n"
            "    if not pl.poll(10000): print('timeout'); sys.exit(1)\n"
            "    os.lseek(fd, 0, 0)\n"
            "    text = os.read(fd, 4096).decode()\n"
            "    if 'populated 0' in text: print('empty'); sys.exit(0)\n")
    w = procs.popen([PY, "-c", code, cfs.path("web", "events")], stdout=subprocess.PIPE,
                    text=True)
    assert read_line(w.stdout, 10).strip() == "armed"
    helpers.kill_pid(p.pid)
    p.wait(timeout=5)
    assert read_line(w.stdout, 3).strip() == "empty"
    assert w.wait(timeout=5) == 0


# ------------------------------------------------------------------ controller files

def test_cpu_stat_is_read_through_and_read_only(cfs, procs):
    cfs.mkdir("web")
    p = busy(procs)
    cfs.enter("web", p.pid)
    time.sleep(0.2)
    text = run(["cat", cfs.path("web", "cpu.stat")]).stdout
    stat = dict(line.split() for line in text.splitlines())
    kernel = read_keyed(os.path.join(cfs.cgroup_dir_of("web"), "cpu.stat"))
    assert set(stat) == set(kernel)
    assert int(stat["usage_usec"]) > 0
    # Read through, not cached: it grows while the member runs.
    u0 = int(stat["usage_usec"])
    wait_until(lambda: int(read_keyed(cfs.path("web", "cpu.stat"))["usage_usec"]) > u0, 5,
               what="usage to grow")
    assert write_errno(cfs.path("web", "cpu.stat"), "usage_usec 0\n") == errno.EACCES
    r = shell_echo("0", cfs.path("web", "cpu.stat"))
    assert "Permission denied" in r.stderr, r.stderr


@pytest.fixture
def hugetlb_root():
    """hugetlb enabled in the cgroup2 root's subtree_control, and disabled
    again afterwards if it was not before. Set up before the cfs fixture
    (see hugetlb), so that it is torn down after cfs has removed the test's
    cgroups, the last users of the controller."""
    root = helpers.find_cgroup2_mount()
    # Available in cgroup v2 at all (on a hybrid host the others sit on v1)?
    if "hugetlb" not in read_text(os.path.join(root, "cgroup.controllers")).split():
        pytest.skip("hugetlb is not available in cgroup v2 here")
    root_ctl = os.path.join(root, "cgroup.subtree_control")
    had = "hugetlb" in read_text(root_ctl).split()
    if not had:
        with open(root_ctl, "w") as f:
            f.write("+hugetlb")
    yield
    if not had:
        # Bounded: a cgroup of another test run may still be going away.
        def disable():
            with open(root_ctl, "w") as f:
                f.write("-hugetlb")
        helpers.retry_while_busy(disable)


@pytest.fixture
def hugetlb(hugetlb_root, cfs):
    """hugetlb enabled for the test's cgroup (and so its containers). A test
    names it before cfs: its dependencies are then set up in this order."""
    with open(os.path.join(cfs.cgroup, "cgroup.subtree_control"), "w") as f:
        f.write("+hugetlb")


def hugetlb_max_file(cgdir):
    names = sorted(n for n in os.listdir(cgdir) if n.startswith("hugetlb.") and n.endswith(".max")
                   and ".rsvd." not in n)
    if not names:
        pytest.skip(f"no hugetlb.*.max in {cgdir}")
    return "hugetlb.2MB.max" if "hugetlb.2MB.max" in names else names[0]


def test_hugetlb_max_is_written_and_read_through(hugetlb, cfs):
    cfs.mkdir("web")
    cg = cfs.cgroup_dir_of("web")
    name = hugetlb_max_file(cg)
    assert name in os.listdir(cfs.path("web"))
    assert read_text(cfs.path("web", name)) == read_text(os.path.join(cg, name))
    size = 2 * 1024 * 1024 if "2MB" in name else 1024 * 1024 * 1024
    r = shell_echo(str(3 * size), cfs.path("web", name))
    assert r.returncode == 0, r.stderr
    assert read_text(os.path.join(cg, name)).strip() == str(3 * size)
    assert read_text(cfs.path("web", name)).strip() == str(3 * size)
    # Written behind the daemon's back: read through.
    with open(os.path.join(cg, name), "w") as f:
        f.write(str(5 * size))
    assert run(["cat", cfs.path("web", name)]).stdout.strip() == str(5 * size)
    # The kernel's own errno for garbage, and nothing changed.
    for bad in ["abc", "-5", "12xyz"]:
        err = write_errno(cfs.path("web", name), bad)
        assert err == errno.EINVAL, f"{bad!r}: {errname(err)}"
        assert read_text(os.path.join(cg, name)).strip() == str(5 * size)
    assert write_errno(cfs.path("web", name), "max") == 0
    assert read_text(os.path.join(cg, name)).strip() == "max"


def test_controller_files_follow_subtree_control(hugetlb, cfs):
    """Enabled after the container was made: its files appear."""
    with open(os.path.join(cfs.cgroup, "cgroup.subtree_control"), "w") as f:
        f.write("-hugetlb")
    cfs.mkdir("web")
    assert not [n for n in os.listdir(cfs.path("web")) if n.startswith("hugetlb.")]
    with open(os.path.join(cfs.cgroup, "cgroup.subtree_control"), "w") as f:
        f.write("+hugetlb")
    names = run(["ls", cfs.path("web")]).stdout.split()
    assert [n for n in names if n.startswith("hugetlb.")], names
    cg = cfs.cgroup_dir_of("web")
    name = hugetlb_max_file(cg)
    # The kernel's default limit (a fresh one prints as a number, rounded to
    # the huge page size), read through.
    assert read_text(cfs.path("web", name)) == read_text(os.path.join(cg, name))


def test_freezing_members_busy_in_containerfs_never_wedges_the_daemon(cfs, procs):
    """Members that read the container's own files in a loop are, at the
    moment of the freeze, often inside a containerfs request: the freeze
    still completes (or fails with a clear errno) in bounded time, and the
    daemon keeps serving everyone else."""
    cfs.mkdir("web")
    tasks = cfs.path("web", "tasks")
    loop = procs.popen(["sh", "-c", f"while :; do cat {tasks} {cfs.path('web', 'events')} "
                        ">/dev/null; done"])
    cfs.enter("web", loop.pid)
    for _ in range(5):
        start = time.monotonic()
        r = run(["sh", "-c", f"echo 1 > {cfs.path('web', 'freeze')}"], check=False, timeout=15)
        assert time.monotonic() - start < 10
        assert r.returncode == 0 or "busy" in r.stderr.lower(), r.stderr
        # Everyone else is served meanwhile.
        assert "web" in os.listdir(cfs.mnt)
        cfs.mkdir("other")
        run(["rmdir", cfs.path("other")])
        run(["sh", "-c", f"echo 0 > {cfs.path('web', 'freeze')}"], timeout=15)
        assert "frozen 0" in open(cfs.path("web", "events")).read()
    assert loop.poll() is None
