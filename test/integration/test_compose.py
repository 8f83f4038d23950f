"""A container's namespaces are edited with ln, rm, touch and mv.

Share (`ln -s ../db/network web/network`), replace (`ln -sf`, GNU ln's
temporary name renamed over), inherit (`rm`), fresh (`touch`), adopt
(`ln -s /run/netns/X`), and every refusal with its errno and nothing changed
(ls, readlink and the nsfs inode of every namespace file, the inits, the
cgroups). Checks read the kernel: /proc/PID/ns/*, NS_GET_USERNS/PARENT.
"""
import errno
import os
import secrets
import subprocess
import textwrap

import pytest

import helpers
from helpers import (ALL_NS_FILES, AS_USER, AS_USER_DAC, PY, errname, errno_of, ip_netns_add,
                     ns_ino, proc_ns_ino, read_text, run, wait_dead, wait_until, write_errno)


def init_ns(cfs, c, name):
    return proc_ns_ino(cfs.init_pid(c), name)


def ns_files(cfs, c):
    """{ns file: (readlink, nsfs inode)} of the namespace files present."""
    out = {}
    for n in ALL_NS_FILES:
        p = cfs.path(c, n)
        if os.path.lexists(p):
            out[n] = (os.readlink(p), ns_ino(p))
    return out


def state(cfs, containers, cgroups=True):
    """What a refused change must leave as it was."""
    out = {}
    for c in containers:
        init = cfs.init_pid(c)
        out[c] = {"ls": sorted(os.listdir(cfs.path(c))), "files": ns_files(cfs, c),
                  "init": init,
                  "init_ns": helpers.proc_ns_inos(init)}
    if cgroups:
        out["cgroups"] = helpers.snapshot(cfs.mnt, cfs.cgroup)[1]
    return out


def refused(cfs, containers, fn, *args):
    """Runs fn; returns its errno; asserts nothing changed."""
    # Pinned: a namespace replaced meanwhile cannot come back with the old
    # inode number.
    pins = [os.open(cfs.path(c, n), os.O_RDONLY) for c in containers for n in ALL_NS_FILES
            if os.path.lexists(cfs.path(c, n))]
    try:
        before = state(cfs, containers)
        err = errno_of(fn, *args)
        after = state(cfs, containers)
    finally:
        for fd in pins:
            os.close(fd)
    assert after == before, f"{fn.__name__}{args} changed the tree ({errname(err)})"
    for c in containers:
        assert helpers.alive(cfs.init_pid(c))
    return err


def holds_exactly_its_namespaces(cfs, c):
    """The init is in exactly the namespaces the container's files open, and
    in the parent's (for the rest)."""
    init = cfs.init_pid(c)
    parent = os.path.dirname(c)
    for n in ALL_NS_FILES:
        got = proc_ns_ino(init, n)
        p = cfs.path(c, n)
        if os.path.lexists(p):
            assert got == ns_ino(p), f"{c}'s init is not in its {n} file's namespace"
        elif parent:
            assert got == init_ns(cfs, parent, n), f"{c}'s init has not {parent}'s {n}"
        else:
            assert got == proc_ns_ino(cfs.daemon.pid, n), \
                f"{c}'s init has not the host's {n}"


# ------------------------------------------------------------------ share

def test_share_relative(cfs):
    cfs.mkdir("web", "db")
    old_init = cfs.init_pid("web")
    # Hold the old namespaces open: their inode numbers cannot be reused by
    # new ones, so equal means kept and different means new.
    pins = [os.open(cfs.path("web", n), os.O_RDONLY) for n in ["uts", "ipc", "mount", "cgroup",
                                                                "pid"]]
    try:
        kept = {n: ns_ino(cfs.path("web", n)) for n in ["uts", "ipc", "mount", "cgroup"]}
        old_pid = ns_ino(cfs.path("web", "pid"))
        db_before = state(cfs, ["db"], cgroups=False)
        run(["rm", cfs.path("web", "network")])
        run(["ln", "-s", "../db/network", cfs.path("web", "network")])
        assert helpers.readlink(cfs.path("web", "network")) == "../db/network"
        assert helpers.stat_L_ino(cfs.path("web", "network")) == ns_ino(cfs.path("db", "network"))
        # A new init holds exactly web's namespaces; the old one is gone.
        new_init = cfs.init_pid("web")
        assert new_init != old_init
        wait_dead(old_init)
        holds_exactly_its_namespaces(cfs, "web")
        assert init_ns(cfs, "web", "network") == init_ns(cfs, "db", "network")
        # Own namespaces kept (pid cannot be: a new init needs a new one).
        assert {n: ns_ino(cfs.path("web", n)) for n in kept} == kept
        assert ns_ino(cfs.path("web", "pid")) != old_pid
        assert helpers.nspid(new_init)[-1] == 1
        assert read_text(cfs.path("web", "hostname")).strip() == "web"
        assert state(cfs, ["db"], cgroups=False) == db_before
        # The kernel's truth, through the file: an interface made in db's
        # namespace is seen through web's file.
        run(["nsenter", f"--net={cfs.path('db', 'network')}", "ip", "link", "add", "cfsdum0",
             "type", "bridge"])
        out = run(["nsenter", f"--net={cfs.path('web', 'network')}", "ip", "-o", "link"]).stdout
        assert "cfsdum0" in out
        assert "cfsdum0" not in run(["ip", "-o", "link"]).stdout
    finally:
        for fd in pins:
            os.close(fd)


def test_share_absolute_into_the_directory(cfs):
    cfs.mkdir("web", "db")
    run(["rm", cfs.path("web", "network")])
    # `ln -s TARGET DIR/` makes DIR/network.
    run(["ln", "-s", cfs.path("db", "network"), cfs.path("web") + "/"])
    assert helpers.readlink(cfs.path("web", "network")) == cfs.path("db", "network")
    assert helpers.stat_L_ino(cfs.path("web", "network")) == ns_ino(cfs.path("db", "network"))
    holds_exactly_its_namespaces(cfs, "web")
    assert init_ns(cfs, "web", "network") == init_ns(cfs, "db", "network")


def test_ln_sf_replaces_through_a_temporary_name(cfs):
    cfs.mkdir("web", "db")
    old_init = cfs.init_pid("web")
    # Watch GNU ln do it: symlink a temporary name, rename it over.
    r = run(["strace", "-f", "-qq", "-e", "trace=symlink,symlinkat,rename,renameat,renameat2",
             "-o", "/dev/stderr", "ln", "-sf", "../db/uts", cfs.path("web", "uts")])
    assert "rename" in r.stderr and "EEXIST" in r.stderr, r.stderr
    assert helpers.readlink(cfs.path("web", "uts")) == "../db/uts"
    assert helpers.stat_L_ino(cfs.path("web", "uts")) == ns_ino(cfs.path("db", "uts"))
    names = os.listdir(cfs.path("web"))
    assert not [n for n in names if n.startswith("Cu")], names
    # Shared uts: the hostname is db's, and web has no hostname file of its own.
    assert "hostname" not in names
    assert cfs.init_pid("web") != old_init
    holds_exactly_its_namespaces(cfs, "web")
    assert run(["nsenter", f"--uts={cfs.path('web', 'uts')}", "hostname"]).stdout.strip() == "db"
    # And again, over a shared one.
    cfs.mkdir("cache")
    run(["ln", "-sf", "../cache/uts", cfs.path("web", "uts")])
    assert helpers.readlink(cfs.path("web", "uts")) == "../cache/uts"
    assert init_ns(cfs, "web", "uts") == init_ns(cfs, "cache", "uts")
    holds_exactly_its_namespaces(cfs, "web")


def test_a_temporary_link_never_renamed_breaks_nothing(cfs, procs):
    cfs.mkdir("web", "db")
    before = state(cfs, ["web", "db"])
    os.symlink("../db/uts", cfs.path("web", "CuAbCdEf"))
    assert os.readlink(cfs.path("web", "CuAbCdEf")) == "../db/uts"
    after = state(cfs, ["web", "db"])
    after["web"]["ls"].remove("CuAbCdEf")
    assert after == before
    # The container keeps working around it.
    s = procs.sleep()
    cfs.enter("web", s.pid)
    assert proc_ns_ino(s.pid, "uts") == ns_ino(cfs.path("web", "uts"))
    helpers.kill_pid(s.pid)
    s.wait(timeout=5)
    wait_until(lambda: cfs.task_pids("web") == [], 5, what="tasks empty")
    os.unlink(cfs.path("web", "CuAbCdEf"))
    assert "CuAbCdEf" not in os.listdir(cfs.path("web"))
    os.symlink("../db/uts", cfs.path("web", "CuXyZ123"))
    run(["rmdir", cfs.path("web")])
    assert not os.path.exists(cfs.path("web"))
    run(["rmdir", cfs.path("db")])


# ------------------------------------------------------------------ inherit

def test_rm_inherits_the_hosts(cfs):
    cfs.mkdir("web")
    old_init = cfs.init_pid("web")
    run(["rm", cfs.path("web", "network")])
    assert "network" not in run(["ls", cfs.path("web")]).stdout.split()
    assert not os.path.lexists(cfs.path("web", "network"))
    assert run(["readlink", cfs.path("web", "network")], check=False).returncode != 0
    wait_dead(old_init)
    holds_exactly_its_namespaces(cfs, "web")
    assert init_ns(cfs, "web", "network") == proc_ns_ino(cfs.daemon.pid, "network")
    # Own uts kept.
    assert read_text(cfs.path("web", "hostname")).strip() == "web"


def test_rm_inherits_the_parents(cfs):
    cfs.mkdir("a", "a/b")
    b_uts = ns_ino(cfs.path("a", "b", "uts"))
    run(["rm", cfs.path("a", "b", "network")])
    holds_exactly_its_namespaces(cfs, "a/b")
    assert init_ns(cfs, "a/b", "network") == init_ns(cfs, "a", "network")
    assert init_ns(cfs, "a/b", "network") != proc_ns_ino(cfs.daemon.pid, "network")
    assert ns_ino(cfs.path("a", "b", "uts")) == b_uts
    # The pid namespace still nests under a's.
    assert helpers.ns_parent_ino(cfs.path("a", "b", "pid")) == ns_ino(cfs.path("a", "pid"))
    # A member of b sees a's network.
    out = run(["nsenter", f"--net={cfs.path('a', 'network')}", "ip", "link", "add", "cfsdum1",
               "type", "bridge"])
    assert out.returncode == 0
    assert "cfsdum1" in run(["nsenter", "-t", str(cfs.init_pid("a/b")), "--net", "ip", "-o",
                             "link"]).stdout


# ------------------------------------------------------------------ fresh

def test_touch_user_makes_a_fresh_user_namespace_owning_the_rest(cfs):
    cfs.mkdir("web")
    assert not os.path.lexists(cfs.path("web", "user"))
    assert not os.path.exists(cfs.path("web", "uid_map"))
    run(["touch", cfs.path("web", "user")])
    names = run(["ls", cfs.path("web")]).stdout.split()
    assert {"user", "uid_map", "gid_map"} <= set(names)
    user = helpers.stat_L_ino(cfs.path("web", "user"))
    assert user != os.stat("/proc/self/ns/user").st_ino
    holds_exactly_its_namespaces(cfs, "web")
    # Its parent is the host's user namespace; it owns web's other fresh
    # namespaces (the kernel's NS_GET_USERNS).
    assert helpers.ns_parent_ino(cfs.path("web", "user")) == os.stat("/proc/self/ns/user").st_ino
    for n in helpers.DEFAULT_FRESH:
        assert helpers.ns_owner_ino(cfs.path("web", n)) == user, \
            f"{n} not owned by web's user namespace"
    assert read_text(cfs.path("web", "hostname")).strip() == "web"


def test_uid_map_written_once_as_in_proc(cfs, procs):
    cfs.mkdir("web")
    run(["touch", cfs.path("web", "user")])
    assert read_text(cfs.path("web", "uid_map")) == ""
    run(["sh", "-c", 'echo "0 100000 65536" > "$1"', "sh", cfs.path("web", "uid_map")])
    run(["sh", "-c", 'echo "0 200000 1000" > "$1"', "sh", cfs.path("web", "gid_map")])
    assert read_text(cfs.path("web", "uid_map")).split() == ["0", "100000", "65536"]
    assert read_text(cfs.path("web", "gid_map")).split() == ["0", "200000", "1000"]
    # The kernel's maps (through the init).
    init = cfs.init_pid("web")
    assert read_text(f"/proc/{init}/uid_map").split() == ["0", "100000", "65536"]
    assert read_text(f"/proc/{init}/gid_map").split() == ["0", "200000", "1000"]
    # Written once: as /proc/PID/uid_map, a second write is EPERM.
    assert write_errno(cfs.path("web", "uid_map"), "0 300000 10\n") == errno.EPERM
    assert read_text(cfs.path("web", "uid_map")).split() == ["0", "100000", "65536"]
    # A member sees the map.
    s = procs.sleep()
    cfs.enter("web", s.pid)
    assert read_text(f"/proc/{s.pid}/uid_map").split() == ["0", "100000", "65536"]
    assert proc_ns_ino(s.pid, "user") == ns_ino(cfs.path("web", "user"))


def test_no_map_before_the_first_member_gives_the_identity_map(cfs, procs):
    cfs.mkdir("web")
    run(["touch", cfs.path("web", "user")])
    s = procs.sleep()
    cfs.enter("web", s.pid)
    for m in ("uid_map", "gid_map"):
        assert read_text(cfs.path("web", m)).split() == ["0", "0", "4294967295"], m
        assert read_text(f"/proc/{s.pid}/{m}").split() == ["0", "0", "4294967295"], m
    # Usable: the member is root inside and in web's namespaces.
    assert helpers.proc_status(s.pid)["Uid"].split()[0] == "0"
    assert proc_ns_ino(s.pid, "user") == ns_ino(cfs.path("web", "user"))
    assert proc_ns_ino(s.pid, "network") == ns_ino(cfs.path("web", "network"))
    r = run(["sh", "-c", 'echo $$ > "$1"; exec hostname', "sh", cfs.path("web", "tasks")])
    assert r.stdout.strip() == "web"


# ------------------------------------------------------------------ adopt

def test_adopt_an_ip_netns(cfs, procs):
    cfs.mkdir("web")
    name, path = ip_netns_add(procs)
    run(["ip", "netns", "exec", name, "ip", "link", "add", "cfsdum2", "type", "bridge"])
    run(["rm", cfs.path("web", "network")])
    run(["ln", "-s", path, cfs.path("web", "network")])
    # Named through the init that holds it: the path adopted from may come
    # to name another namespace later.
    assert helpers.readlink(cfs.path("web", "network")) == f"/proc/{cfs.init_pid('web')}/ns/net"
    assert helpers.stat_L_ino(cfs.path("web", "network")) == ns_ino(path)
    holds_exactly_its_namespaces(cfs, "web")
    out = run(["nsenter", "-t", str(cfs.init_pid("web")), "--net", "ip", "-o", "link"]).stdout
    assert "cfsdum2" in out


def test_adopt_a_proc_namespace_file(cfs, procs):
    cfs.mkdir("web")
    other = procs.popen(["unshare", "--uts", "sh", "-c", "hostname elsewhere && exec sleep 100"])
    wait_until(lambda: helpers.cmdline(other.pid).startswith("sleep"), 5, what="unshare")
    target = f"/proc/{other.pid}/ns/uts"
    run(["rm", cfs.path("web", "uts")])
    run(["ln", "-s", target, cfs.path("web", "uts")])
    # Adopted through /proc/PID: the link opens it through the init that
    # holds it now (PID may go away; the namespace stays).
    assert helpers.readlink(cfs.path("web", "uts")) == f"/proc/{cfs.init_pid('web')}/ns/uts"
    assert init_ns(cfs, "web", "uts") == ns_ino(target)
    assert helpers.stat_L_ino(cfs.path("web", "uts")) == ns_ino(target)
    assert run(["nsenter", f"--uts={cfs.path('web', 'uts')}", "hostname"]).stdout.strip() == \
        "elsewhere"


def test_adopt_refusals(cfs, procs):
    cfs.mkdir("web")
    name, path = ip_netns_add(procs)
    run(["rm", cfs.path("web", "uts")])
    cases = [
        (path, "uts", errno.EINVAL),                       # a network namespace as uts
        (f"/proc/{os.getpid()}/ns/net", "uts", errno.EINVAL),
        ("/etc/passwd", "uts", errno.EINVAL),              # not a namespace
        ("/tmp", "uts", errno.EINVAL),
        (cfs.path("web", "tasks"), "uts", errno.EINVAL),
        (f"/run/netns/nothere-{secrets.token_hex(3)}", "uts", errno.ENOENT),  # dangling
        ("/nonexistent/dir/x", "uts", errno.ENOENT),
    ]
    for target, f, want in cases:
        err = refused(cfs, ["web"], os.symlink, target, cfs.path("web", f))
        assert err == want, f"ln -s {target} web/{f}: {errname(err)}"
    # And the message ln prints.
    r = run(["ln", "-s", "/etc/passwd", cfs.path("web", "uts")], check=False)
    assert "Invalid argument" in r.stderr
    r = run(["ln", "-s", "/run/netns/nothere", cfs.path("web", "uts")], check=False)
    assert "No such file or directory" in r.stderr


def test_adopt_by_non_root_is_refused(cfs_factory, procs):
    cfs = cfs_factory(["allow_other"])
    cfs.start()
    cfs.mkdir("web")
    name, path = ip_netns_add(procs)
    run(["rm", cfs.path("web", "network")])
    before = state(cfs, ["web"])
    # A plain user cannot write in root's directory (the kernel says EACCES);
    # one who can get past that (CAP_DAC_OVERRIDE) is refused by the daemon:
    # only root adopts.
    r = run([*AS_USER, "ln", "-s", path, cfs.path("web", "network")], check=False)
    assert "Permission denied" in r.stderr, r.stderr
    r = run([*AS_USER_DAC, "ln", "-s", path, cfs.path("web", "network")], check=False)
    assert "Operation not permitted" in r.stderr, r.stderr
    assert state(cfs, ["web"]) == before
    assert "only root may adopt" in cfs.log()


# ------------------------------------------------------------------ refusals

def test_unlink_with_members_is_ebusy(cfs, procs):
    cfs.mkdir("web")
    s = procs.sleep()
    cfs.enter("web", s.pid)
    err = refused(cfs, ["web"], os.unlink, cfs.path("web", "network"))
    assert err == errno.EBUSY, errname(err)
    r = run(["rm", cfs.path("web", "network")], check=False)
    assert "Device or resource busy" in r.stderr


@pytest.mark.parametrize("holder", ["member", "child"])
def test_every_change_is_ebusy_with_members_or_children(cfs, procs, holder):
    cfs.mkdir("web", "db")
    run(["rm", cfs.path("web", "ipc")])  # a free name to link or touch
    if holder == "member":
        s = procs.sleep()
        cfs.enter("web", s.pid)
        watched = ["web", "db"]
    else:
        cfs.mkdir("web/child")
        watched = ["web", "db", "web/child"]
    ops = {
        "rm": (os.unlink, cfs.path("web", "network")),
        "ln -s share": (os.symlink, "../db/ipc", cfs.path("web", "ipc")),
        "touch": (lambda p: open(p, "w").close(), cfs.path("web", "ipc")),
        "touch user": (lambda p: open(p, "w").close(), cfs.path("web", "user")),
    }
    for what, (fn, *args) in ops.items():
        err = refused(cfs, watched, fn, *args)
        assert err == errno.EBUSY, f"{what} with a {holder}: {errname(err)}"
    # ln -sf: the rename over is refused; nothing stays behind.
    before = state(cfs, watched)
    r = run(["ln", "-sf", "../db/uts", cfs.path("web", "uts")], check=False)
    assert r.returncode != 0 and "Device or resource busy" in r.stderr, r.stderr
    after = state(cfs, watched)
    strays = [n for n in after["web"]["ls"] if n.startswith("Cu")]
    for n in strays:  # a stray the rename left: harmless, removable
        os.unlink(cfs.path("web", n))
    assert state(cfs, watched) == before


def test_rmdir_of_a_shared_container_is_ebusy(cfs):
    cfs.mkdir("web", "db")
    run(["rm", cfs.path("web", "network")])
    run(["ln", "-s", "../db/network", cfs.path("web", "network")])
    err = refused(cfs, ["web", "db"], os.rmdir, cfs.path("db"))
    assert err == errno.EBUSY, errname(err)
    r = run(["rmdir", cfs.path("db")], check=False)
    assert "Device or resource busy" in r.stderr
    # Nor may db give its namespace up under web.
    err = refused(cfs, ["web", "db"], os.unlink, cfs.path("db", "network"))
    assert err == errno.EBUSY, errname(err)
    assert "shared by" in cfs.log()
    # Once web lets go, db goes.
    run(["rm", cfs.path("web", "network")])
    db_init = cfs.init_pid("db")
    run(["rmdir", cfs.path("db")])
    wait_dead(db_init)


def test_cycles_are_eloop(cfs):
    cfs.mkdir("a", "b", "c")
    run(["rm", cfs.path("b", "network")])
    run(["ln", "-s", "../c/network", cfs.path("b", "network")])
    run(["rm", cfs.path("a", "network")])
    run(["ln", "-s", "../b/network", cfs.path("a", "network")])
    # a -> b -> c: a is in c's network namespace.
    assert init_ns(cfs, "a", "network") == init_ns(cfs, "c", "network")
    # c -> a would close the ring (through ln -sf's rename, and directly
    # after c's own one were gone, which sharing forbids).
    err = refused(cfs, ["a", "b", "c"], lambda: run_ln_sf("../a/network", cfs.path("c", "network")))
    assert err == errno.ELOOP, errname(err)
    # Itself.
    err = refused(cfs, ["a", "b", "c"], lambda: run_ln_sf("../c/network", cfs.path("c", "network")))
    assert err == errno.ELOOP, errname(err)
    err = refused(cfs, ["a", "b", "c"], lambda: run_ln_sf("network", cfs.path("b", "network")))
    assert err in (errno.ELOOP, errno.EINVAL), errname(err)
    r = run(["ln", "-sf", "../a/network", cfs.path("c", "network")], check=False)
    assert "Too many levels of symbolic links" in r.stderr, r.stderr
    assert not [n for n in os.listdir(cfs.path("c")) if n.startswith("Cu")]


def run_ln_sf(target, link):
    """What ln -sf does (symlink a temporary name, rename it over), with the
    errno of the rename; the temporary name is removed on failure."""
    tmp = os.path.join(os.path.dirname(link), f"Cu{secrets.token_hex(3)}")
    os.symlink(target, tmp)
    try:
        os.rename(tmp, link)
    except OSError:
        os.unlink(tmp)
        raise


def test_ln_s_over_an_existing_namespace_file_is_eexist(cfs):
    cfs.mkdir("web", "db")
    err = refused(cfs, ["web", "db"], os.symlink, "../db/network", cfs.path("web", "network"))
    assert err == errno.EEXIST, errname(err)
    r = run(["ln", "-s", "../db/network", cfs.path("web", "network")], check=False)
    assert "File exists" in r.stderr
    # Also over a shared one.
    run(["ln", "-sf", "../db/uts", cfs.path("web", "uts")])
    cfs.mkdir("cache")
    err = refused(cfs, ["web", "db"], os.symlink, "../cache/uts", cfs.path("web", "uts"))
    assert err == errno.EEXIST, errname(err)


def test_host_namespaces_cannot_be_changed(cfs):
    cfs.mkdir("web")
    before = {n: (os.readlink(cfs.path(n)), ns_ino(cfs.path(n))) for n in ALL_NS_FILES}
    assert errno_of(os.unlink, cfs.path("network")) == errno.EPERM
    assert errno_of(os.symlink, "web/network", cfs.path("network")) in (errno.EPERM,
                                                                        errno.EEXIST)
    assert {n: (os.readlink(cfs.path(n)), ns_ino(cfs.path(n))) for n in ALL_NS_FILES} == before


# ------------------------------------------------------------------ pod

def test_pod_shares_network_not_pid(cfs, procs):
    cfs.mkdir("web", "db")
    run(["rm", cfs.path("web", "network")])
    run(["ln", "-s", "../db/network", cfs.path("web", "network")])
    run(["nsenter", f"--net={cfs.path('db', 'network')}", "ip", "link", "add", "pod0",
         "type", "bridge"])
    shells = {}
    for c, secs in (("web", 1001), ("db", 1002)):
        sh = procs.shell()
        cfs.enter(c, sh.pid)
        child = int(sh.run(f"sleep {secs} & echo $!"))
        procs.add_pid(child)
        shells[c] = sh
    links = {c: sh.run("ip -o link | cut -d: -f2") for c, sh in shells.items()}
    assert links["web"] == links["db"]
    assert "pod0" in links["web"].split()
    assert "pod0" not in run(["ip", "-o", "link"]).stdout
    # Different processes: each sees its own pid namespace (a fresh proc
    # mount in a private mount namespace, made from inside).
    seen = {c: sh.run("unshare -m --propagation private --mount-proc ps -eo args=")
            for c, sh in shells.items()}
    assert "sleep 1001" in seen["web"] and "sleep 1002" not in seen["web"], seen["web"]
    assert "sleep 1002" in seen["db"] and "sleep 1001" not in seen["db"], seen["db"]
    pidns = {c: sh.run("readlink /proc/self/ns/pid") for c, sh in shells.items()}
    assert pidns["web"] != pidns["db"]
    assert pidns["web"] == f"pid:[{ns_ino(cfs.path('web', 'pid'))}]"
    assert pidns["db"] == f"pid:[{ns_ino(cfs.path('db', 'pid'))}]"
    assert shells["web"].run("hostname") == "web"
    assert shells["db"].run("hostname") == "db"


# ------------------------------------------------------------------ settings

def test_hostname_file_agrees_with_the_uts_namespace(cfs):
    cfs.mkdir("web")
    host = run(["hostname"]).stdout.strip()
    uts = cfs.path("web", "uts")
    assert read_text(cfs.path("web", "hostname")).strip() == "web"
    run(["sh", "-c", 'echo newname > "$1"', "sh", cfs.path("web", "hostname")])
    assert run(["nsenter", f"--uts={uts}", "hostname"]).stdout.strip() == "newname"
    assert read_text(cfs.path("web", "hostname")).strip() == "newname"
    run(["nsenter", f"--uts={uts}", "hostname", "frominside"])
    assert read_text(cfs.path("web", "hostname")).strip() == "frominside"
    assert run(["hostname"]).stdout.strip() == host
    # As the kernel: over 64 bytes is EINVAL, nothing changed.
    assert write_errno(cfs.path("web", "hostname"), "x" * 65) == errno.EINVAL
    assert read_text(cfs.path("web", "hostname")).strip() == "frominside"


# ------------------------------------------------------------------ python

SCRIPT = textwrap.dedent("""\
    import os, sys
    mnt, step = sys.argv[1], sys.argv[2]
    web, db = os.path.join(mnt, "web"), os.path.join(mnt, "db")
    if step == "up":
        os.mkdir(web)
        os.mkdir(db)
        os.unlink(os.path.join(web, "network"))
        os.symlink("../db/network", os.path.join(web, "network"))
        print(os.readlink(os.path.join(web, "network")))
        print(os.stat(os.path.join(web, "network")).st_ino ==
              os.stat(os.path.join(db, "network")).st_ino)
        try:
            os.rmdir(db)
        except OSError as e:
            print("rmdir db:", e.errno)
    else:
        os.unlink(os.path.join(web, "network"))
        os.rmdir(web)
        os.rmdir(db)
        print(sorted(n for n in os.listdir(mnt) if n in ("web", "db")))
    """)


def test_python_script_manages_containers(cfs, tmp_path):
    script = tmp_path / "manage.py"
    script.write_text(SCRIPT)
    r = run([PY, str(script), cfs.mnt, "up"])
    assert r.stdout.split("\n")[:3] == ["../db/network", "True", f"rmdir db: {errno.EBUSY}"]
    assert init_ns(cfs, "web", "network") == init_ns(cfs, "db", "network")
    holds_exactly_its_namespaces(cfs, "web")
    inits = [cfs.init_pid("web"), cfs.init_pid("db")]
    r = run([PY, str(script), cfs.mnt, "down"])
    assert r.stdout.strip() == "[]"
    for p in inits:
        wait_dead(p)
    wait_until(lambda: helpers.child_cgroups(cfs.cgroup) == [], 5, what="cgroups removed")


# ------------------------------------------------------------------ renames

def test_mv_of_a_shared_container_keeps_the_share_true(cfs):
    cfs.mkdir("web", "db")
    run(["rm", cfs.path("web", "network")])
    run(["ln", "-s", "../db/network", cfs.path("web", "network")])
    shared = init_ns(cfs, "web", "network")
    assert shared == ns_ino(cfs.path("db", "network"))
    # Either the rename is refused, or the link follows db: either way
    # web's file must keep opening the namespace web is in.
    r = run(["mv", cfs.path("db"), cfs.path("db2")], check=False)
    assert r.returncode != 0 and "Device or resource busy" in r.stderr, r.stderr
    assert sorted(os.listdir(cfs.mnt)).count("db") == 1
    assert init_ns(cfs, "web", "network") == shared
    assert helpers.stat_L_ino(cfs.path("web", "network")) == shared, \
        f"mv exited {r.returncode}; web/network -> {helpers.readlink(cfs.path('web', 'network'))}"
    # A new container under the old name must not become the target.
    if r.returncode == 0:
        cfs.mkdir("db")
        assert os.stat(cfs.path("web", "network")).st_ino == shared
        out = run(["nsenter", f"--net={cfs.path('web', 'network')}", "readlink",
                   "/proc/self/ns/net"]).stdout.strip()
        assert out == f"net:[{shared}]"


@pytest.mark.parametrize("change", ["namespace change", "rmdir and mkdir"])
def test_hostname_racing_with_its_init_going_away(cfs, procs, change):
    """Reads and writes of hostname racing with the init going away: a
    namespace change (the init is replaced) reaches the new init; a removal
    gives ENOENT, as for any file of a container that is no more -- never
    ESRCH. (Found by the stress script.)"""
    cfs.mkdir("web")
    host = cfs.path("web", "hostname")
    loop = ('end=$(($(date +%s) + 3)); n=0; '
            'while [ $(date +%s) -lt $end ]; do '
            '  cat "$1" >/dev/null 2>>"$2"; echo web 2>>"$2" >"$1"; n=$((n + 1)); '
            'done; echo "$n"')
    errs = [os.path.join(cfs.tmp, f"hostname-err-{i}") for i in range(4)]
    readers = [procs.popen(["bash", "-c", loop, "bash", host, e], stdout=subprocess.PIPE, text=True)
               for e in errs]
    ipc = cfs.path("web", "ipc")
    changes = 0
    while any(r.poll() is None for r in readers):
        if change == "namespace change":
            os.unlink(ipc)
            helpers.touch(ipc)
        else:
            os.rmdir(cfs.path("web"))
            os.mkdir(cfs.path("web"))
        changes += 1
    counts = [int(r.communicate(timeout=10)[0]) for r in readers]
    said = "".join(open(e).read() for e in errs).splitlines()
    wrong = [ln for ln in said if "No such file or directory" not in ln]
    assert not wrong, wrong[:5]
    if change == "namespace change":
        assert not said, said[:5]
    assert changes > 10 and all(n > 10 for n in counts), (changes, counts)
