"""A container's own /proc, and its root file system (`root`).

Checks read the kernel's view from the host: /proc/INIT/mountinfo (what the
container's mount namespace holds), /proc/INIT/root (its `/`), and what
real programs print from inside.
"""
import errno
import os
import shutil
import stat
import tempfile

import pytest

import helpers
from helpers import OWN_DEV, errname, mounts_of, read_record, run, run_in, wait_console


def ns_pids_of_container(cfs, container):
    """The pids of the processes in the container's pid namespace, as that
    namespace numbers them (the init's NSpid depth)."""
    init = cfs.init_pid(container)
    depth = len(helpers.nspid(init))
    out = set()
    for pid in helpers.all_pids():
        st = helpers.proc_status(pid)
        if not st:
            continue
        ns = st["NSpid"].split()
        if len(ns) >= depth and helpers.proc_ns_ino(pid, "pid") == helpers.proc_ns_ino(init, "pid"):
            out.add(int(ns[depth - 1]))
    return out


def ps_after_entering(cfs, container):
    """`sh -c 'echo $$ > C/tasks; ps -e'`: the pids ps lists, but its own.
    ps runs as the shell's child, born inside: the shell itself keeps its
    pid namespace (as with setns(2)), and procps's ps wants to find itself
    in /proc."""
    r = run(["sh", "-c", 'echo $$ > "$1"; ps -e -o pid=,comm=', "sh", cfs.path(container, "tasks")])
    listed = [line.split(None, 1) for line in r.stdout.splitlines()]
    assert [comm for _, comm in listed].count("ps") == 1, r.stdout
    return {int(pid) for pid, comm in listed if comm != "ps"}


# ------------------------------------------------------------------ own /proc

def test_ps_inside_lists_the_container_processes_only(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "exec sleep 100") == 0
    inside = ns_pids_of_container(cfs, "web")
    assert len(inside) == 2  # the init and the sleep
    # The init as 1 and the sleep; nothing of the host's.
    listed = ps_after_entering(cfs, "web")
    assert 1 in listed
    assert listed == inside


def test_own_proc_is_a_proc_of_the_container_pid_namespace(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    procs_mounts = [m for m in mounts_of(init) if m["point"] == "/proc"]
    assert procs_mounts[-1]["type"] == "proc"
    # /proc/1 there is the init itself.
    with open(f"/proc/{init}/root/proc/1/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"containerfs-init", b"web"]


def test_nested_container_has_a_proc_of_its_own(cfs):
    cfs.mkdir("web", "web/db")
    r = run(["sh", "-c", 'echo $$ > "$1"; exec cat /proc/1/cmdline', "sh", cfs.path("web", "db", "tasks")])
    assert r.stdout.split("\0")[:2] == ["containerfs-init", "web/db"]
    assert ps_after_entering(cfs, "web/db") == {1}


@pytest.mark.namespaces(r"network\,uts\,ipc\,mount")
def test_without_own_pid_namespace_proc_stays_the_hosts(cfs):
    cfs.mkdir("web")
    listed = ps_after_entering(cfs, "web")
    assert os.getpid() in listed


def test_proc_is_renewed_when_the_init_is(cfs):
    """A namespace change replaces the init and its pid namespace; the kept
    mount namespace gets a /proc of the new one."""
    cfs.mkdir("web", "db")
    old = cfs.init_pid("web")
    os.unlink(cfs.path("web", "uts"))
    os.symlink("../db/uts", cfs.path("web", "uts"))
    new = cfs.init_pid("web")
    assert new != old
    with open(f"/proc/{new}/root/proc/1/cmdline", "rb") as f:
        assert f.read().startswith(b"containerfs-init\0web")
    assert ps_after_entering(cfs, "web") == {1}


# ------------------------------------------------------------------ root

def set_root(cfs, container, target):
    os.symlink(str(target), cfs.path(container, "root"))


def test_root_gives_the_directory_as_slash(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    assert os.readlink(cfs.path("web", "root")) == str(busybox_root)
    assert "root" in os.listdir(cfs.path("web"))
    assert os.lstat(cfs.path("web", "root")).st_size == len(str(busybox_root))
    init = cfs.init_pid("web")
    # Its / is the directory: the same inode, seen through the init.
    assert os.stat(f"/proc/{init}/root").st_ino == os.stat(busybox_root).st_ino
    with open(f"/proc/{init}/root/etc/marker") as f:
        assert f.read() == "busybox root\n"


def test_root_mounts_are_proc_sys_dev_pts_shm_and_nothing_of_the_host(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    init = cfs.init_pid("web")
    mounts = {m["point"]: m for m in mounts_of(init)}
    assert set(mounts) == {"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/console"}
    assert mounts["/"]["root"] == str(busybox_root)
    assert mounts["/proc"]["type"] == "proc"
    assert mounts["/sys"]["type"] == "sysfs" and "ro" in mounts["/sys"]["options"]
    assert mounts["/dev"]["type"] == "tmpfs"
    assert mounts["/dev/pts"]["type"] == "devpts"
    assert mounts["/dev/shm"]["type"] == "tmpfs"
    # /dev/console is the console's terminal, of the container's own devpts.
    assert mounts["/dev/console"]["type"] == "devpts"
    assert mounts["/dev/pts"]["root"] == "/"
    # /sys is the sysfs of the container's network namespace: its lo only.
    assert os.listdir(f"/proc/{init}/root/sys/class/net") == ["lo"]


def test_root_dev_holds_the_devices_of_a_console_system(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    dev = f"/proc/{cfs.init_pid('web')}/root/dev"
    assert set(os.listdir(dev)) == OWN_DEV
    numbers = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9),
               "tty": (5, 0)}
    for name, (major, minor) in numbers.items():
        st = os.stat(f"{dev}/{name}")
        assert stat.S_ISCHR(st.st_mode), name
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor), name
        assert stat.S_IMODE(st.st_mode) == 0o666, name
    assert os.readlink(f"{dev}/ptmx") == "pts/ptmx"
    # A devpts instance of its own: only the console's terminal in it.
    assert sorted(os.listdir(f"{dev}/pts")) == ["0", "ptmx"]


def test_a_process_entering_lands_in_the_root_and_cannot_climb_out(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    r = run(["sh", "-c", 'cd /tmp && echo $$ > "$1"; exec /bin/sh -c "pwd; cat /etc/marker; cd /../../..; ls /"',
             "sh", cfs.path("web", "tasks")])
    lines = r.stdout.split("\n")
    assert lines[0] == "/"
    assert lines[1] == "busybox root"
    assert set(r.stdout.split()[3:]) == set(os.listdir(busybox_root))


def test_exec_ps_after_entering_lists_the_container(cfs, busybox_root):
    """busybox's ps needs no /proc/self: the shell that entered may become it."""
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    assert run_in(cfs, "web", "exec sleep 100") == 0
    r = run(["sh", "-c", 'echo $$ > "$1"; exec ps -o pid,comm', "sh", cfs.path("web", "tasks")])
    rows = {int(pid): comm for pid, comm in (line.split() for line in r.stdout.splitlines()[1:])}
    assert set(rows) == ns_pids_of_container(cfs, "web"), r.stdout
    assert sorted(rows.values()) == ["containerfs-ini", "sleep"]
    assert rows[1] == "containerfs-ini"


def test_a_program_run_inside_sees_the_root(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    assert run_in(cfs, "web", "cat /etc/marker; ls /dev/pts; echo done") == 0
    out = wait_console(cfs, "web", "done")
    assert b"busybox root" in out


def test_ln_sf_replaces_the_root(cfs, busybox_root, tmp_path):
    other = helpers.make_busybox_root(tmp_path / "other", marker="the other root")
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    first = cfs.init_pid("web")
    run(["ln", "-sfn", str(other), cfs.path("web", "root")])
    assert os.readlink(cfs.path("web", "root")) == str(other)
    init = cfs.init_pid("web")
    assert init != first
    with open(f"/proc/{init}/root/etc/marker") as f:
        assert f.read() == "the other root\n"
    # No stray temporary link is left.
    assert [n for n in os.listdir(cfs.path("web")) if n.startswith("root") and n != "root"] == []


def test_rm_root_goes_back_to_the_hosts_tree(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    os.unlink(cfs.path("web", "root"))
    assert "root" not in os.listdir(cfs.path("web"))
    assert errno_of_readlink(cfs.path("web", "root")) == errno.ENOENT
    init = cfs.init_pid("web")
    assert os.stat(f"/proc/{init}/root").st_ino == os.stat("/").st_ino
    # Still a /proc of its own.
    assert ps_after_entering(cfs, "web") == {1}
    assert "root" not in read_record(cfs.cgroup_dir_of("web"))


def errno_of_readlink(path):
    try:
        os.readlink(path)
    except OSError as e:
        return e.errno
    return 0


def test_root_survives_a_daemon_restart(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    init = cfs.init_pid("web")
    assert f"root {busybox_root}" in read_record(cfs.cgroup_dir_of("web"))
    cfs.restart()
    assert os.readlink(cfs.path("web", "root")) == str(busybox_root)
    assert cfs.init_pid("web") == init
    r = run(["sh", "-c", 'echo $$ > "$1"; exec /bin/cat /etc/marker', "sh", cfs.path("web", "tasks")])
    assert r.stdout == "busybox root\n"
    # And it can be taken away by the new daemon.
    os.unlink(cfs.path("web", "root"))
    assert os.stat(f"/proc/{cfs.init_pid('web')}/root").st_ino == os.stat("/").st_ino


def test_a_nested_container_stays_inside_its_parents_root(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    cfs.mkdir("web/db")
    init = cfs.init_pid("web/db")
    assert os.stat(f"/proc/{init}/root").st_ino == os.stat(busybox_root).st_ino
    r = run(["sh", "-c", 'echo $$ > "$1"; exec /bin/cat /etc/marker /proc/1/cmdline', "sh",
             cfs.path("web", "db", "tasks")])
    assert r.stdout.startswith("busybox root\ncontainerfs-init\0web/db")


# ------------------------------------------------------------------ refusals

def state_of(cfs, container):
    return (cfs.init_pid(container), sorted(os.listdir(cfs.path(container))),
            read_record(cfs.cgroup_dir_of(container)))


def symlink_errno(target, path):
    try:
        os.symlink(target, path)
    except OSError as e:
        return e.errno
    return 0


@pytest.mark.parametrize("target,err", [
    ("relative/dir", errno.EINVAL),
    ("/nonexistent/containerfs/root", errno.ENOENT),
])
def test_root_refused_for_a_bad_target(cfs, target, err):
    cfs.mkdir("web")
    before = state_of(cfs, "web")
    assert errname(symlink_errno(target, cfs.path("web", "root"))) == errname(err)
    assert state_of(cfs, "web") == before


def test_root_refused_for_a_file(cfs, tmp_path):
    cfs.mkdir("web")
    f = tmp_path / "plain"
    f.write_text("x")
    before = state_of(cfs, "web")
    assert errname(symlink_errno(str(f), cfs.path("web", "root"))) == "ENOTDIR"
    assert state_of(cfs, "web") == before


def test_root_refused_without_a_mount_namespace_of_its_own(cfs, busybox_root):
    cfs.mkdir("web")
    os.unlink(cfs.path("web", "mount"))
    before = state_of(cfs, "web")
    assert errname(symlink_errno(str(busybox_root), cfs.path("web", "root"))) == "EINVAL"
    assert state_of(cfs, "web") == before


def test_root_refused_with_members(cfs, procs, busybox_root, tmp_path):
    cfs.mkdir("web")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    before = state_of(cfs, "web")
    assert errname(symlink_errno(str(busybox_root), cfs.path("web", "root"))) == "EBUSY"
    assert state_of(cfs, "web") == before
    # Nor replaced or removed while it has members.
    cfs.enter("", p.pid)
    set_root(cfs, "web", busybox_root)
    cfs.enter("web", p.pid)
    before = state_of(cfs, "web")
    other = helpers.make_busybox_root(tmp_path / "other")
    r = run(["ln", "-sfn", str(other), cfs.path("web", "root")], check=False)
    assert r.returncode != 0 and "busy" in r.stderr
    assert errname(helpers.errno_of(os.unlink, cfs.path("web", "root"))) == "EBUSY"
    assert state_of(cfs, "web") == before
    assert helpers.alive(p.pid)


def test_root_refused_twice_without_replacing(cfs, busybox_root):
    cfs.mkdir("web")
    set_root(cfs, "web", busybox_root)
    before = state_of(cfs, "web")
    assert errname(symlink_errno(str(busybox_root), cfs.path("web", "root"))) == "EEXIST"
    assert state_of(cfs, "web") == before


def test_the_host_has_no_root(cfs, busybox_root):
    assert errname(symlink_errno(str(busybox_root), cfs.path("root"))) == "EPERM"
    assert "root" not in os.listdir(cfs.mnt)


def test_rm_root_without_one_is_enoent(cfs):
    cfs.mkdir("web")
    before = state_of(cfs, "web")
    assert errname(helpers.errno_of(os.unlink, cfs.path("web", "root"))) == "ENOENT"
    assert state_of(cfs, "web") == before


# ------------------------------------------------------------------ delegated

def test_a_delegated_user_gives_its_container_a_root_of_its_own(delegated, procs):
    """In a user namespace: the device nodes are the host's, bound (mknod is
    not allowed there); the user may only give a directory it owns."""
    cfs = delegated
    home = tempfile.mkdtemp(prefix="cfs-user-root-")
    procs.on_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    os.chmod(home, 0o755)
    mine = helpers.make_busybox_root(os.path.join(home, "mine"), owner=helpers.USER_ID)
    run([*helpers.AS_USER, "mkdir", cfs.path("users", "box")])
    # Root's directory: refused.
    r = run([*helpers.AS_USER, "ln", "-s", "/srv", cfs.path("users", "box", "root")], check=False)
    assert r.returncode != 0
    assert "root" not in os.listdir(cfs.path("users", "box"))
    run([*helpers.AS_USER, "ln", "-s", str(mine), cfs.path("users", "box", "root")])
    init = cfs.init_pid("users/box")
    assert helpers.proc_status(init)["Uid"].split()[0] == str(helpers.USER_ID)
    dev = f"/proc/{init}/root/dev"
    assert set(os.listdir(dev)) == OWN_DEV
    assert os.stat(f"{dev}/null").st_rdev == os.stat("/dev/null").st_rdev
    with open(f"/proc/{init}/root/etc/marker") as f:
        assert f.read() == "busybox root\n"
