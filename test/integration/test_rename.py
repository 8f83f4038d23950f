"""mv renames a container within its parent; the cgroup keeps its id, the
init and namespaces stay, the record takes the new name."""
import errno
import os

import pytest

import helpers
from helpers import errno_of, run


def test_mv_renames_keeping_cgroup_and_init(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    cg = cfs.cgroup_dir_of("web")
    ns = helpers.stat_L_ino(cfs.path("web", "network"))
    run(["mv", cfs.path("web"), cfs.path("www")])
    entries = os.listdir(cfs.mnt)
    assert "www" in entries and "web" not in entries
    assert not os.path.exists(cfs.path("web"))
    assert cfs.init_pid("www") == init
    assert cfs.cgroup_dir_of("www") == cg
    assert helpers.child_cgroups(cfs.cgroup) == [os.path.basename(cg)]
    assert helpers.all_cgroup_procs(cg) == [init]
    assert helpers.alive(init)
    assert helpers.stat_L_ino(cfs.path("www", "network")) == ns
    # The recorded name follows (what a restarted daemon will read).
    record = helpers.read_record(cg)
    assert "name www" in record and "name web" not in record, record
    # The name is usable again.
    cfs.mkdir("web")
    assert cfs.init_pid("web") != init
    assert len(helpers.child_cgroups(cfs.cgroup)) == 2


def test_mv_nested_within_parent(cfs):
    run(["mkdir", "-p", cfs.path("a", "b")])
    init = cfs.init_pid("a/b")
    cg = cfs.cgroup_dir_of("a/b")
    run(["mv", cfs.path("a", "b"), cfs.path("a", "c")])
    assert cfs.init_pid("a/c") == init
    assert cfs.cgroup_dir_of("a/c") == cg
    assert sorted(n for n in os.listdir(cfs.path("a")) if n in ("b", "c")) == ["c"]


def test_mv_to_another_parent_is_refused(cfs):
    cfs.mkdir("a", "b", "a/x")
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    x_init = cfs.init_pid("a/x")
    err = errno_of(os.rename, cfs.path("a", "x"), cfs.path("b", "x"))
    assert err == errno.ENOTSUP, helpers.errname(err)
    assert err != errno.EXDEV
    p = run(["mv", cfs.path("a", "x"), cfs.path("b", "x")], check=False)
    assert p.returncode != 0
    assert "Operation not supported" in p.stderr, p.stderr
    # mv did not fall back to copying.
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
    assert cfs.init_pid("a/x") == x_init
    # Up to the root and down into a sibling are refused too.
    assert errno_of(os.rename, cfs.path("a", "x"), cfs.path("x")) == errno.ENOTSUP
    assert errno_of(os.rename, cfs.path("b"), cfs.path("a", "b")) == errno.ENOTSUP
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before


def test_mv_onto_existing_container(cfs):
    cfs.mkdir("a", "b")
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    inits = cfs.init_pid("a"), cfs.init_pid("b")
    assert errno_of(os.rename, cfs.path("a"), cfs.path("b")) == errno.ENOTEMPTY
    p = run(["mv", "-T", cfs.path("a"), cfs.path("b")], check=False)
    assert p.returncode != 0 and "Directory not empty" in p.stderr, p.stderr
    assert errno_of(helpers.renameat2, cfs.path("a"), cfs.path("b"),
                    helpers.RENAME_NOREPLACE) == errno.EEXIST
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
    assert (cfs.init_pid("a"), cfs.init_pid("b")) == inits
    assert all(helpers.alive(p) for p in inits)


def test_renameat2_noreplace_to_free_name_works(cfs):
    cfs.mkdir("a")
    init = cfs.init_pid("a")
    helpers.renameat2(cfs.path("a"), cfs.path("z"), helpers.RENAME_NOREPLACE)
    assert cfs.init_pid("z") == init
    assert not os.path.exists(cfs.path("a"))


@pytest.mark.parametrize("target", ["hostname", "memory.max", "cgroup.procs", "init", "kill"])
def test_mv_to_reserved_name_is_refused(cfs, target):
    cfs.mkdir("a")
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    err = errno_of(os.rename, cfs.path("a"), cfs.path(target))
    assert err == errno.EEXIST, helpers.errname(err)
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before


def test_mv_of_a_file_is_refused(cfs):
    cfs.mkdir("a")
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    err = errno_of(os.rename, cfs.path("a", "tasks"), cfs.path("a", "t2"))
    assert err == errno.EPERM, helpers.errname(err)
    err = errno_of(os.rename, cfs.path("a", "network"), cfs.path("a", "n2"))
    assert err == errno.EPERM, helpers.errname(err)
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
