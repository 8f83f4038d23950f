"""A newcomer's first hour: the mistakes a new user makes when starting the
daemon each get one clear line on stderr, the exit code containerfs(8)
lists, and leave nothing behind (no cgroup or state directory, no mount, no
daemon process). Also what a new user looks at next: --version, the sizes of the
tree's symbolic links, and the command lines of the inits (ps, lsns), which
name their containers and stay true across mv and daemon restarts.
"""
import os
import re
import signal
import subprocess

import pytest

import helpers
from helpers import DAEMON, mounted_fuse
from helpers import run, wait_until

VALID_NS_NAMES = "network uts ipc pid user mount cgroup time"
# containerfs(8), EXIT STATUS.
EXIT_BAD_ARGUMENTS, EXIT_NO_MOUNT_POINT, EXIT_SETUP, EXIT_MOUNT_POINT = 1, 2, 3, 4
# Bytes an init keeps, beyond its first path, for a longer one later.
TITLE_ROOM = 255


# ---------------------------------------------------------------- helpers

def containerfs_mounts():
    """Mount points of every fuse.containerfs mount, repeated when stacked."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "fuse.containerfs":
                out.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return out


def daemons_of(c):
    """Pids of this build's daemon started for the test's `c` (its cgroup,
    or a mount point or state directory in its temp directory, on the
    command line). A daemon refused at start-up has started nothing else."""
    marks = [os.fsencode(c.cgroup) + b"\0", os.fsencode(c.cgroup) + b",", os.fsencode(str(c.tmp))]
    pids = set()
    for pid in helpers.all_pids():
        try:
            if os.readlink(f"/proc/{pid}/exe") != str(DAEMON):
                continue
            line = cmdline(pid)
        except OSError:
            continue
        if any(m in line for m in marks) and helpers.alive(pid):
            pids.add(pid)
    return pids


def world(c, state, mount_points=()):
    """What a refused start must leave as it was: its cgroup and state
    directories, the containerfs mounts in the test's directory and at the
    mount points given (other tests may mount elsewhere meanwhile), and the
    processes of this build."""
    places = [str(c.tmp) + "/"] + [os.path.abspath(m) for m in mount_points]
    return {
        "cgroup": os.path.exists(c.cgroup),
        "cgroups below it": sorted(helpers.cgroup_dirs(c.cgroup)) if os.path.isdir(c.cgroup) else [],
        "state": os.path.exists(state),
        "mounts": sorted(m for m in containerfs_mounts()
                         if any(m == p or m.startswith(p) for p in places)),
        "daemons": daemons_of(c),
    }


def start_refused(c, args, expected_rc, *needles, state=None, prefix=()):
    """Runs the daemon in the foreground with `args` (plus the test's own
    cgroup and state directories unless given) and checks that it exits
    with expected_rc, says exactly one line on stderr that starts with
    "containerfs: " and holds every needle, prints nothing on stdout and
    changes nothing. Returns that line."""
    state = state or os.path.join(c.tmp, "state-refused")
    positional = [a for i, a in enumerate(args)
                  if not a.startswith("-") and (i == 0 or args[i - 1] != "-o")]
    before = world(c, state, positional[-1:])
    cmd = [*prefix, str(DAEMON), *args, "-f", "-o", f"cgroup={c.cgroup},state={state}"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    assert p.returncode == expected_rc, f"{cmd}: exit {p.returncode}\n{p.stderr}"
    lines = p.stderr.splitlines()
    assert len(lines) == 1, f"{cmd}: not one line on stderr:\n{p.stderr}"
    assert lines[0].startswith("containerfs: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert p.stdout == ""
    assert world(c, state, positional[-1:]) == before, f"{cmd} left something behind"
    return lines[0]


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def title(pid):
    """The init's command line as ps shows it, checked to hold nothing
    more for a tool to show (no empty arguments, no padding)."""
    raw = cmdline(pid)
    assert raw.endswith(b"\0") and b"\0\0" not in raw and b"  " not in raw, raw
    return raw[:-1].replace(b"\0", b" ").decode()


def ps_args(pid):
    return run(["ps", "-o", "args=", "-p", str(pid)]).stdout.rstrip("\n")


def lsns_command(pid, ns="uts"):
    """The COMMAND lsns shows for the namespace the init holds. (lsns 2.38
    fails now and then when a process it scans exits meanwhile: a few
    tries.)"""
    for _ in range(5):
        p = run(["lsns", "-n", "-t", ns, "-p", str(pid), "-o", "PID,COMMAND"], check=False)
        if p.returncode == 0:
            break
    assert p.returncode == 0, f"lsns: exit {p.returncode}: {p.stderr}"
    out = p.stdout
    line = out.splitlines()[0]
    found_pid, command = line.split(None, 1)
    assert int(found_pid) == pid, out
    return command


def assert_titles(cfs, *containers):
    """Each container's init is shown, by ps and lsns, as containerfs-init
    followed by the container's path."""
    for container in containers:
        init = cfs.init_pid(container)
        want = f"containerfs-init {container}"
        assert title(init) == want
        assert ps_args(init) == want
        assert lsns_command(init) == want


def write_title(pid, text):
    """Overwrites an init's argument area as something else would."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    start, end = int(fields[45]), int(fields[46])  # fields 48, 49
    data = text.encode() + b"\0"
    data += b"\0" * (end - start - len(data) - 1) + b" "
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
        mem.seek(start)
        mem.write(data)


def symlinks(mnt):
    """Every symbolic link the tree shows."""
    out = []
    for dirpath, dirnames, filenames in os.walk(mnt):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                out.append(path)
    return out


def assert_link_sizes(paths):
    for path in paths:
        assert os.lstat(path).st_size == len(os.fsencode(os.readlink(path))), path


# ---------------------------------------------------------------- mount point

def test_second_daemon_on_a_containerfs_mount_point_is_refused(cfs, cfs_factory):
    cfs.mkdir("web")
    other = cfs_factory()  # another cgroup directory: nothing else stops it
    for spelling in (cfs.mnt, cfs.mnt + "/", os.path.relpath(cfs.mnt)):
        start_refused(other, [spelling], EXIT_MOUNT_POINT, "is already a containerfs mount", spelling)
    assert containerfs_mounts().count(cfs.mnt) == 1
    assert not os.path.exists(other.cgroup)
    # The first daemon's tree is still what the mount point shows.
    assert cfs.daemon.running()
    assert "web" in os.listdir(cfs.mnt)
    cfs.mkdir("db")
    assert {"web", "db"} <= set(os.listdir(cfs.mnt))


def test_a_dead_daemons_mount_point_is_refused_until_unmounted(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    cfs.kill_daemon()
    # The mount stays (ENOTCONN) until unmounted; a new daemon says so.
    start_refused(cfs, [cfs.mnt], EXIT_MOUNT_POINT, "is already a containerfs mount", "umount")
    run(["fusermount3", "-u", cfs.mnt])
    cfs.start()
    assert cfs.init_pid("web") == init


def test_missing_mount_point_exits_4(cfs_factory):
    c = cfs_factory()
    missing = os.path.join(c.tmp, "no-such-dir")
    start_refused(c, [missing], EXIT_MOUNT_POINT, missing, "does not exist")
    assert not os.path.exists(missing)


def test_regular_file_as_mount_point_exits_4(cfs_factory):
    c = cfs_factory()
    path = os.path.join(c.tmp, "a-file")
    with open(path, "w") as f:
        f.write("x\n")
    start_refused(c, [path], EXIT_MOUNT_POINT, path, "is not a directory")
    assert not mounted_fuse(path)
    with open(path) as f:
        assert f.read() == "x\n"
    # Below a file: not a directory either.
    start_refused(c, [os.path.join(path, "sub")], EXIT_MOUNT_POINT, "Not a directory")


def test_no_mount_point_exits_2_with_the_usage(cfs_factory):
    c = cfs_factory()
    start_refused(c, [], EXIT_NO_MOUNT_POINT, "no mount point given", "usage: containerfs")


def test_not_root_exits_3(cfs_factory):
    c = cfs_factory()
    start_refused(c, [c.mnt], EXIT_SETUP, "must run as root",
                  prefix=["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups"])


def test_help_goes_to_stdout_and_exits_0():
    p = run([str(DAEMON), "--help"])
    assert p.stdout.startswith("usage: containerfs [SOURCE] MOUNTPOINT")
    assert "-o namespaces=LIST" in p.stdout


def test_too_many_arguments_exit_1(cfs_factory):
    c = cfs_factory()
    start_refused(c, ["a", "b", c.mnt], EXIT_BAD_ARGUMENTS, "too many arguments", "usage")


# ---------------------------------------------------------------- options

@pytest.mark.parametrize("option,needles", [
    ("cgroupp=/x", ["unknown option 'cgroupp=/x'", "did you mean 'cgroup='"]),
    ("namespace=uts", ["unknown option 'namespace=uts'", "did you mean 'namespaces='"]),
    ("stat=/tmp/x", ["unknown option 'stat=/tmp/x'", "did you mean 'state='"]),
    ("allow_others", ["unknown option 'allow_others'", "did you mean 'allow_other'"]),
    ("frobnicate", ["unknown option 'frobnicate'", "containerfs --help"]),
    ("max_threads=many", ["invalid option 'max_threads=many'", "libfuse"]),
    ("cgroup=relative/dir", ["invalid option 'cgroup=relative/dir'", "absolute path"]),
    ("state=", ["invalid option 'state='", "absolute path"]),
    ("cgroup", ["option 'cgroup' needs a value", "cgroup=DIR"]),
])
def test_bad_option_is_named_and_nothing_is_made(cfs_factory, option, needles):
    c = cfs_factory()
    start_refused(c, [c.mnt, "-o", option], EXIT_BAD_ARGUMENTS, *needles)
    assert not mounted_fuse(c.mnt)


def test_unknown_flag_is_named(cfs_factory):
    c = cfs_factory()
    start_refused(c, [c.mnt, "-x"], EXIT_BAD_ARGUMENTS, "unknown option '-x'")


def test_misspelt_option_is_named_also_while_the_cgroup_is_in_use(cfs):
    # The cgroup directory belongs to a running daemon: the misspelt option
    # is still what is reported, not the other daemon.
    line = start_refused(cfs, [os.path.join(cfs.tmp, "mnt-other"), "-o", "cgroupp=/x"],
                         EXIT_BAD_ARGUMENTS, "unknown option 'cgroupp=/x'")
    assert "another" not in line
    assert cfs.daemon.running()


def test_the_first_bad_option_is_the_one_reported(cfs_factory):
    c = cfs_factory()
    line = start_refused(c, [c.mnt, "-o", "cgroupp=/x,bogus,namespaces=net"], EXIT_BAD_ARGUMENTS,
                         "cgroupp=/x")
    assert "bogus" not in line and "net" not in line


@pytest.mark.parametrize("given,bad", [
    ("namespaces=net,uts", "net"),
    ("namespaces=uts,net", "net"),    # libfuse hands over "net" on its own
    ("namespaces=uts:net", "net"),
    ("namespaces=uts,ipc,bogus,allow_other", "bogus"),
    ("namespaces=Network", "Network"),
])
def test_bad_namespace_name_is_named_with_the_valid_names(cfs_factory, given, bad):
    c = cfs_factory()
    start_refused(c, [c.mnt, "-o", given], EXIT_BAD_ARGUMENTS, f"unknown namespace '{bad}'",
                  f"valid names: {VALID_NS_NAMES}")


def test_a_namespace_listed_twice_is_named(cfs_factory):
    c = cfs_factory()
    start_refused(c, [c.mnt, "-o", "namespaces=uts,ipc,uts"], EXIT_BAD_ARGUMENTS,
                  "'uts' is listed twice")


def test_libfuse_options_still_work_beside_containerfs_ones(cfs_factory):
    c = cfs_factory(["namespaces=uts,ipc", "allow_other", "default_permissions", "max_threads=4",
                     "fsname=first-hour", "max_idle_threads=2"])
    c.start()
    fields = mounted_fuse(c.mnt)
    assert fields[0] == "first-hour"
    assert "allow_other" in fields[3].split(",")
    c.mkdir("web")
    assert {"uts", "ipc"} <= set(os.listdir(c.path("web")))
    assert "network" not in os.listdir(c.path("web"))


def test_mount_through_mount_fuse_keeps_working(cfs_factory):
    """mount(8) runs mount.fuse3, which runs `containerfs none MNT -o
    rw,...,dev,suid`; the type `fuse` with PROGRAM#SOURCE lets the test name
    this build's daemon."""
    c = cfs_factory()
    state = os.path.join(c.tmp, "state")
    source = f"{DAEMON}#none"
    opts = f"cgroup={c.cgroup},state={state},namespaces=uts"
    daemon_pids = set()
    try:
        run(["mount", "-t", "fuse", "-o", opts, source, c.mnt])
        daemon_pids = daemons_of(c)
        assert len(daemon_pids) == 1
        fields = mounted_fuse(c.mnt)
        assert fields and fields[0] == "none"
        c.mkdir("web")
        assert_titles(c, "web")
        run(["rmdir", c.path("web")])
    finally:
        run(["umount", c.mnt], check=False)
        for pid in daemon_pids:
            try:
                wait_until(lambda: not helpers.alive(pid), 5, what=f"daemon {pid} to exit")
            except AssertionError:
                helpers.kill_pid(pid)
    # A mistake through mount(8): the daemon's line comes through, nothing made.
    c2 = cfs_factory()
    before = world(c2, state + "2")
    p = run(["mount", "-t", "fuse", "-o", f"cgroup={c2.cgroup},state={state}2,cgroupp=/x", source,
             c2.mnt], check=False)
    assert p.returncode != 0
    assert "containerfs: unknown option 'cgroupp=/x'" in p.stderr
    assert world(c2, state + "2") == before


# ---------------------------------------------------------------- --version

@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_first_line_is_containerfs(flag):
    p = run([str(DAEMON), flag])
    lines = p.stdout.splitlines()
    assert re.fullmatch(r"containerfs version \d+\.\d+\.\d+", lines[0]), p.stdout
    assert any(line.startswith("fusermount3 version") for line in lines[1:]), p.stdout
    assert p.stderr == ""


# ---------------------------------------------------------------- symlinks

@pytest.mark.namespaces("uts")
def test_every_symlink_size_is_its_target_length(cfs):
    cfs.mkdir("web", "web/db", "api")
    os.unlink(cfs.path("api", "uts"))
    run(["ln", "-s", "../web/uts", cfs.path("api", "uts")])         # shared
    run(["touch", cfs.path("web", "db", "network")])                # own, made later
    run(["ln", "-s", "../web/uts", cfs.path("api", ".pending-uts")])  # ln -sf's temporary
    links = symlinks(cfs.mnt)
    names = {os.path.relpath(p, cfs.mnt) for p in links}
    assert {"self", "network", "uts", "web/uts", "api/uts", "api/.pending-uts",
            "web/db/network"} <= names
    assert os.readlink(cfs.path("self")) == "."
    assert_link_sizes(links)
    # `self` as a process in a container sees it: its own path, its size.
    script = ('echo $$ > "$1/cgroup.procs" && exec "$2" -c "import os, sys; p = sys.argv[1]; '
              'print(os.readlink(p), os.lstat(p).st_size)" "$3/self"')
    for container in ("web", "web/db"):
        out = run(["sh", "-c", script, "sh", cfs.members_cgroup(container), "/usr/bin/python3",
                   cfs.mnt]).stdout.split()
        assert out == [container, str(len(container))]


# ---------------------------------------------------------------- init titles

def test_init_command_line_names_its_container(cfs):
    cfs.mkdir("web", "web/db", "api")
    assert_titles(cfs, "web", "web/db", "api")
    # top -c shows it too.
    init = cfs.init_pid("web/db")
    out = run(["top", "-b", "-c", "-n", "1", "-w", "512", "-p", str(init)]).stdout
    assert out.rstrip().splitlines()[-1].endswith("containerfs-init web/db")


def test_init_command_line_follows_mv_of_the_container_and_its_parent(cfs):
    cfs.mkdir("web", "web/db", "web/db/cache", "api")
    inits = {c: cfs.init_pid(c) for c in ("web", "web/db", "web/db/cache", "api")}
    os.rename(cfs.path("web", "db"), cfs.path("web", "store"))
    assert_titles(cfs, "web", "web/store", "web/store/cache", "api")
    os.rename(cfs.path("web"), cfs.path("www"))
    assert_titles(cfs, "www", "www/store", "www/store/cache", "api")
    # Same inits: renamed, not replaced.
    assert cfs.init_pid("www/store/cache") == inits["web/db/cache"]
    assert cfs.init_pid("www") == inits["web"]


def test_a_refused_mv_leaves_the_command_lines_as_they_were(cfs):
    cfs.mkdir("web", "web/db", "api")
    assert helpers.errno_of(os.rename, cfs.path("web", "db"), cfs.path("db")) != 0
    assert helpers.errno_of(os.rename, cfs.path("web"), cfs.path("api")) != 0
    assert_titles(cfs, "web", "web/db", "api")


def test_init_command_line_after_a_namespace_change_replaces_the_init(cfs):
    cfs.mkdir("web", "web/db")
    old = cfs.init_pid("web/db")
    os.unlink(cfs.path("web", "db", "ipc"))  # a new init, inheriting web's ipc
    assert cfs.init_pid("web/db") != old
    assert_titles(cfs, "web", "web/db")


def test_init_command_line_survives_kill_9_and_restart(cfs):
    cfs.mkdir("web", "web/db", "api")
    os.rename(cfs.path("web"), cfs.path("www"))
    inits = {c: cfs.init_pid(c) for c in ("www", "www/db", "api")}
    cfs.restart()
    assert {c: cfs.init_pid(c) for c in inits} == inits
    assert_titles(cfs, "www", "www/db", "api")


def test_restarted_daemon_puts_right_a_command_line_that_is_out_of_date(cfs):
    cfs.mkdir("web", "web/db")
    db = cfs.init_pid("web/db")
    cfs.kill_daemon()
    write_title(db, "containerfs-init something/else")
    assert title(db) == "containerfs-init something/else"
    run(["fusermount3", "-uz", cfs.mnt])
    cfs.start()
    wait_until(lambda: title(db) == "containerfs-init web/db", 5, what="the title to be put right")
    assert_titles(cfs, "web", "web/db")


def test_a_renamed_path_too_long_for_the_title_keeps_its_end(cfs):
    cfs.mkdir("a", "a/b", "a/b/c")
    init = cfs.init_pid("a/b/c")
    # Room for any one rename: the longest name in place of a short one.
    x, y = "x" * 255, "y" * 255
    os.rename(cfs.path("a"), cfs.path(x))
    assert title(init) == f"containerfs-init {x}/b/c"
    # A second one goes beyond: the path keeps its end, after a marker.
    os.rename(cfs.path(x, "b"), cfs.path(x, y))
    shown = title(init)
    assert shown.startswith("containerfs-init ...")
    assert shown.endswith("yyy/c")
    assert len(shown) == len("containerfs-init ") + len("a/b/c") + TITLE_ROOM
    assert f"{x}/{y}/c".endswith(shown[len("containerfs-init ..."):])
    assert ps_args(init) == shown
    # Short again: whole again.
    os.rename(cfs.path(x), cfs.path("a"))
    assert_titles(cfs, "a", f"a/{y}", f"a/{y}/c")


def test_a_long_path_is_whole_from_the_start(cfs):
    path = "/".join(n * 200 for n in "abcde")
    for i in range(1, 6):
        cfs.mkdir("/".join(path.split("/")[:i]))
    assert_titles(cfs, path)
