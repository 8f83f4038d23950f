"""rmdir tears a container down completely; nothing leaks."""
import errno
import os
import re
import threading
import time

import helpers
from helpers import DEFAULT_FRESH, errno_of, run, wait_until


def test_rmdir_removes_init_cgroup_and_namespaces(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    cg = cfs.cgroup_dir_of("web")
    inos = {helpers.proc_ns_ino(init, n) for n in DEFAULT_FRESH}
    run(["rmdir", cfs.path("web")])
    # Synchronous: the cgroup is gone when rmdir returns.
    assert not os.path.exists(cg)
    assert helpers.child_cgroups(cfs.cgroup) == []
    assert not os.path.exists(cfs.path("web"))
    assert "web" not in os.listdir(cfs.mnt)
    # The init is dead and reaped by the daemon (no zombie left).
    wait_until(lambda: helpers.gone(init), 5, what=f"init {init} to be reaped")
    # Its namespaces are released: no process of ours holds them.
    held = held_by_ours(cfs, inos)
    assert not held, held


def test_rmdir_kills_members(cfs, procs):
    cfs.mkdir("web")
    cg = cfs.cgroup_dir_of("web")
    sleeper = procs.sleep(1000)
    helpers.move_to_cgroup(sleeper.pid, cfs.members_cgroup("web"))
    assert sleeper.pid in helpers.all_cgroup_procs(cg)
    run(["rmdir", cfs.path("web")])
    assert sleeper.wait(timeout=5) == -9, "member not killed with SIGKILL"
    assert not os.path.exists(cg)


def test_rmdir_removes_sub_cgroups_made_inside(cfs, procs):
    # Software in a container (systemd, a nested runtime) makes cgroups below
    # the container's own; rmdir kills their processes (cgroup.kill is
    # recursive) and leaves no cgroup behind.
    cfs.mkdir("web")
    cg = cfs.cgroup_dir_of("web")
    sub = os.path.join(cfs.members_cgroup("web"), "sub")
    os.mkdir(sub)
    sleeper = procs.sleep(1000)
    helpers.move_to_cgroup(sleeper.pid, sub)
    p = run(["rmdir", cfs.path("web")], check=False)
    assert sleeper.wait(timeout=10) == -9
    assert p.returncode == 0, p.stderr
    assert helpers.cgroup_dirs(cfs.cgroup) == []
    assert not os.path.exists(cg)
    assert not os.path.exists(cfs.path("web"))


def test_rmdir_with_child_is_enotempty(cfs):
    cfs.mkdir("web", "web/db")
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    inits = (cfs.init_pid("web"), cfs.init_pid("web/db"))
    assert errno_of(os.rmdir, cfs.path("web")) == errno.ENOTEMPTY
    p = run(["rmdir", cfs.path("web")], check=False)
    assert p.returncode != 0 and "Directory not empty" in p.stderr
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
    assert all(helpers.alive(pid) for pid in inits)
    # Bottom-up works.
    run(["rmdir", cfs.path("web", "db")])
    run(["rmdir", cfs.path("web")])
    assert helpers.cgroup_dirs(cfs.cgroup) == []


def test_rmdir_nested_releases_everything(cfs):
    run(["mkdir", "-p", cfs.path("a", "b", "c")])
    inits = [cfs.init_pid(p) for p in ["a", "a/b", "a/b/c"]]
    run(["rmdir", cfs.path("a/b/c"), cfs.path("a/b"), cfs.path("a")])
    assert helpers.cgroup_dirs(cfs.cgroup) == []
    for pid in inits:
        wait_until(lambda: helpers.gone(pid), 5, what=f"init {pid} reaped")


def our_processes(cfs):
    """Processes that belong to this containerfs and come and go with
    containers: the daemon's descendants and every process in its cgroup
    tree, less its one injector process (compared separately)."""
    daemon = cfs.daemon.pid
    ours = set(helpers.descendants(daemon)) | set(helpers.all_cgroup_procs(cfs.cgroup))
    return sorted(ours - set(helpers.injector_processes(daemon)))


def related(cfs, pid):
    """True if pid is ours: in the test's cgroup tree, or a descendant of the
    daemon or of the test (orphans come to the test, a subreaper)."""
    try:
        if helpers.cgroup_of(pid).startswith(helpers.cgroup_rel(cfs.cgroup)):
            return True
    except OSError:
        return False
    return pid in helpers.descendants(cfs.daemon.pid) or pid in helpers.descendants(os.getpid())


def held_by_ours(cfs, inodes):
    """{inode: [(pid, ns, cmdline)]} of the given namespaces that processes
    of ours (related) still hold, system-wide. Only ours: nsfs inode
    numbers are reused at once, so other processes on the machine may hold
    the same numbers for their own new namespaces."""
    held = helpers.all_ns_inodes()
    out = {}
    for i in inodes:
        ours = [(pid, n, helpers.cmdline(pid)) for pid, n in held.get(i, []) if related(cfs, pid)]
        if ours:
            out[i] = ours
    return out


def ns_held_by(pids):
    """Distinct nsfs inodes under /proc/P/ns/* for the given pids."""
    out = set()
    for pid in pids:
        for n in helpers.NS_PROC_NAME.values():
            try:
                out.add(os.stat(f"/proc/{pid}/ns/{n}").st_ino)
            except OSError:
                pass
    return out


def ns_fds(pid):
    """Namespaces the process holds open as fds."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"[a-z_]+:\[(\d+)\]", target)
        if m:
            out.add(int(m.group(1)))
    return out


def nsfs_mounts():
    with open("/proc/self/mountinfo") as f:
        return {line for line in f if " - nsfs " in line}


def test_100_cycles_leak_nothing(cfs):
    # Warm up once (lazy allocations are not leaks).
    run(["mkdir", cfs.path("warm")])
    run(["rmdir", cfs.path("warm")])
    wait_until(lambda: our_processes(cfs) == [], 5, what="warm-up init to go")

    procs_before = our_processes(cfs)
    helper_before = helpers.injector_processes(cfs.daemon.pid)
    assert len(helper_before) == 1, f"injector processes: {helper_before}"
    cg_before = helpers.cgroup_dirs(cfs.cgroup)
    fds_before = run(["sh", "-c", f"ls /proc/{cfs.daemon.pid}/fd | wc -l"]).stdout.strip()
    ns_fds_before = ns_fds(cfs.daemon.pid)
    held_before = ns_held_by([cfs.daemon.pid] + procs_before)
    nsfs_mounts_before = nsfs_mounts()

    # 100 cycles; each records the namespace inodes the container had.
    script = r"""
m="$1"
for i in $(seq 1 100); do
  mkdir "$m/c$i" || exit 1
  for n in network uts ipc pid mount cgroup; do stat -L -c %i "$m/c$i/$n"; done
  rmdir "$m/c$i" || exit 1
done
"""
    p = run(["sh", "-c", script, "sh", cfs.mnt], timeout=120)
    seen = {int(x) for x in p.stdout.split()}
    assert len(seen) >= 6, "the loop did not see the containers' namespaces"

    # Inits exit and are reaped asynchronously: bounded wait for the count.
    wait_until(lambda: our_processes(cfs) == procs_before, 10,
               what=f"processes back to {procs_before} (now {our_processes(cfs)})")
    assert helpers.cgroup_dirs(cfs.cgroup) == cg_before
    assert helpers.injector_processes(cfs.daemon.pid) == helper_before
    assert run(["sh", "-c", f"ls /proc/{cfs.daemon.pid}/fd | wc -l"]).stdout.strip() == fds_before
    assert ns_fds(cfs.daemon.pid) == ns_fds_before
    assert not helpers.zombie_children(cfs.daemon.pid), "zombie children of the daemon"

    # Distinct namespaces held by our processes: the same as before.
    assert ns_held_by([cfs.daemon.pid] + our_processes(cfs)) == held_before
    # System-wide, no process of ours holds a namespace of any cycle.
    still = held_by_ours(cfs, seen)
    assert not still, still
    # Nor by a bind mount of an nsfs file in the daemon's state directory or
    # our temp dirs (elsewhere, e.g. /run/netns, other programs on the
    # machine make their own with reused numbers).
    new_mounts = nsfs_mounts() - nsfs_mounts_before
    ours = [m for m in new_mounts
            if m.split()[4].startswith((cfs.state, str(cfs.tmp), cfs.cgroup))]
    assert not ours, ours
    assert set(os.listdir(cfs.mnt)) == set(helpers.ALL_NS_FILES) | {"self", "tasks"}


def test_a_read_racing_rmdir_finds_the_container_or_enoent(cfs, procs):
    """Files of a container read while rmdir takes it down (its members
    killed, its cgroups removed) give their content or ENOENT, as for any
    container that is no more -- never the errno of a cgroup file that went
    away under the read (ENODEV). Readers race mkdir/rmdir for 5 s."""
    errors = {}
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            for f in ("tasks", "events", "freeze", "init", "cpu.stat"):
                err = errno_of(helpers.read_text, cfs.path("r", f))
                if err:
                    errors[(f, helpers.errname(err))] = errors.get((f, helpers.errname(err)), 0) + 1

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            cfs.mkdir("r")
            member = procs.sleep()
            cfs.enter("r", member.pid)
            os.rmdir(cfs.path("r"))
            member.wait(timeout=5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert {e for _, e in errors} <= {"ENOENT"}, errors
