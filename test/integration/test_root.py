"""The root directory is the host container: its namespaces, its tasks,
and `self`, the caller's own container."""
import os
import stat

import helpers
from helpers import ALL_NS_FILES, run


def test_root_listing(cfs):
    names = set(run(["ls", "-A", cfs.mnt]).stdout.split())
    assert names == set(ALL_NS_FILES) | {"self", "tasks"}
    # No container files at the root: it is the host.
    for f in ["init", "hostname", "kill", "freeze", "events"]:
        assert not os.path.lexists(cfs.path(f)), f


def test_self_is_dot_on_the_host(cfs):
    assert helpers.readlink(cfs.path("self")) == "."
    # Relative lookup from inside the mount, as a shell user would.
    p = run(["sh", "-c", "cd \"$1\" && readlink self && readlink -f self", "sh", cfs.mnt])
    link, resolved = p.stdout.split("\n")[:2]
    assert link == "."
    assert resolved == cfs.mnt


def test_self_names_the_callers_container(cfs):
    cfs.mkdir("web", "web/db")
    # A shell that moves itself into the containers' cgroups (as the tasks
    # file will) and asks; the answer is relative to the root.
    script = ('echo $$ > "$1/cgroup.procs"; readlink "$3/self"; '
              'echo $$ > "$2/cgroup.procs"; readlink "$3/self"')
    web_cg = cfs.members_cgroup("web")
    db_cg = cfs.members_cgroup("web/db")
    p = run(["sh", "-c", script, "sh", web_cg, db_cg, cfs.mnt])
    assert p.stdout.split() == ["web", "web/db"]


def test_root_tasks_lists_host_processes(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    p = run(["cat", cfs.path("tasks")])
    pids = [int(x) for x in p.stdout.split()]
    assert os.getpid() in pids
    assert 1 in pids
    assert init not in pids, "a container's init is listed as a host process"
    assert len(pids) == len(set(pids)), "duplicates"
    # None of them is in a container's cgroup (kernel's view).
    rel = helpers.cgroup_rel(cfs.cgroup)
    for pid in pids:
        try:
            where = helpers.cgroup_of(pid)
        except OSError:
            continue  # exited since
        assert not where.startswith(rel + "/"), f"{pid} is in {where}"
    assert stat.S_IMODE(os.stat(cfs.path("tasks")).st_mode) == 0o644


def test_root_namespace_links_are_the_daemons(cfs):
    for name in ALL_NS_FILES:
        path = cfs.path(name)
        assert os.path.islink(path), name
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o777
        target = helpers.readlink(path)
        assert target, name
        expected = helpers.proc_ns_ino(cfs.daemon.pid, name)
        assert helpers.stat_L_ino(path) == expected, name
        # The host's: the same as the test's own namespaces.
        assert expected == helpers.proc_ns_ino(os.getpid(), name), name
