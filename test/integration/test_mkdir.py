"""mkdir makes a real container: a cgroup named by an id, an init that is
pid 1 of a fresh pid namespace and holds the container's fresh namespaces,
the container's files, and the record on its cgroup directory."""
import os
import re
import stat

import helpers
from helpers import DEFAULT_FRESH, run


def test_mkdir_makes_cgroup_with_the_init(cfs):
    assert helpers.child_cgroups(cfs.cgroup) == []
    run(["mkdir", cfs.path("web")])
    cgs = helpers.child_cgroups(cfs.cgroup)
    assert len(cgs) == 1
    assert re.fullmatch(r"c\d+", cgs[0]), f"cgroup not named by an id: {cgs[0]}"
    init = cfs.init_pid("web")
    # The kernel puts the init in that cgroup (or a leaf of it), alone.
    assert cfs.cgroup_dir_of("web") == cfs.cg(cgs[0])
    assert helpers.all_cgroup_procs(cfs.cg(cgs[0])) == [init]
    assert init in helpers.cgroup_procs(cfs.init_cgroup("web"))
    assert helpers.alive(init)


def test_init_is_pid_1_of_its_own_pid_namespace(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    levels = helpers.nspid(init)
    assert len(levels) == 2 and levels[0] == init and levels[-1] == 1, levels
    # The daemon's child (it reaps it), or adopted by the daemon.
    assert helpers.ppid(init) == cfs.daemon.pid


def test_init_reaps_orphans_in_its_pid_namespace(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    # A process orphaned inside the container's pid namespace goes to its
    # pid 1, which must reap it when it exits.
    run(["nsenter", f"--pid={cfs.path('web', 'pid')}", "--", "sh", "-c",
         "sleep 1 </dev/null >/dev/null 2>&1 & exit 0"])

    def orphan():
        with open(f"/proc/{init}/task/{init}/children") as f:
            kids = [int(x) for x in f.read().split()]
        return [k for k in kids if "sleep" in helpers.cmdline(k)]
    kids = helpers.wait_until(orphan, 5, what="the orphan to be adopted by the init")
    assert helpers.nspid(kids[0])[-1] != 1
    helpers.wait_until(lambda: helpers.gone(kids[0]), 5,
                       what=f"orphan {kids[0]} to be reaped by the init")
    assert helpers.alive(init)


def test_init_namespaces_fresh_and_inherited(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    me = os.getpid()
    for name in DEFAULT_FRESH:
        assert helpers.proc_ns_ino(init, name) != helpers.proc_ns_ino(me, name), \
            f"{name} is not fresh"
    for name in ["user", "time"]:
        assert helpers.proc_ns_ino(init, name) == helpers.proc_ns_ino(me, name), name
        assert not os.path.lexists(cfs.path("web", name)), \
            f"{name} file present though inherited"
    files = set(run(["ls", "-A", cfs.path("web")]).stdout.split())
    assert set(DEFAULT_FRESH) <= files
    assert {"tasks", "init", "hostname", "freeze", "kill", "events"} <= files


def test_file_modes(cfs):
    cfs.mkdir("web")
    modes = {"tasks": 0o644, "init": 0o444, "events": 0o444, "kill": 0o200,
             "hostname": 0o644, "freeze": 0o644}
    for f, mode in modes.items():
        st = os.lstat(cfs.path("web", f))
        assert stat.S_ISREG(st.st_mode), f
        assert stat.S_IMODE(st.st_mode) == mode, f"{f}: {oct(st.st_mode)}"
    st = os.lstat(cfs.path("web"))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755


def test_hostname_is_the_name(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    assert run(["cat", cfs.path("web", "hostname")]).stdout.strip() == "web"
    assert run(["nsenter", f"--uts={cfs.path('web', 'uts')}", "hostname"]).stdout.strip() == "web"
    # The kernel's truth, through the init itself.
    assert run(["nsenter", "-t", str(init), "--uts", "hostname"]).stdout.strip() == "web"
    # And the host's hostname did not change.
    assert run(["hostname"]).stdout.strip() != "web"


def test_events_file(cfs, procs):
    cfs.mkdir("web")
    # populated: of the members (the init is not one).
    text = run(["cat", cfs.path("web", "events")]).stdout
    assert text.split("\n")[:2] == ["populated 0", "frozen 0"]
    member = procs.sleep(1000)
    helpers.move_to_cgroup(member.pid, cfs.members_cgroup("web"))
    text = run(["cat", cfs.path("web", "events")]).stdout
    assert text.split("\n")[:2] == ["populated 1", "frozen 0"]
    helpers.kill_pid(member.pid)
    member.wait(timeout=5)
    helpers.wait_until(lambda: run(["cat", cfs.path("web", "events")]).stdout.startswith(
        "populated 0\n"), 5, what="populated 0 after the member died")


def test_nested_mkdir(cfs):
    run(["mkdir", "-p", cfs.path("a", "b")])
    a, b = cfs.init_pid("a"), cfs.init_pid("a/b")
    assert a != b
    # pid namespaces nest: b's init has three levels and its namespace's
    # parent is a's.
    levels = helpers.nspid(b)
    assert len(levels) == 3 and levels[0] == b and levels[-1] == 1, levels
    assert helpers.ns_parent_ino(f"/proc/{b}/ns/pid") == helpers.proc_ns_ino(a, "pid")
    assert helpers.alive(b)
    # cgroups nest.
    a_cg, b_cg = cfs.cgroup_dir_of("a"), cfs.cgroup_dir_of("a/b")
    assert os.path.dirname(b_cg) == a_cg
    assert os.path.dirname(a_cg) == cfs.cgroup
    assert helpers.all_cgroup_procs(b_cg) == [b]
    assert helpers.all_cgroup_procs(a_cg) == sorted([a, b])
    # b's mount, net, uts, ipc, cgroup namespaces are fresh, not a's.
    me = os.getpid()
    for name in DEFAULT_FRESH:
        ino = helpers.proc_ns_ino(b, name)
        assert ino != helpers.proc_ns_ino(a, name), f"{name} of b is a's"
        assert ino != helpers.proc_ns_ino(me, name), f"{name} of b is the host's"
        assert helpers.stat_L_ino(cfs.path("a", "b", name)) == ino, name
    assert helpers.proc_ns_ino(b, "user") == helpers.proc_ns_ino(me, "user")
    assert run(["cat", cfs.path("a", "b", "hostname")]).stdout.strip() == "b"
    # The daemon's child, or adopted by a's init (a subreaper in its pid ns).
    assert helpers.ppid(b) in (cfs.daemon.pid, a)


def test_listing_shows_containers(cfs):
    cfs.mkdir("web", "db", "web/x")
    root = set(run(["ls", cfs.mnt]).stdout.split())
    assert {"web", "db"} <= root
    assert "x" not in root
    assert "x" in run(["ls", cfs.path("web")]).stdout.split()
    assert len(helpers.child_cgroups(cfs.cgroup)) == 2
    assert len(helpers.container_cgroups(cfs.cgroup)) == 3
    # Distinct inits and cgroups.
    inits = {cfs.init_pid(c) for c in ["web", "db", "web/x"]}
    assert len(inits) == 3
    assert len({cfs.cgroup_dir_of(c) for c in ["web", "db", "web/x"]}) == 3


def test_the_record_is_an_xattr_on_the_cgroup_directory(cfs):
    """The tree can be rebuilt from the kernel alone: the container's cgroup
    directory carries its record, the xattr trusted.containerfs (README,
    "Design decisions"), with its name, its init (pid and start time) and
    where each namespace comes from."""
    cfs.mkdir("web")
    cg = cfs.cgroup_dir_of("web")
    init = cfs.init_pid("web")
    record = helpers.read_record(cg)
    assert record[:3] == ["containerfs-record 1", "name web",
                          f"init {init} {helpers.start_time(init)}"], record
    assert sorted(line for line in record if line.startswith("ns ")) == \
        sorted(f"ns {n} own" for n in DEFAULT_FRESH), record
