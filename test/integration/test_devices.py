"""`devices`: the device whitelist of a container's members, in cgroup v1's
devices.list form, enforced by a BPF device program on the container's
cgroup. The kernel's answer is what counts: real programs opening and
making device nodes get EPERM or not.
"""
import os

import pytest

import helpers
from helpers import (AS_USER, errname, read_record, read_text, run, run_in, wait_console,
                     write_errno)

OWN_DEV_LISTING = ("c 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\n"
                   "c 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm\n")
# Reads a byte of /dev/zero, writes one to /dev/null (error messages
# silenced: stderr closed); says which worked.
PROBE = ("(exec 2>&-; head -c1 /dev/zero >/dev/null) && echo zero-ok || echo zero-denied; "
         "(exec 2>&-; echo x >/dev/null) && echo null-ok || echo null-denied")


def devices(cfs, container):
    return read_text(cfs.path(container, "devices"))


def member_shell(cfs, procs, container):
    sh = procs.shell()
    cfs.enter(container, sh.pid)
    return sh


def test_defaults_all_without_a_root_the_dev_set_with_one(cfs, busybox_root):
    cfs.mkdir("web", "box")
    assert devices(cfs, "web") == "a *:* rwm\n"
    os.symlink(str(busybox_root), cfs.path("box", "root"))
    assert devices(cfs, "box") == OWN_DEV_LISTING
    st = os.stat(cfs.path("web", "devices"))
    assert oct(st.st_mode & 0o777) == oct(0o644)


def test_a_write_takes_effect_at_once_also_for_members(cfs, procs):
    cfs.mkdir("web")
    sh = member_shell(cfs, procs, "web")
    assert sh.run(PROBE).split() == ["zero-ok", "null-ok"]
    assert write_errno(cfs.path("web", "devices"), "-a\nc 1:3 rwm\n") == 0
    assert devices(cfs, "web") == "c 1:3 rwm\n"
    assert sh.run(PROBE).split() == ["zero-denied", "null-ok"]
    out = sh.run("head -c1 /dev/zero")
    assert "Operation not permitted" in out
    assert write_errno(cfs.path("web", "devices"), "c 1:5 r\n") == 0
    assert devices(cfs, "web") == "c 1:3 rwm\nc 1:5 r\n"
    assert sh.run(PROBE).split() == ["zero-ok", "null-ok"]
    assert write_errno(cfs.path("web", "devices"), "-c 1:5 r\n") == 0
    assert sh.run(PROBE).split() == ["zero-denied", "null-ok"]


def test_mknod_inside_a_root_gives_eperm_beyond_the_whitelist(cfs, busybox_root):
    cfs.mkdir("web")
    os.symlink(str(busybox_root), cfs.path("web", "root"))
    assert run_in(cfs, "web", "mknod /tmp/null2 c 1 3 && echo made-null; "
                              "mknod /tmp/loop0 c 7 0 || echo loop-refused; "
                              "cat /dev/null && echo read-null; echo end") == 0
    out = wait_console(cfs, "web", "end\r\n").decode()
    assert "made-null" in out
    assert "loop-refused" in out and "Operation not permitted" in out
    assert "read-null" in out
    assert not os.path.exists(busybox_root / "tmp" / "loop0")


def test_allowing_a_device_lets_a_root_container_make_it(cfs, busybox_root):
    cfs.mkdir("web")
    os.symlink(str(busybox_root), cfs.path("web", "root"))
    assert write_errno(cfs.path("web", "devices"), "c 10:200 rwm\n") == 0
    assert devices(cfs, "web") == OWN_DEV_LISTING.replace("c 136:*", "c 10:200 rwm\nc 136:*")
    assert run_in(cfs, "web", "mknod /tmp/tun c 10 200 && echo made-tun; echo end") == 0
    assert "made-tun" in wait_console(cfs, "web", "end\r\n").decode()


def test_a_child_never_gets_more_than_its_parent(cfs, procs):
    cfs.mkdir("web")
    assert write_errno(cfs.path("web", "devices"), "-a\nc 1:3 rwm\n") == 0
    cfs.mkdir("web/db")
    # By default the parent's, enforced by the parent's program.
    assert devices(cfs, "web/db") == "c 1:3 rwm\n"
    sh = member_shell(cfs, procs, "web/db")
    assert sh.run(PROBE).split() == ["zero-denied", "null-ok"]
    before = read_record(cfs.cgroup_dir_of("web/db"))
    for wider in ["c 1:5 r\n", "a\n", "c 1:3 rwm\nb 8:0 r\n"]:
        assert errname(write_errno(cfs.path("web", "db", "devices"), wider)) == "EPERM", wider
        assert devices(cfs, "web/db") == "c 1:3 rwm\n"
        assert read_record(cfs.cgroup_dir_of("web/db")) == before
    # Narrower is fine.
    assert write_errno(cfs.path("web", "db", "devices"), "-c 1:3 w\n") == 0
    assert devices(cfs, "web/db") == "c 1:3 rm\n"
    assert sh.run(PROBE).split() == ["zero-denied", "null-denied"]
    # The parent widening does not widen the child's own.
    assert write_errno(cfs.path("web", "devices"), "c 1:5 rwm\n") == 0
    assert sh.run(PROBE).split() == ["zero-denied", "null-denied"]


def test_the_whitelist_survives_a_daemon_restart(cfs, procs):
    cfs.mkdir("web")
    sh = member_shell(cfs, procs, "web")
    assert write_errno(cfs.path("web", "devices"), "-a\nc 1:3 rwm\n") == 0
    cfs.restart()
    assert devices(cfs, "web") == "c 1:3 rwm\n"
    # The program stayed attached without the daemon.
    assert sh.run(PROBE).split() == ["zero-denied", "null-ok"]
    assert write_errno(cfs.path("web", "devices"), "c 1:5 rwm\n") == 0
    assert sh.run(PROBE).split() == ["zero-ok", "null-ok"]


@pytest.mark.parametrize("line", ["x 1:3 rwm", "c 1:3", "c a:b rwm", "c 1:3 rwq", "c 1:3 rwm extra",
                                  "c 1 rwm", "-"])
def test_malformed_lines_are_einval_and_change_nothing(cfs, procs, line):
    cfs.mkdir("web")
    assert write_errno(cfs.path("web", "devices"), "-a\nc 1:3 rwm\n") == 0
    sh = member_shell(cfs, procs, "web")
    before = read_record(cfs.cgroup_dir_of("web"))
    assert errname(write_errno(cfs.path("web", "devices"), f"c 1:5 rwm\n{line}\n")) == "EINVAL"
    assert devices(cfs, "web") == "c 1:3 rwm\n"
    assert read_record(cfs.cgroup_dir_of("web")) == before
    assert sh.run(PROBE).split() == ["zero-denied", "null-ok"]


def test_the_host_has_no_devices_file(cfs):
    assert "devices" not in os.listdir(cfs.mnt)
    assert errname(write_errno(cfs.path("devices"), "a\n")) == "ENOENT"


def test_a_delegated_user_limits_only_what_is_below_its_container(delegated):
    cfs = delegated
    # Its own container's whitelist stays root's (as its controller files).
    st = os.stat(cfs.path("users", "devices"))
    assert (st.st_uid, st.st_gid) == (0, 0)
    r = helpers.shell_echo("a", cfs.path("users", "devices"), prefix=AS_USER)
    assert r.returncode != 0 and "denied" in r.stderr
    run([*AS_USER, "mkdir", cfs.path("users", "box")])
    r = helpers.shell_echo("-c 1:5 rwm", cfs.path("users", "box", "devices"), prefix=AS_USER)
    assert r.returncode == 0, r.stderr
    assert devices(cfs, "users/box") == "a *:* rwm\n-c 1:5 rwm\n"
