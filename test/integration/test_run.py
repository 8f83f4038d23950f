"""`run`: each line written starts /bin/sh -c LINE inside the container, a
child of its init, in its members' cgroup, on its console.

The kernel says where each program is: /proc/PID/status (PPid, NSpid,
Uid), /proc/PID/cgroup, /proc/PID/cwd and /proc/PID/environ.
"""
import os

import pytest

import helpers
from helpers import (AS_USER, USER_ID, cgroup_of, cgroup_path, errname, nspid, ppid, read_record, run,
                     run_in, snapshot, wait_console, wait_until, write_errno)


def only_member(cfs, container):
    pids = cfs.task_pids(container)
    assert len(pids) == 1, pids
    return pids[0]


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(e.split(b"=", 1) for e in f.read().split(b"\0") if e)


def test_a_line_starts_a_child_of_the_init_inside(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "exec sleep 100") == 0
    # The write returned once it was executing: already a member.
    pid = only_member(cfs, "web")
    init = cfs.init_pid("web")
    assert ppid(pid) == init
    assert len(nspid(pid)) == len(nspid(init))
    assert nspid(pid)[-1] > 1
    for name in helpers.DEFAULT_FRESH:
        assert helpers.proc_ns_ino(pid, name) == helpers.proc_ns_ino(init, name), name
    assert cgroup_path(cgroup_of(pid)) == cfs.members_cgroup("web")
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    env = environ(pid)
    assert env[b"PATH"] == b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env[b"HOME"] == b"/"
    wait_until(lambda: helpers.cmdline(pid).startswith("sleep"), 5, what="the exec of sleep")


def test_the_write_returns_once_the_program_runs(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "echo started; exec sleep 100") == 0
    assert len(cfs.task_pids("web")) == 1
    wait_console(cfs, "web", "started")


def test_each_line_starts_a_program(cfs):
    cfs.mkdir("web")
    assert write_errno(cfs.path("web", "run"), "exec sleep 101\n\nexec sleep 102\r\n") == 0
    wait_until(lambda: sorted(helpers.cmdline(p) for p in cfs.task_pids("web")) == ["sleep 101", "sleep 102"],
               5, what="both sleeps")


def test_a_program_run_in_a_root_uses_its_sh(cfs, busybox_root):
    cfs.mkdir("web")
    os.symlink(str(busybox_root), cfs.path("web", "root"))
    assert run_in(cfs, "web", "cat /etc/marker; exec sleep 100") == 0
    wait_console(cfs, "web", "busybox root")
    # Once cat is gone: the shell, now sleep, busybox all along.
    wait_until(lambda: [helpers.cmdline(p) for p in cfs.task_pids("web")] == ["sleep 100"], 5,
               what="sleep alone in web")
    pid = only_member(cfs, "web")
    assert os.readlink(f"/proc/{pid}/exe").endswith("/bin/busybox")


def test_no_sh_in_the_root_is_enoent_and_starts_nothing(cfs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cfs.mkdir("web")
    os.symlink(str(empty), cfs.path("web", "root"))
    before = snapshot(cfs.mnt, cfs.cgroup)
    assert errname(run_in(cfs, "web", "true")) == "ENOENT"
    wait_until(lambda: cfs.task_pids("web") == [], 5, what="nothing left in web")
    assert snapshot(cfs.mnt, cfs.cgroup) == before


@pytest.mark.parametrize("text", ["\n", "  \n\t\n", "\r\n", "echo a\0b\n"])
def test_no_command_line_is_einval(cfs, text):
    cfs.mkdir("web")
    before = snapshot(cfs.mnt, cfs.cgroup)
    assert errname(write_errno(cfs.path("web", "run"), text)) == "EINVAL"
    assert snapshot(cfs.mnt, cfs.cgroup) == before
    assert cfs.task_pids("web") == []


def test_run_is_write_only(cfs):
    cfs.mkdir("web")
    assert oct(os.stat(cfs.path("web", "run")).st_mode & 0o777) == oct(0o200)
    assert errname(helpers.errno_of(os.open, cfs.path("web", "run"), os.O_RDONLY)) == "EACCES"


def test_a_frozen_container_runs_nothing(cfs):
    cfs.mkdir("web")
    assert write_errno(cfs.path("web", "freeze"), "1") == 0
    before = snapshot(cfs.mnt, cfs.cgroup)
    assert errname(run_in(cfs, "web", "exec sleep 100")) == "EBUSY"
    assert snapshot(cfs.mnt, cfs.cgroup) == before
    assert write_errno(cfs.path("web", "freeze"), "0") == 0
    assert cfs.task_pids("web") == []


def test_namespaces_stay_fixed_once_a_program_runs(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "exec sleep 100") == 0
    before = (cfs.init_pid("web"), read_record(cfs.cgroup_dir_of("web")))
    assert errname(helpers.errno_of(os.unlink, cfs.path("web", "uts"))) == "EBUSY"
    assert (cfs.init_pid("web"), read_record(cfs.cgroup_dir_of("web"))) == before


def test_programs_survive_a_daemon_restart_and_run_again_after(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "exec sleep 100") == 0
    pid = only_member(cfs, "web")
    cfs.restart()
    assert cfs.task_pids("web") == [pid]
    assert run_in(cfs, "web", "echo again") == 0
    wait_console(cfs, "web", "again")


# ------------------------------------------------------------------ delegated users

def test_a_users_program_is_its_root_inside_and_itself_outside(delegated):
    run([*AS_USER, "mkdir", delegated.path("users", "box")])
    r = helpers.shell_echo("exec sleep 100", delegated.path("users", "box", "run"), prefix=AS_USER)
    assert r.returncode == 0, r.stderr
    pid = only_member(delegated, "users/box")
    status = helpers.proc_status(pid)
    assert status["Uid"].split() == [str(USER_ID)] * 4
    assert status["CapEff"] != "0000000000000000"  # root inside ...
    with open(f"/proc/{pid}/uid_map") as f:
        assert f.read().split() == ["0", str(USER_ID), "1"]  # ... its own user namespace


def test_root_runs_as_the_owner_in_a_delegated_container(delegated):
    run([*AS_USER, "mkdir", delegated.path("users", "box")])
    assert run_in(delegated, "users/box", "exec sleep 100") == 0
    pid = only_member(delegated, "users/box")
    assert helpers.proc_status(pid)["Uid"].split()[0] == str(USER_ID)


def test_a_user_runs_nothing_where_root_is_root(delegated):
    """A container of root's, handed to the user without a user namespace
    of its own: its root is the host's root, more than the user has."""
    delegated.mkdir("web")
    run(["chown", "-R", f"{USER_ID}:{USER_ID}", delegated.path("web")])
    before = snapshot(delegated.mnt, delegated.cgroup)
    r = helpers.shell_echo("exec sleep 100", delegated.path("web", "run"), prefix=AS_USER)
    assert r.returncode != 0 and "not permitted" in r.stderr, r.stderr
    assert snapshot(delegated.mnt, delegated.cgroup) == before
    assert delegated.task_pids("web") == []


def test_a_user_runs_nothing_in_roots_containers(delegated):
    delegated.mkdir("web")
    r = helpers.shell_echo("true", delegated.path("web", "run"), prefix=AS_USER)
    assert r.returncode != 0 and "denied" in r.stderr, r.stderr
    assert delegated.task_pids("web") == []
