"""The tree outlives its daemon (the spec's Mounting section): a SIGKILLed
daemon started again rebuilds the same tree from the kernel and the
records; unmounting destroys nothing."""
import os

import helpers
from helpers import DEFAULT_FRESH, mounted_fuse, run


def tree_facts(cfs, names):
    """What must survive: per container its init, cgroup dir and ns inodes."""
    facts = {}
    for n in names:
        init = cfs.init_pid(n)
        facts[n] = {
            "init": init,
            "cgroup": cfs.cgroup_dir_of(n),
            "ns": {k: helpers.stat_L_ino(cfs.path(n, k)) for k in DEFAULT_FRESH},
            "kernel_ns": helpers.proc_ns_inos(init, DEFAULT_FRESH),
            "hostname": run(["cat", cfs.path(n, "hostname")]).stdout.strip(),
        }
    return facts


def listing(cfs, d=""):
    return sorted(os.listdir(cfs.path(d)))


def test_sigkill_and_restart_rebuilds_the_same_tree(cfs, procs):
    run(["mkdir", "-p", cfs.path("web", "db"), cfs.path("mail")])
    run(["mv", cfs.path("mail"), cfs.path("post")])  # the new name must stick
    names = ["web", "web/db", "post"]
    before = tree_facts(cfs, names)
    listings = {d: listing(cfs, d) for d in ["", "web", "web/db", "post"]}
    cg_before = helpers.cgroup_dirs(cfs.cgroup)
    member = procs.sleep(1000)
    members_cg = cfs.members_cgroup("web")
    helpers.move_to_cgroup(member.pid, members_cg)
    old_pid = cfs.daemon.pid

    cfs.restart()
    assert cfs.daemon.pid != old_pid

    assert {d: listing(cfs, d) for d in ["", "web", "web/db", "post"]} == listings
    after = tree_facts(cfs, names)
    assert after == before
    assert helpers.cgroup_dirs(cfs.cgroup) == cg_before
    # Nothing was killed.
    for n in names:
        assert helpers.alive(before[n]["init"]), n
    assert member.poll() is None and helpers.alive(member.pid)
    assert member.pid in helpers.cgroup_procs(members_cg)
    # The kernel's truth through the rebuilt links.
    p = run(["nsenter", f"--net={cfs.path('web', 'network')}", "ip", "-o", "link"])
    assert [line.split(":")[1].strip() for line in p.stdout.splitlines()] == ["lo"]
    # The rebuilt daemon manages them: a new container gets a new cgroup,
    # old ones can be removed.
    cfs.mkdir("new")
    new_cg = cfs.cgroup_dir_of("new")
    assert new_cg not in [f["cgroup"] for f in before.values()]
    assert helpers.ppid(cfs.init_pid("new")) == cfs.daemon.pid
    run(["rmdir", cfs.path("web", "db")])
    assert not os.path.exists(before["web/db"]["cgroup"])
    helpers.wait_dead(before["web/db"]["init"])
    assert helpers.alive(before["web"]["init"])


def test_restart_keeps_names_with_odd_bytes(cfs):
    # Names may hold any byte but "/" and control characters: spaces,
    # backslashes, text that looks like the daemon's own record syntax.
    names = ["a b", "back\\slash", "x\\n", "ns network own", "link a b", "\u00e9t\u00e9"]
    for n in names:
        os.mkdir(cfs.path(n))
    inits = {n: cfs.init_pid(n) for n in names}
    cfs.restart()
    assert sorted(n for n in os.listdir(cfs.mnt) if n in inits or n not in
                  set(helpers.ALL_NS_FILES) | {"self", "tasks"}) == sorted(names)
    assert {n: cfs.init_pid(n) for n in names} == inits


def test_restart_twice_and_empty_tree(cfs):
    cfs.restart()
    assert set(os.listdir(cfs.mnt)) == set(helpers.ALL_NS_FILES) | {"self", "tasks"}
    cfs.mkdir("a")
    init = cfs.init_pid("a")
    cfs.restart()
    cfs.restart()
    assert cfs.init_pid("a") == init
    assert helpers.child_cgroups(cfs.cgroup) == [os.path.basename(cfs.cgroup_dir_of("a"))]


def test_unmount_keeps_containers_and_remount_shows_them(cfs):
    run(["mkdir", "-p", cfs.path("web", "db")])
    names = ["web", "web/db"]
    before = tree_facts(cfs, names)
    assert cfs.unmount() == 0
    assert not mounted_fuse(cfs.mnt)
    # Alive, in their cgroups, with their namespaces.
    for n in names:
        init = before[n]["init"]
        assert helpers.alive(init), n
        assert init in helpers.all_cgroup_procs(before[n]["cgroup"])
        assert helpers.proc_ns_inos(init, DEFAULT_FRESH) == before[n]["kernel_ns"]
    cfs.start()
    assert tree_facts(cfs, names) == before
    assert "web" in os.listdir(cfs.mnt)


def test_container_mount_namespace_does_not_hold_the_mount(cfs):
    # The init's fresh mount namespace must not keep a copy of the
    # containerfs mount (that would keep the daemon's mount alive after the
    # host unmounts it).
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    with open(f"/proc/{init}/mountinfo") as f:
        mounts = f.read()
    assert "fuse.containerfs" not in mounts
