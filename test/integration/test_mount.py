"""The command line: mount options, the mount's source, exit codes, and one
daemon per cgroup directory."""
import os
import tempfile

import pytest

import helpers
from helpers import mounted_fuse, run


def test_default_mount_is_fuse_containerfs(cfs):
    fields = mounted_fuse(cfs.mnt)
    assert fields, "not in /proc/self/mounts"
    assert fields[0] == "containerfs"
    assert fields[2] == "fuse.containerfs"
    # The daemon owns the cgroup directory it was given, and made it.
    assert os.path.isfile(cfs.cg("cgroup.procs"))


def test_fsname_option_is_the_source(cfs_factory):
    c = cfs_factory(["fsname=cfs-src-x"])
    c.start()
    fields = mounted_fuse(c.mnt)
    assert fields[2] == "fuse.containerfs"
    assert fields[0] == "cfs-src-x", f"/proc/mounts line: {' '.join(fields)}"


def test_source_argument_is_the_source(cfs_factory):
    # mount(8) runs: containerfs SOURCE MOUNTPOINT -o OPTS
    c = cfs_factory()
    c.start(args=["cfs-positional-src"])
    fields = mounted_fuse(c.mnt)
    assert fields[0] == "cfs-positional-src"
    assert fields[2] == "fuse.containerfs"


@pytest.mark.namespaces("uts")
def test_namespaces_option_uts_only(cfs):
    cfs.mkdir("web")
    entries = set(os.listdir(cfs.path("web")))
    assert "uts" in entries
    for other in ["network", "ipc", "pid", "mount", "cgroup", "user", "time"]:
        assert other not in entries, f"{other} file present with namespaces=uts"
    init = cfs.init_pid("web")
    # Kernel: only the uts namespace is the init's own.
    me = os.getpid()
    assert helpers.proc_ns_ino(init, "uts") != helpers.proc_ns_ino(me, "uts")
    for other in ["network", "ipc", "mount", "cgroup", "user", "time"]:
        assert helpers.proc_ns_ino(init, other) == helpers.proc_ns_ino(me, other), other
    assert helpers.stat_L_ino(cfs.path("web", "uts")) == helpers.proc_ns_ino(init, "uts")
    assert run(["nsenter", f"--uts={cfs.path('web', 'uts')}", "hostname"]).stdout.strip() == "web"


@pytest.mark.parametrize("bad", ["namespaces=bogus", "namespaces=net,bogus", "cgroup=relative",
                                 "state="])
def test_invalid_option_exits_1(cfs_factory, bad):
    c = cfs_factory()
    mnt = tempfile.mkdtemp(dir=c.tmp)
    rc, log = c.try_daemon(options=[bad], mnt=mnt)
    assert rc == 1, f"exit {rc}:\n{log}"
    assert bad.split("=")[0] in log, log
    assert not mounted_fuse(mnt)


def test_no_mountpoint_exits_2(cfs_factory):
    c = cfs_factory()
    rc, log = c.try_daemon(mnt="")
    assert rc == 2, f"exit {rc}:\n{log}"
    assert "usage" in log.lower()
    assert not os.path.exists(c.cgroup), "made the cgroup though it could not mount"


def test_second_daemon_on_same_cgroup_is_refused(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    rc, log = cfs.try_daemon()
    assert rc is not None, "second daemon kept running on the same cgroup directory"
    assert rc != 0
    assert cfs.cgroup in log or "another" in log.lower(), f"no reason given:\n{log}"
    # The first one is untouched and still works.
    assert cfs.daemon.running()
    assert helpers.alive(init)
    assert cfs.init_pid("web") == init
    cfs.mkdir("db")
    assert sorted(d for d in os.listdir(cfs.mnt) if os.path.isdir(cfs.path(d))
                  and not os.path.islink(cfs.path(d))) == ["db", "web"]
    assert len(helpers.child_cgroups(cfs.cgroup)) == 2


def test_clean_unmount_exits_0(cfs):
    assert cfs.unmount() == 0
    assert not mounted_fuse(cfs.mnt)


def test_cgroup_outside_the_cgroup2_mount_is_refused(cfs_factory):
    c = cfs_factory()
    outside = os.path.join(str(c.tmp), "not-a-cgroup")
    rc, log = c.try_daemon(options=[f"cgroup={outside}"])
    assert rc not in (None, 0), f"exit {rc}:\n{log}"
    assert not os.path.exists(outside)
