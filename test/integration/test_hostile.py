"""Hostile input: every bad input gets its errno and leaves the tree as it
was.

The main test is table-driven (CASES): each row is one bad input against one
file, the errno the daemon (or, where noted, the kernel in front of it)
really answers, and a check that nothing changed -- the listing of every
directory, the cgroup tree with the pids in it, every link's text, every
container's init, hostname, freeze state, members and namespaces.

Rows marked `bug=` are answers that contradict SPEC.md's errno list: they
run as strict xfail, so a fix turns them into a failure that asks for the
marker to go.

Other tests here cover what a table row cannot: pid lists that end short
half way, partial writes, symlink loops, non-UTF-8 and 255-byte names,
/proc/self/ns/X as an adoption target, every reserved name as a mkdir or
rename target, and a short run of the stress script (test/stress/run).
"""
import errno
import os
import re
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

import helpers
from helpers import (diff, errname, errno_of, read_bytes, unused_pid, write_errno,
                     write_once)

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]

CONTROLLER_PREFIXES = ("cgroup.", "memory.", "cpu.", "cpuset.", "io.", "pids.", "hugetlb.",
                       "rdma.", "misc.", "freezer.")


# ---------------------------------------------------------------- the tree

class Tree:
    """The containers every case runs against:
        web/        defaults, with a child web/db
        other/      no uts, no network of its own (free slots for ln -s)
        u/          an own user namespace (uid_map, gid_map)
    and a sleeping process in no container."""

    def __init__(self, cfs, procs):
        self.cfs = cfs
        self.procs = procs
        cfs.mkdir("web", "web/db", "other", "u")
        os.unlink(cfs.path("other", "uts"))
        os.unlink(cfs.path("other", "network"))
        helpers.touch(cfs.path("u", "user"))
        assert os.path.exists(cfs.path("u", "uid_map"))
        self.sleeper = procs.sleep(1000).pid
        self.containers = ["web", "web/db", "other", "u"]

    def path(self, *parts):
        return self.cfs.path(*parts)

    def init(self, c):
        return self.cfs.init_pid(c)

    def controller_file(self, writable):
        """A cgroup interface file of web that is (not) writable, or None."""
        for name in sorted(os.listdir(self.path("web"))):
            if not name.startswith(CONTROLLER_PREFIXES):
                continue
            mode = os.stat(self.path("web", name)).st_mode
            if bool(mode & 0o222) == writable:
                return name
        return None

    def kernel_thread(self):
        """A kernel thread's pid (kthreadd, or any thread flagged Kthread)."""
        for pid in [2] + helpers.all_pids():
            st = helpers.proc_status(pid)
            if st and (st.get("Kthread") == "1" or (pid == 2 and st.get("Name") == "kthreadd")):
                return pid
        pytest.skip("no kernel thread visible")


def fingerprint(t):
    """Everything a refused operation must leave as it was."""
    cfs = t.cfs
    tree, cgroups = helpers.snapshot(cfs.mnt, cfs.cgroup)
    links = {}
    for rel, names in tree.items():
        for n in names:
            p = os.path.join(cfs.mnt, rel, n)
            if os.path.islink(p):
                links[os.path.normpath(os.path.join(rel, n))] = os.readlink(p)
    containers = {}
    for c in t.containers:
        init = t.init(c)
        entry = {
            "init": init,
            "alive": helpers.alive(init),
            "ns": helpers.proc_ns_inos(init),
            "freeze": read_bytes(cfs.path(c, "freeze")),
            "tasks": read_bytes(cfs.path(c, "tasks")),
        }
        if os.path.exists(cfs.path(c, "hostname")):
            entry["hostname"] = read_bytes(cfs.path(c, "hostname"))
        for m in ("uid_map", "gid_map"):
            if os.path.exists(cfs.path(c, m)):
                entry[m] = read_bytes(cfs.path(c, m))
        containers[c] = entry
    # The root's tasks lists every process of the host, which come and go:
    # only the sleeper's presence there is ours to check.
    sleeper = {"cgroup": helpers.cgroup_of(t.sleeper),
               "ns": helpers.proc_ns_inos(t.sleeper),
               "in_root_tasks": str(t.sleeper).encode() in read_bytes(cfs.path("tasks")).split()}
    return {"tree": tree, "cgroups": cgroups, "links": links, "containers": containers,
            "sleeper": sleeper}


# ---------------------------------------------------------------- operations

def w_parts(path, *parts):
    """Several write(2)s on one open file (a line written in pieces)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        for p in parts:
            os.write(fd, p)
    finally:
        os.close(fd)


def mkdir_b(t, *parts):
    """mkdir of a name given as bytes (not UTF-8)."""
    os.mkdir(os.fsencode(t.path()) + b"/" + b"/".join(parts))


def ctl_write(t, data, writable=True):
    name = t.controller_file(writable)
    if name is None:
        pytest.skip(f"no {'writable' if writable else 'read-only'} cgroup interface file in web")
    if writable:
        return write_once(t.path("web", name), data)
    return os.open(t.path("web", name), os.O_WRONLY)


def ctl_truncate(t):
    name = t.controller_file(False)
    if name is None:
        pytest.skip("no read-only cgroup interface file in web")
    os.truncate(t.path("web", name), 0)


def outside_loop(t, tmp_path):
    a, b = tmp_path / "loopA", tmp_path / "loopB"
    os.symlink(b, a)
    os.symlink(a, b)
    os.symlink(str(a), t.path("other", "uts"))


Case = namedtuple("Case", "id op err note bug", defaults=("", None))

CASES = [
    # --- tasks: not a pid list
    Case("tasks-garbage", lambda t: write_once(t.path("web", "tasks"), b"garbage\n"), errno.EINVAL),
    Case("tasks-1MiB-garbage", lambda t: write_once(t.path("web", "tasks"), b"x" * MiB),
         errno.EINVAL),
    Case("tasks-embedded-NUL", lambda t: write_once(t.path("web", "tasks"), f"{t.sleeper}\0\n"),
         errno.EINVAL),
    Case("tasks-NUL-between", lambda t: write_once(t.path("web", "tasks"), b"1\x002\n"),
         errno.EINVAL),
    Case("tasks-negative", lambda t: write_once(t.path("web", "tasks"), b"-1\n"), errno.EINVAL),
    Case("tasks-negative-sleeper", lambda t: write_once(t.path("web", "tasks"), f"-{t.sleeper}\n"),
         errno.EINVAL),
    Case("tasks-huge", lambda t: write_once(t.path("web", "tasks"), b"99999999999999999999\n"),
         errno.EINVAL),
    Case("tasks-2^31", lambda t: write_once(t.path("web", "tasks"), b"2147483648\n"), errno.EINVAL),
    Case("tasks-above-pid-limit", lambda t: write_once(t.path("web", "tasks"), b"4194305\n"),
         errno.EINVAL),
    Case("tasks-plus-sign", lambda t: write_once(t.path("web", "tasks"), f"+{t.sleeper}\n"),
         errno.EINVAL),
    Case("tasks-hex", lambda t: write_once(t.path("web", "tasks"), b"0x10\n"), errno.EINVAL),
    Case("tasks-two-on-a-line", lambda t: write_once(t.path("web", "tasks"),
                                                     f"{t.sleeper} {t.sleeper}\n"), errno.EINVAL),
    Case("tasks-non-utf8", lambda t: write_once(t.path("web", "tasks"), b"\xff\xfe\n"),
         errno.EINVAL),
    Case("tasks-garbage-then-pid", lambda t: write_once(t.path("web", "tasks"),
                                                        f"zz\n{t.sleeper}\n"), errno.EINVAL),
    Case("tasks-no-such-process", lambda t: write_once(t.path("web", "tasks"), f"{unused_pid()}\n"),
         errno.ESRCH),
    Case("tasks-kernel-thread",
         lambda t: write_once(t.path("web", "tasks"), f"{t.kernel_thread()}\n"), errno.EINVAL),
    Case("tasks-the-daemon", lambda t: write_once(t.path("web", "tasks"), f"{t.cfs.daemon.pid}\n"),
         errno.EINVAL),
    Case("tasks-an-init", lambda t: write_once(t.path("web", "tasks"), f"{t.init('other')}\n"),
         errno.EINVAL),
    Case("tasks-its-own-init", lambda t: write_once(t.path("web", "tasks"), f"{t.init('web')}\n"),
         errno.EINVAL),
    Case("tasks-O_APPEND-garbage", lambda t: write_once(t.path("web", "tasks"), b"x\n",
                                                        os.O_WRONLY | os.O_APPEND), errno.EINVAL),
    Case("tasks-O_TRUNC-garbage", lambda t: write_once(t.path("web", "tasks"), b"x\n",
                                                       os.O_WRONLY | os.O_TRUNC), errno.EINVAL),
    Case("tasks-lseek-4096-garbage",
         lambda t: write_once(t.path("web", "tasks"), b"x\n", offset=4096),
         errno.EINVAL),
    Case("tasks-O_RDWR-lseek-garbage",
         lambda t: write_once(t.path("web", "tasks"), b"-3\n", os.O_RDWR, 7),
         errno.EINVAL),
    Case("root-tasks-garbage", lambda t: write_once(t.path("tasks"), b"abc\n"), errno.EINVAL),
    Case("root-tasks-negative", lambda t: write_once(t.path("tasks"), b"-1\n"), errno.EINVAL),
    Case("root-tasks-1MiB", lambda t: write_once(t.path("tasks"), b"9" * MiB), errno.EINVAL),
    Case("root-tasks-an-init", lambda t: write_once(t.path("tasks"), f"{t.init('web/db')}\n"),
         errno.EINVAL),
    Case("tasks-truncate", lambda t: os.truncate(t.path("web", "tasks"), 0), 0,
         "truncation of a writable file is accepted and changes nothing"),
    Case("tasks-truncate-5", lambda t: os.truncate(t.path("web", "tasks"), 5), 0,
         "as above"),
    # --- hostname
    Case("hostname-1MiB", lambda t: write_once(t.path("web", "hostname"), b"h" * MiB),
         errno.EINVAL),
    Case("hostname-65-bytes", lambda t: write_once(t.path("web", "hostname"), b"h" * 65 + b"\n"),
         errno.EINVAL),
    Case("hostname-empty", lambda t: write_once(t.path("web", "hostname"), b"\n"), errno.EINVAL),
    Case("hostname-two-lines", lambda t: write_once(t.path("web", "hostname"), b"a\nb\n"),
         errno.EINVAL),
    Case("hostname-O_APPEND-two-lines", lambda t: write_once(t.path("web", "hostname"), b"a\nb\n",
                                                             os.O_WRONLY | os.O_APPEND),
         errno.EINVAL),
    Case("hostname-lseek-empty", lambda t: write_once(t.path("web", "hostname"), b"\n", offset=100),
         errno.EINVAL),
    Case("hostname-embedded-NUL", lambda t: write_once(t.path("web", "hostname"), b"ab\0cd\n"),
         errno.EINVAL),
    Case("hostname-truncate", lambda t: os.truncate(t.path("web", "hostname"), 0), 0,
         "accepted, changes nothing"),
    Case("hostname-of-the-root", lambda t: write_once(t.path("hostname"), b"x\n"), errno.ENOENT),
    # --- freeze / kill
    Case("freeze-garbage", lambda t: write_once(t.path("web", "freeze"), b"garbage\n"),
         errno.EINVAL),
    Case("freeze-2", lambda t: write_once(t.path("web", "freeze"), b"2\n"), errno.EINVAL),
    Case("freeze-minus-1", lambda t: write_once(t.path("web", "freeze"), b"-1\n"), errno.EINVAL),
    Case("freeze-01", lambda t: write_once(t.path("web", "freeze"), b"01\n"), errno.EINVAL),
    Case("freeze-1-0", lambda t: write_once(t.path("web", "freeze"), b"1 0\n"), errno.EINVAL),
    Case("freeze-1MiB", lambda t: write_once(t.path("web", "freeze"), b"1" * MiB), errno.EINVAL),
    Case("freeze-NUL", lambda t: write_once(t.path("web", "freeze"), b"1\0"), errno.EINVAL),
    Case("freeze-O_APPEND-garbage", lambda t: write_once(t.path("web", "freeze"), b"yes\n",
                                                         os.O_WRONLY | os.O_APPEND), errno.EINVAL),
    Case("freeze-lseek-2", lambda t: write_once(t.path("web", "freeze"), b"2\n", offset=100),
         errno.EINVAL),
    Case("kill-0", lambda t: write_once(t.path("web", "kill"), b"0\n"), errno.EINVAL),
    Case("kill-2", lambda t: write_once(t.path("web", "kill"), b"2\n"), errno.EINVAL),
    Case("kill-garbage", lambda t: write_once(t.path("web", "kill"), b"please\n"), errno.EINVAL),
    Case("kill-1MiB", lambda t: write_once(t.path("web", "kill"), b"1" * MiB), errno.EINVAL),
    Case("kill-NUL", lambda t: write_once(t.path("web", "kill"), b"1\0"), errno.EINVAL),
    Case("kill-O_TRUNC-11", lambda t: write_once(t.path("web", "kill"), b"11\n",
                                                 os.O_WRONLY | os.O_TRUNC), errno.EINVAL),
    Case("kill-read", lambda t: os.open(t.path("web", "kill"), os.O_RDONLY), errno.EACCES),
    # --- uid_map / gid_map (the kernel's answers, passed through)
    Case("uid_map-garbage", lambda t: write_once(t.path("u", "uid_map"), b"garbage\n"),
         errno.EINVAL),
    Case("uid_map-1MiB", lambda t: write_once(t.path("u", "uid_map"), b"0" * MiB), errno.EINVAL),
    Case("uid_map-NUL", lambda t: write_once(t.path("u", "uid_map"), b"0 0\0 1\n"), errno.EINVAL),
    Case("uid_map-two-fields", lambda t: write_once(t.path("u", "uid_map"), b"0 0\n"),
         errno.EINVAL),
    Case("uid_map-negative", lambda t: write_once(t.path("u", "uid_map"), b"-1 0 1\n"),
         errno.EINVAL),
    Case("gid_map-garbage", lambda t: write_once(t.path("u", "gid_map"), b"garbage\n"),
         errno.EINVAL),
    Case("gid_map-1MiB", lambda t: write_once(t.path("u", "gid_map"), b"x" * MiB), errno.EINVAL),
    Case("uid_map-without-user-ns", lambda t: write_once(t.path("web", "uid_map"), b"0 0 1\n"),
         errno.ENOENT),
    # --- cgroup interface files (the kernel's answers, passed through)
    Case("controller-garbage", lambda t: ctl_write(t, b"garbage\n"), errno.EINVAL),
    Case("controller-1MiB", lambda t: ctl_write(t, b"g" * MiB), errno.E2BIG,
         "the kernel's answer for a PSI trigger longer than a page"),
    Case("controller-read-only-open", lambda t: ctl_write(t, b"", writable=False), errno.EACCES),
    Case("controller-read-only-truncate", ctl_truncate, errno.EACCES),
    Case("controller-unknown", lambda t: write_once(t.path("web", "memory.nosuch"), b"1\n"),
         errno.ENOENT),
    # --- read-only files
    Case("init-O_WRONLY", lambda t: os.open(t.path("web", "init"), os.O_WRONLY), errno.EACCES),
    Case("init-O_RDWR", lambda t: os.open(t.path("web", "init"), os.O_RDWR), errno.EACCES),
    Case("init-O_APPEND", lambda t: os.open(t.path("web", "init"), os.O_WRONLY | os.O_APPEND),
         errno.EACCES),
    Case("init-O_TRUNC", lambda t: os.open(t.path("web", "init"), os.O_WRONLY | os.O_TRUNC),
         errno.EACCES),
    Case("init-truncate", lambda t: os.truncate(t.path("web", "init"), 0), errno.EACCES),
    Case("events-O_WRONLY", lambda t: os.open(t.path("web", "events"), os.O_WRONLY), errno.EACCES),
    Case("events-truncate", lambda t: os.truncate(t.path("web", "events"), 0), errno.EACCES),
    Case("init-chmod", lambda t: os.chmod(t.path("web", "init"), 0o666), errno.EPERM),
    Case("dir-chmod", lambda t: os.chmod(t.path("web"), 0o777), errno.EPERM),
    # --- names
    Case("mkdir-256-bytes", lambda t: os.mkdir(t.path("n" * 256)), errno.ENAMETOOLONG),
    Case("mkdir-256-bytes-nested", lambda t: os.mkdir(t.path("web", "n" * 256)),
         errno.ENAMETOOLONG),
    Case("mkdir-256-bytes-non-utf8", lambda t: mkdir_b(t, b"\xff" * 256), errno.ENAMETOOLONG),
    Case("mkdir-1000-bytes", lambda t: os.mkdir(t.path("n" * 1000)), errno.ENAMETOOLONG),
    Case("symlink-256-byte-name", lambda t: os.symlink("x", t.path("web", "l" * 256)),
         errno.ENAMETOOLONG),
    Case("rename-to-256-bytes", lambda t: os.rename(t.path("other"), t.path("r" * 256)),
         errno.ENAMETOOLONG),
    Case("mkdir-existing", lambda t: os.mkdir(t.path("web", "db")), errno.EEXIST),
    Case("mkdir-inside-tasks", lambda t: os.mkdir(t.path("web", "tasks", "x")), errno.ENOTDIR),
    Case("mkdir-inside-ns-link", lambda t: os.mkdir(t.path("web", "network", "x")), errno.ENOTDIR),
    Case("mkdir-inside-root-tasks", lambda t: os.mkdir(t.path("tasks", "x")), errno.ENOTDIR),
    Case("mkdir-inside-root-ns", lambda t: os.mkdir(t.path("user", "x")), errno.ENOTDIR),
    Case("rmdir-root-tasks", lambda t: os.rmdir(t.path("tasks")), errno.ENOTDIR),
    Case("rmdir-root-ns", lambda t: os.rmdir(t.path("network")), errno.ENOTDIR),
    Case("rmdir-root-self", lambda t: os.rmdir(t.path("self")), errno.ENOTDIR),
    Case("rmdir-file", lambda t: os.rmdir(t.path("web", "hostname")), errno.ENOTDIR),
    Case("rmdir-with-children", lambda t: os.rmdir(t.path("web")), errno.ENOTEMPTY),
    Case("unlink-root-tasks", lambda t: os.unlink(t.path("tasks")), errno.EPERM),
    Case("unlink-root-ns", lambda t: os.unlink(t.path("network")), errno.EPERM),
    Case("unlink-root-self", lambda t: os.unlink(t.path("self")), errno.EPERM),
    Case("unlink-init", lambda t: os.unlink(t.path("web", "init")), errno.EPERM),
    Case("unlink-container", lambda t: os.unlink(t.path("web")), errno.EISDIR),
    Case("unlink-absent-ns", lambda t: os.unlink(t.path("other", "uts")), errno.ENOENT),
    Case("rename-tasks", lambda t: os.rename(t.path("web", "tasks"), t.path("web", "tasks2")),
         errno.EPERM),
    Case("rename-ns-onto-ns", lambda t: os.rename(t.path("web", "network"), t.path("web", "uts")),
         errno.EPERM),
    Case("rename-ns-to-other-container",
         lambda t: os.rename(t.path("web", "network"), t.path("other", "network")), errno.EPERM),
    Case("rename-root-tasks", lambda t: os.rename(t.path("tasks"), t.path("tasks2")), errno.EPERM),
    Case("rename-root-ns", lambda t: os.rename(t.path("user"), t.path("web", "user")), errno.EPERM),
    Case("rename-container-onto-file", lambda t: os.rename(t.path("other"), t.path("web", "init")),
         errno.ENOTDIR, "the kernel's check: a directory cannot replace a file"),
    Case("rename-onto-container", lambda t: os.rename(t.path("other"), t.path("web")),
         errno.ENOTEMPTY),
    Case("rename-into-other-parent", lambda t: os.rename(t.path("other"), t.path("web", "other")),
         errno.ENOTSUP),
    Case("rename-into-itself", lambda t: os.rename(t.path("web"), t.path("web", "db", "web")),
         errno.EINVAL, "the kernel's check: a directory cannot move below itself"),
    Case("link-hard", lambda t: os.link(t.path("web", "tasks"), t.path("web", "t2")), errno.EPERM),
    Case("mkfifo", lambda t: os.mkfifo(t.path("web", "fifo")), errno.ENOENT),
    Case("create-unknown", lambda t: os.open(t.path("web", "newfile"), os.O_CREAT | os.O_WRONLY,
                                             0o644), errno.ENOENT),
    Case("create-excl-existing", lambda t: os.open(t.path("web", "tasks"),
                                                   os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644),
         errno.EEXIST),
    Case("touch-root-ns", lambda t: os.open(t.path("time"), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                                            0o644), errno.EEXIST),
    Case("setxattr", lambda t: os.setxattr(t.path("web"), "user.x", b"1"), errno.ENOTSUP),
    # --- namespace links
    Case("ln-dev-null", lambda t: os.symlink("/dev/null", t.path("other", "uts")), errno.EINVAL),
    Case("ln-etc-passwd", lambda t: os.symlink("/etc/passwd", t.path("other", "uts")),
         errno.EINVAL),
    Case("ln-a-directory", lambda t: os.symlink("/tmp", t.path("other", "network")), errno.EINVAL),
    Case("ln-proc-self", lambda t: os.symlink("/proc/self", t.path("other", "network")),
         errno.EINVAL),
    Case("ln-dangling-outside", lambda t: os.symlink("/nonexistent/ns", t.path("other", "uts")),
         errno.ENOENT),
    Case("ln-wrong-type-outside", lambda t: os.symlink("/proc/self/ns/net", t.path("other", "uts")),
         errno.EINVAL),
    Case("ln-wrong-type-in-tree", lambda t: os.symlink("../web/network", t.path("other", "uts")),
         errno.EINVAL),
    Case("ln-not-ns-in-tree", lambda t: os.symlink("../web/tasks", t.path("other", "uts")),
         errno.EINVAL),
    Case("ln-container-dir", lambda t: os.symlink("../web", t.path("other", "uts")), errno.EINVAL),
    Case("ln-dangling-in-tree", lambda t: os.symlink("../nosuch/uts", t.path("other", "uts")),
         errno.ENOENT),
    Case("ln-inherited-file", lambda t: os.symlink("../other/network",
                                                   t.path("web", "db", "network")), errno.EEXIST,
         "web/db/network exists (own): EEXIST before the target is looked at"),
    Case("ln-to-itself", lambda t: os.symlink("./uts", t.path("other", "uts")), errno.ENOENT,
         "a link to itself: its target does not exist (yet)"),
    Case("ln-to-inherited-file", lambda t: os.symlink("../other/network", t.path("other", "uts")),
         errno.EINVAL, "other has no network file (inherited) and it would be the wrong type"),
    Case("ln-to-inherited-same-type", lambda t: os.symlink("../other/uts", t.path("other", "uts")),
         errno.ENOENT, "other/uts is inherited: no such file to share"),
    Case("ln-outside-loop", "outside_loop", errno.ELOOP),
    Case("ln-onto-existing", lambda t: os.symlink("../web/uts", t.path("web", "db", "uts")),
         errno.EEXIST),
    Case("ln-root-ns", lambda t: os.symlink("/proc/1/ns/net", t.path("network")), errno.EEXIST),
    Case("ln-onto-tasks", lambda t: os.symlink("x", t.path("web", "tasks")), errno.EEXIST),
    Case("ln-onto-container", lambda t: os.symlink("x", t.path("web", "db")), errno.EEXIST),
]


@pytest.fixture
def tree(cfs, procs):
    return Tree(cfs, procs)


def run_case(t, case, tmp_path):
    op = case.op
    if op == "outside_loop":
        op = lambda t: outside_loop(t, tmp_path)  # noqa: E731
    before = fingerprint(t)
    err = errno_of(op, t)
    after = fingerprint(t)
    return err, before, after


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=f"daemon bug: {c.bug}")]
                  if c.bug else []) for c in CASES])
def test_bad_input(tree, case, tmp_path):
    err, before, after = run_case(tree, case, tmp_path)
    assert err == case.err, (f"{case.id}: got {errname(err)}, expected {errname(case.err)}"
                             + (f" ({case.note})" if case.note else ""))
    assert after == before, f"{case.id} changed the tree:\n" + "\n".join(diff(before, after))
    for c in tree.containers:
        assert helpers.alive(tree.init(c)), c
    assert helpers.alive(tree.sleeper)


def test_the_table_is_big_enough():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES), "duplicate case ids"


# ---------------------------------------------------------------- reserved names

@pytest.mark.parametrize("where", ["", "web"])
def test_every_reserved_name_as_mkdir_and_rename_target(tree, where):
    """mkdir NAME: EEXIST. mv other NAME (same parent): EEXIST where the
    name is free, ENOTDIR where a file of that name is there (the kernel's
    check before the daemon is asked, as on any Linux file system)."""
    src = "other" if where == "" else os.path.join("web", "db")
    results = {}
    before = fingerprint(tree)
    for name in helpers.RESERVED_NAMES:
        target = tree.path(where, name)
        want_rename = errno.ENOTDIR if os.path.lexists(target) else errno.EEXIST
        got = (errno_of(os.mkdir, target), errno_of(os.rename, tree.path(src), target))
        if got != (errno.EEXIST, want_rename):
            results[name] = tuple(errname(e) for e in got)
    assert results == {}, f"wrong errnos (mkdir, rename): {results}"
    after = fingerprint(tree)
    assert after == before, "\n".join(diff(before, after))


# ---------------------------------------------------------------- pid lists

def sleepers(t, n):
    return [t.procs.sleep(1000).pid for _ in range(n)]


def test_pid_list_with_garbage_in_the_middle_moves_nothing(tree):
    """The list is parsed whole before anything moves."""
    a, b = sleepers(tree, 2)
    before = {p: helpers.cgroup_of(p) for p in (a, b)}
    err = write_errno(tree.path("other", "tasks"), f"{a}\nzz\n{b}\n")
    assert err == errno.EINVAL, errname(err)
    assert tree.cfs.task_pids("other") == []
    assert {p: helpers.cgroup_of(p) for p in (a, b)} == before


def write_rest(path, data):
    """write(2)s of data until one fails, as stdio does after a short one:
    (the bytes taken, the errno of the failing write or 0)."""
    fd = os.open(path, os.O_WRONLY)
    taken = 0
    try:
        while taken < len(data):
            taken += os.write(fd, data[taken:])
    except OSError as e:
        return taken, e.errno
    finally:
        os.close(fd)
    return taken, 0


def test_pid_list_with_a_missing_process_in_the_middle_ends_short(tree):
    """The pids move in order: the write takes the line of the first, and
    the rest, written again, fails with ESRCH for the missing one; the one
    after it is not tried."""
    a, b = sleepers(tree, 2)
    home_b = helpers.cgroup_of(b)
    data = f"{a}\n{unused_pid()}\n{b}\n".encode()
    assert write_rest(tree.path("other", "tasks"), data) == (len(f"{a}\n"), errno.ESRCH)
    assert tree.cfs.task_pids("other") == [a]
    assert helpers.cgroup_of(b) == home_b


@pytest.mark.parametrize("refused", ["init", "daemon"])
def test_pid_list_stops_at_the_first_refused_process(tree, refused):
    """A pid refused by the checks after look-up (an init, the daemon): the
    ones before it were moved (and stay moved, the write ends short after
    them), the ones after were not, and the rest written again fails."""
    a, b, c = sleepers(tree, 3)
    bad = tree.init("web") if refused == "init" else tree.cfs.daemon.pid
    home_b = helpers.cgroup_of(b)
    data = f"{a}\n{c}\n{bad}\n{b}\n".encode()
    assert write_rest(tree.path("other", "tasks"), data) == (len(f"{a}\n{c}\n"), errno.EINVAL)
    assert sorted(tree.cfs.task_pids("other")) == sorted([a, c])
    assert helpers.cgroup_of(b) == home_b
    # The refused process is untouched and nobody is left stopped or traced.
    for p in (a, b, c):
        st = helpers.proc_status(p)
        assert st["State"][0] not in "Tt" and st["TracerPid"] == "0", (p, st["State"])
    assert helpers.alive(tree.init("web"))


def test_duplicate_and_zero_padded_pids(tree):
    (a,) = sleepers(tree, 1)
    assert write_once(tree.path("other", "tasks"), f"{a}\n{a}\n00{a}\n") > 0
    assert tree.cfs.task_pids("other") == [a]


# ---------------------------------------------------------------- partial writes

def test_each_write_is_one_command(tree):
    """A line written in pieces: each write(2) is taken as a whole command,
    as cgroupfs does, whatever the offset and flags."""
    (a,) = sleepers(tree, 1)
    # The pid without its newline is a complete command: it moves.
    assert write_once(tree.path("web", "tasks"), str(a)) == len(str(a))
    assert tree.cfs.task_pids("web") == [a]
    # The newline alone is then a blank line: nothing to move.
    before = fingerprint(tree)
    assert errno_of(w_parts, tree.path("web", "tasks"), b"\n") == 0
    assert fingerprint(tree) == before
    # Hostname in two pieces: the second write replaces the first.
    w_parts(tree.path("web", "hostname"), b"ab", b"cd\n")
    assert read_bytes(tree.path("web", "hostname")) == b"cd\n"
    # O_APPEND, O_TRUNC and an offset change nothing about it.
    write_once(tree.path("web", "hostname"), b"app\n", os.O_WRONLY | os.O_APPEND)
    assert read_bytes(tree.path("web", "hostname")) == b"app\n"
    write_once(tree.path("web", "hostname"), b"tru\n", os.O_WRONLY | os.O_TRUNC)
    assert read_bytes(tree.path("web", "hostname")) == b"tru\n"
    write_once(tree.path("web", "hostname"), b"off\n", offset=12345)
    assert read_bytes(tree.path("web", "hostname")) == b"off\n"
    # A pid on an O_APPEND open, and at an offset: moved all the same.
    b, c = sleepers(tree, 2)
    write_once(tree.path("web", "tasks"), f"{b}\n", os.O_WRONLY | os.O_APPEND)
    write_once(tree.path("web", "tasks"), f"{c}\n", offset=4096)
    assert sorted(tree.cfs.task_pids("web")) == sorted([a, b, c])


# ---------------------------------------------------------------- symlink loops

def test_symlink_loop_inside_a_container(tree):
    """ln -s a b; ln -s b a in a container directory: both are kept as stray
    links (what ln -sf needs), opening either is ELOOP, neither can become
    a namespace file (ENOENT: the tree has no such namespace), rm takes
    them away and the tree is as before."""
    before = fingerprint(tree)
    os.symlink("a", tree.path("web", "b"))
    os.symlink("b", tree.path("web", "a"))
    assert {"a", "b"} <= set(os.listdir(tree.path("web")))
    assert os.readlink(tree.path("web", "a")) == "b"
    assert errno_of(os.open, tree.path("web", "a"), os.O_RDONLY) == errno.ELOOP
    assert errno_of(os.stat, tree.path("web", "b")) == errno.ELOOP
    # Onto a namespace file: a target that is no namespace.
    middle = fingerprint(tree)
    assert errno_of(os.symlink, "a", tree.path("other", "uts")) == errno.ENOENT
    assert errno_of(os.symlink, "../web/a", tree.path("other", "uts")) == errno.ENOENT
    assert fingerprint(tree) == middle
    os.symlink("b", tree.path("other", "a2"))
    err = errno_of(os.rename, tree.path("other", "a2"), tree.path("other", "uts"))
    assert err == errno.ENOENT, errname(err)
    assert os.readlink(tree.path("other", "a2")) == "b"  # the refused rename kept it
    os.unlink(tree.path("other", "a2"))
    os.unlink(tree.path("web", "a"))
    os.unlink(tree.path("web", "b"))
    assert fingerprint(tree) == before


def test_stray_link_cannot_become_a_file_that_is_not_a_namespace(tree):
    before = fingerprint(tree)
    os.symlink("../web/uts", tree.path("other", "tmp1"))
    for target in ("tasks", "hostname", "kill", "db2"):
        err = errno_of(os.rename, tree.path("other", "tmp1"), tree.path("other", target))
        assert err == errno.EPERM, (target, errname(err))
    os.unlink(tree.path("other", "tmp1"))
    assert fingerprint(tree) == before


# ---------------------------------------------------------------- names that work

def test_non_utf8_and_255_byte_names_are_containers(tree):
    """Names are bytes: anything but '/' and NUL, up to 255 of them."""
    cfs = tree.cfs
    root = os.fsencode(cfs.mnt)
    names = [b"\xff\xfe", b"caf\xe9", b"\xc3\x28bad", b"x" * 255, b"\xff" * 255]
    for n in names:
        os.mkdir(root + b"/" + n)
    listed = set(os.listdir(root))
    for n in names:
        assert n in listed, n
        with open(root + b"/" + n + b"/init", "rb") as f:
            assert helpers.alive(int(f.read()))
    # Renamed to another non-UTF-8 name, then removed: nothing left.
    os.rename(root + b"/\xff\xfe", root + b"/\xfe\xff")
    assert b"\xfe\xff" in os.listdir(root) and b"\xff\xfe" not in os.listdir(root)
    for n in [b"\xfe\xff"] + names[1:]:
        os.rmdir(root + b"/" + n)
    assert len(helpers.child_cgroups(cfs.cgroup)) == 3  # web, other, u
    cfs.restart()
    assert sorted(os.listdir(cfs.mnt)) == sorted(
        set(helpers.ALL_NS_FILES) | {"self", "tasks", "web", "other", "u"})


# ---------------------------------------------------------------- adoption of /proc/self/ns

def test_proc_self_ns_of_the_writer_adopts_the_writers_namespace(tree):
    """The writer, in a network namespace of its own, links /proc/self/ns/net:
    that namespace (the writer's) is what the container must get."""
    cfs = tree.cfs
    target = cfs.path("other", "network")
    p = helpers.run(["unshare", "--net", "sh", "-c",
                     'stat -L -c %i /proc/self/ns/net && ln -s /proc/self/ns/net "$1" && '
                     'sleep 0.2', "sh", target])
    writer_ns = int(p.stdout.split()[0])
    init = cfs.init_pid("other")
    assert helpers.proc_ns_ino(init, "network") == writer_ns, (
        f"container got {helpers.proc_ns_ino(init, 'network')}, the writer's is {writer_ns}, "
        f"the daemon's {helpers.proc_ns_ino(cfs.daemon.pid, 'network')}")
    # And the link, read by anyone, opens that namespace.
    assert helpers.stat_L_ino(target) == writer_ns


def test_proc_self_ns_of_a_writer_in_the_daemons_namespace(tree):
    """Where writer and daemon share the namespace the adoption is right,
    whatever the reading: the container gets it, type-checked, uts too."""
    cfs = tree.cfs
    os.symlink("/proc/self/ns/uts", cfs.path("other", "uts"))
    init = cfs.init_pid("other")
    assert helpers.proc_ns_ino(init, "uts") == os.stat("/proc/self/ns/uts").st_ino
    # Adopted through /proc: the link opens it through the init that holds it.
    assert os.readlink(cfs.path("other", "uts")) == f"/proc/{init}/ns/uts"
    # Wrong type through /proc/self: refused.
    assert errno_of(os.symlink, "/proc/self/ns/uts", cfs.path("other", "network")) == errno.EINVAL
    assert errno_of(os.symlink, "/proc/thread-self/ns/ipc", cfs.path("other", "network")) == \
        errno.EINVAL


# ---------------------------------------------------------------- stress (CI)

@pytest.mark.parametrize("args", [["--seconds", "10"], ["--seconds", "20", "--kill-every", "7"]],
                         ids=["steady", "daemon-killed"])
def test_stress_script_short_run(tmp_path, args):
    """test/stress/run briefly: 8 clients, one of them a delegated user, no
    hang, nothing leaked; with the daemon killed every ~7 s, the clients
    reconcile with the restarted daemon's tree and the run counts the
    restarts."""
    if os.geteuid() != 0:
        pytest.skip("root only")
    script = REPO / "test" / "stress" / "run"
    env = dict(os.environ)
    env.setdefault("CONTAINERFS_BUILD", str(REPO / "build"))
    env["TMPDIR"] = str(tmp_path)
    p = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                       text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
    summary = [line for line in p.stdout.splitlines() if line.startswith("stress:")]
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    assert summary and " 0 failures" in summary[-1], p.stdout[-4000:]
    assert " as the user" in summary[-1], summary[-1]
    restarts = int(re.search(r" (\d+) restarts", summary[-1]).group(1))
    assert (restarts > 0) == ("--kill-every" in args), summary[-1]
