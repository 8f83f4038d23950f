"""Bad input gets a clear errno, and nothing changes.

Each case runs the call the way a program would (Python os calls), checks the
errno, and compares the whole tree (ls of every directory) and the cgroup tree
with its member pids before and after.
"""
import errno
import os

import pytest

import helpers
from helpers import errno_of

@pytest.fixture
def tree(cfs):
    """A container with a child, so both root and container dirs are tried."""
    cfs.mkdir("web", "web/db")
    return cfs


def unchanged(cfs, fn, *args):
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    inits = [cfs.init_pid(c) for c in ("web", "web/db")]
    err = errno_of(fn, *args)
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before, "the tree changed"
    assert [cfs.init_pid(c) for c in ("web", "web/db")] == inits
    assert all(helpers.alive(p) for p in inits)
    return err


@pytest.mark.parametrize("where", ["", "web"])
@pytest.mark.parametrize("name", helpers.RESERVED_NAMES)
def test_mkdir_reserved_name_is_eexist(tree, where, name):
    err = unchanged(tree, os.mkdir, tree.path(where, name))
    assert err == errno.EEXIST, helpers.errname(err)


def test_mkdir_existing_container_is_eexist(tree):
    assert unchanged(tree, os.mkdir, tree.path("web")) == errno.EEXIST
    assert unchanged(tree, os.mkdir, tree.path("web", "db")) == errno.EEXIST


@pytest.mark.parametrize("where", ["", "web"])
def test_name_length_limit(tree, where):
    long = "n" * 256
    err = unchanged(tree, os.mkdir, tree.path(where, long))
    assert err == errno.ENAMETOOLONG, helpers.errname(err)
    # 255 bytes is a valid name: a real container.
    ok = "m" * 255
    before = set(helpers.container_cgroups(tree.cgroup))
    os.mkdir(tree.path(where, ok))
    assert ok in os.listdir(tree.path(where))
    init = tree.init_pid(os.path.join(where, ok))
    assert helpers.alive(init)
    assert len(set(helpers.container_cgroups(tree.cgroup)) - before) == 1
    assert helpers.readlink(tree.path(where, ok, "uts"))
    with open(tree.path(where, ok, "hostname")) as f:
        # The kernel's hostname limit is 64 bytes: cut, not refused.
        assert ok.startswith(f.read().strip())


def test_multibyte_name_of_255_bytes(tree):
    name = "é" * 127 + "x"  # 255 bytes in UTF-8
    assert len(name.encode()) == 255
    os.mkdir(tree.path(name))
    assert name in os.listdir(tree.mnt)
    assert helpers.alive(tree.init_pid(name))
    assert unchanged(tree, os.mkdir, tree.path("é" * 128)) == errno.ENAMETOOLONG


@pytest.mark.parametrize("where", ["", "web"])
def test_dot_and_dotdot(tree, where):
    # What Linux gives for any directory.
    assert unchanged(tree, os.mkdir, tree.path(where, ".")) == errno.EEXIST
    assert unchanged(tree, os.mkdir, tree.path(where, "..")) == errno.EEXIST
    assert unchanged(tree, os.rmdir, tree.path(where, ".")) == errno.EINVAL
    assert unchanged(tree, os.rmdir, tree.path(where, "..")) == errno.ENOTEMPTY
    assert unchanged(tree, os.rename, tree.path("web", "db"), tree.path(where, ".")) == errno.EBUSY
    assert unchanged(tree, os.rename, tree.path("web", "db"), tree.path(where, "..")) == errno.EBUSY
    assert unchanged(tree, os.rename, tree.path(where, "."), tree.path("x")) == errno.EBUSY


@pytest.mark.parametrize("f", ["init", "events"])
def test_write_to_read_only_file_is_eacces(tree, f):
    err = unchanged(tree, os.open, tree.path("web", f), os.O_WRONLY)
    assert err == errno.EACCES, helpers.errname(err)
    err = unchanged(tree, os.open, tree.path("web", f), os.O_RDWR)
    assert err == errno.EACCES, helpers.errname(err)


def test_read_of_kill_is_eacces(tree):
    assert unchanged(tree, os.open, tree.path("web", "kill"), os.O_RDONLY) == errno.EACCES


@pytest.mark.parametrize("where", ["", "web"])
def test_unknown_file_is_enoent(tree, where):
    assert unchanged(tree, os.open, tree.path(where, "nosuchfile"), os.O_RDONLY) == errno.ENOENT
    assert unchanged(tree, os.stat, tree.path(where, "nosuchfile")) == errno.ENOENT
    assert unchanged(tree, os.open, tree.path(where, "nosuchfile"),
                     os.O_WRONLY | os.O_CREAT, 0o644) == errno.ENOENT
    assert unchanged(tree, os.mknod, tree.path(where, "nosuchfile")) == errno.ENOENT


def test_unknown_file_at_root_is_not_a_container_file(tree):
    # The root is the host: it has no init/hostname/kill.
    for f in ["init", "hostname", "kill", "events", "freeze"]:
        assert unchanged(tree, os.stat, tree.path(f)) == errno.ENOENT, f


@pytest.mark.parametrize("where", ["", "web"])
def test_rm_of_tasks_is_eperm(tree, where):
    assert unchanged(tree, os.unlink, tree.path(where, "tasks")) == errno.EPERM


def test_rm_of_container_dir_is_eisdir(tree):
    assert unchanged(tree, os.unlink, tree.path("web")) == errno.EISDIR


@pytest.mark.parametrize("f", ["tasks", "init", "network", "hostname"])
def test_rmdir_of_a_file_is_enotdir(tree, f):
    assert unchanged(tree, os.rmdir, tree.path("web", f)) == errno.ENOTDIR


def test_rmdir_nonexistent_is_enoent(tree):
    assert unchanged(tree, os.rmdir, tree.path("nothere")) == errno.ENOENT
    assert unchanged(tree, os.rmdir, tree.path("web", "nothere")) == errno.ENOENT


def test_mkdir_below_a_missing_parent_is_enoent(tree):
    assert unchanged(tree, os.mkdir, tree.path("nothere", "x")) == errno.ENOENT


def test_shell_messages(tree):
    # The errnos as the real programs report them.
    p = helpers.run(["mkdir", tree.path("web", "hostname")], check=False)
    assert p.returncode != 0 and "File exists" in p.stderr
    p = helpers.run(["rm", "-f", tree.path("web", "tasks")], check=False)
    assert p.returncode != 0 and "Operation not permitted" in p.stderr
    p = helpers.run(["sh", "-c", f"echo 1 > {tree.path('web', 'init')}"], check=False)
    assert p.returncode != 0 and "Permission denied" in p.stderr
    p = helpers.run(["cat", tree.path("web", "kill")], check=False)
    assert p.returncode != 0 and "Permission denied" in p.stderr
    p = helpers.run(["touch", tree.path("web", "newfile")], check=False)
    assert p.returncode != 0 and "No such file or directory" in p.stderr


def test_refusals_are_logged_with_a_reason(tree):
    # The spec: the daemon logs each refusal with its reason (stderr with -f).
    tree.mkdir("other")
    cases = [
        (os.mkdir, (tree.path("web", "memory.max"),), "memory.max"),
        (os.rename, (tree.path("web", "db"), tree.path("other", "db")), "db"),
        (os.rmdir, (tree.path("web"),), "web"),
        (os.unlink, (tree.path("web", "tasks"),), "tasks"),
        (os.open, (tree.path("web", "zzfile"), os.O_WRONLY | os.O_CREAT, 0o644), "zzfile"),
    ]
    for fn, args, word in cases:
        before = tree.log()
        assert errno_of(fn, *args) != 0
        new = tree.log()[len(before):]
        assert word in new, f"no log line for refused {fn.__name__}{args}: {new!r}"
