"""A delegated user stays within its rights.

Root delegates a container with chown; the user then works below it with
plain file operations, run here as a real unprivileged user created by the
test. Whatever the daemon does for that user, the user could have done
itself: it moves only processes the kernel would let it ptrace, shares only
namespaces of containers it owns, kills (kill, rmdir) only processes it could
kill, and gets no id map it could not write itself. Each refusal is checked
for its errno and for leaving everything as it was.
"""
import errno
import os
import pty
import secrets
import shutil

import pytest

import helpers
from helpers import run, wait_until
from helpers import assert_untouched, process_view


class Delegated:
    def __init__(self, cfs, uid, gid):
        self.cfs, self.uid, self.gid = cfs, uid, gid

    def prefix(self):
        return helpers.user_prefix(self.uid, self.gid)

    def sh(self, script, timeout=10):
        """Runs a shell script as the user; the CompletedProcess."""
        return run(self.prefix() + ["bash", "-c", script], check=False, timeout=timeout)

    def write(self, path, text):
        """One write(2) by the user: 0 or the errno."""
        code = ("import os,sys\n"
                "try:\n"
                " fd=os.open(sys.argv[1], os.O_WRONLY)\n"
                " os.write(fd, sys.argv[2].encode()); print(0)\n"
                "except OSError as e: print(e.errno)\n")
        r = run(self.prefix() + ["/usr/bin/python3", "-c", code, path, text], timeout=10)
        return int(r.stdout)

    def call(self, code, *args):
        """A python snippet as the user that prints an errno (0: success)."""
        r = run(self.prefix() + ["/usr/bin/python3", "-c", "import os,sys\n" + code, *args], timeout=10)
        return int(r.stdout)


@pytest.fixture
def dele(cfs_factory, user):
    """Root's containerfs (allow_other) with `D` delegated to the user, and a
    container `R` that stays root's."""
    _, uid, gid = user
    cfs = cfs_factory(["allow_other"])
    helpers.open_up_to(cfs.mnt)
    cfs.start()
    cfs.mkdir("D", "R")
    run(["chown", f"{uid}:{gid}", cfs.path("D")])
    return Delegated(cfs, uid, gid)


def errno_name(code):
    return errno.errorcode.get(code, str(code)) if code else "success"


def setuid_copy(cfs, program):
    """A setuid-root copy of `program` in a directory the user may reach."""
    d = os.path.join(cfs.tmp, "bin")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    dst = os.path.join(d, os.path.basename(program))
    shutil.copy(program, dst)
    os.chown(dst, 0, 0)
    os.chmod(dst, 0o4755)
    return dst


def start_as(dele, cmd):
    p = dele.cfs.procs.popen(dele.prefix() + cmd)
    name = os.path.basename(cmd[0])
    wait_until(lambda: helpers.cmdline(p.pid).split(" ")[0].endswith(name)
               and (helpers.proc_status(p.pid) or {}).get("State", "?")[0] == "S", 5,
               what=f"{name} to start")
    return p


# --------------------------------------------------------------- moving

def test_a_setuid_root_process_of_the_user_is_eperm_and_untouched(dele):
    """ruid is the user's, euid root, not dumpable: the kernel would never
    let the user ptrace it, so the daemon will not move it for the user."""
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 'c')}").returncode == 0
    p = start_as(dele, [setuid_copy(cfs, "/bin/sleep"), "100"])
    st = helpers.proc_status(p.pid)
    assert st["Uid"].split()[:3] == [str(dele.uid), "0", "0"]
    before = process_view(p.pid)
    assert errno_name(dele.write(cfs.path("D", "c", "tasks"), f"{p.pid}\n")) == "EPERM"
    assert_untouched(p.pid, before)
    assert str(p.pid) not in open(cfs.path("D", "c", "tasks")).read().split()


def test_passwd_run_by_the_user_is_eperm_and_untouched(dele):
    """The real setuid program, waiting at its prompt on a terminal."""
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 'c')}").returncode == 0
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("setpriv", dele.prefix() + ["/usr/bin/passwd"])
    try:
        wait_until(lambda: helpers.cmdline(pid).startswith("/usr/bin/passwd")
                   and (helpers.proc_status(pid) or {}).get("State", "?")[0] == "S", 5,
                   what="passwd at its prompt")
        assert helpers.proc_status(pid)["Uid"].split()[1] == "0"
        before = process_view(pid)
        assert errno_name(dele.write(cfs.path("D", "c", "tasks"), f"{pid}\n")) == "EPERM"
        assert_untouched(pid, before)
    finally:
        helpers.kill_pid(pid)
        os.waitpid(pid, 0)
        os.close(fd)


def test_a_process_that_made_itself_undumpable_is_eperm(dele):
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 'c')}").returncode == 0
    p = start_as(dele, ["/usr/bin/python3", "-c",
                        "import ctypes,time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); time.sleep(100)"])
    wait_until(lambda: helpers.proc_status(p.pid)["State"][0] == "S", 5, what="the undumpable sleeper")
    before = process_view(p.pid)
    assert errno_name(dele.write(cfs.path("D", "c", "tasks"), f"{p.pid}\n")) == "EPERM"
    assert_untouched(p.pid, before)


def test_a_process_root_put_into_the_users_namespaces_is_the_users_to_kill(dele, procs):
    """The kernel's rule: whoever owns a user namespace may signal what
    lives in it, root's processes too."""
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 'u')}").returncode == 0
    p = procs.sleep()
    helpers.write_once(cfs.path("D", "u", "tasks"), f"{p.pid}\n")
    assert dele.write(cfs.path("D", "u", "kill"), "1\n") == 0
    wait_until(lambda: not helpers.alive(p.pid), 5, what="the member to die")


def test_the_user_makes_containers_below_its_own_and_moves_its_process_between(dele):
    """Below a container the user made, the user makes another: its init
    is the user's, and it stays in the user namespace of the container
    above (the user's), which owns its fresh namespaces. The user's process
    moves down into it and up again (same user namespace), but not into a
    sibling with a user namespace of its own (nobody leaves a user
    namespace: EPERM, untouched)."""
    cfs = dele.cfs
    a, b, c = cfs.path("D", "a"), cfs.path("D", "a", "b"), cfs.path("D", "c")
    assert dele.sh(f"mkdir {a} {c}").returncode == 0
    r = dele.sh(f"mkdir {b}")
    assert r.returncode == 0, r.stderr
    init = cfs.init_pid("D/a/b")
    assert helpers.proc_status(init)["Uid"].split()[:3] == [str(dele.uid)] * 3
    a_user = helpers.stat_L_ino(os.path.join(a, "user"))
    assert helpers.proc_ns_ino(init, "user") == a_user
    assert not os.path.lexists(os.path.join(b, "user"))  # inherited from D/a
    for ns in ("network", "uts", "ipc", "mount"):
        assert helpers.stat_L_ino(os.path.join(b, ns)) != helpers.stat_L_ino(os.path.join(a, ns)), ns
        assert helpers.ns_owner_ino(os.path.join(b, ns)) == a_user, ns
    p = start_as(dele, ["/bin/sleep", "100"])
    for there, name in ((a, "D/a"), (b, "D/a/b"), (a, "D/a")):
        assert dele.write(os.path.join(there, "tasks"), f"{p.pid}\n") == 0, name
        assert cfs.task_pids(name) == [p.pid], name
        assert helpers.proc_ns_ino(p.pid, "network") == helpers.stat_L_ino(os.path.join(there, "network"))
    assert cfs.task_pids("D/a/b") == []
    before = process_view(p.pid)
    assert errno_name(dele.write(os.path.join(c, "tasks"), f"{p.pid}\n")) == "EPERM"
    assert_untouched(p.pid, before)
    assert cfs.task_pids("D/c") == [] and cfs.task_pids("D/a") == [p.pid]
    assert dele.sh(f"rmdir {b} {a} {c}").returncode == 0
    p.wait(timeout=5)
    assert not {"a", "c"} & set(os.listdir(cfs.path("D")))


def test_the_users_own_process_still_moves(dele):
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 'c')}").returncode == 0
    p = start_as(dele, ["/bin/sleep", "100"])
    assert dele.write(cfs.path("D", "c", "tasks"), f"{p.pid}\n") == 0
    assert str(p.pid) in open(cfs.path("D", "c", "tasks")).read().split()
    assert helpers.proc_ns_ino(p.pid, "network") == helpers.stat_L_ino(cfs.path("D", "c", "network"))


def test_a_self_move_the_kernel_refuses_returns_its_errno(dele):
    """D was made by root: its namespaces are root's, which the user's shell
    cannot setns into. The write fails with EPERM and the shell stays out."""
    cfs = dele.cfs
    r = dele.sh(f"echo $$ > {cfs.path('D', 'tasks')}; echo rc=$?; cat /proc/self/cgroup; "
                "readlink /proc/self/ns/net")
    assert "rc=1" in r.stdout, r.stdout + r.stderr
    assert "Operation not permitted" in r.stderr
    assert open(cfs.path("D", "tasks")).read() == ""
    mine = os.readlink("/proc/self/ns/net")
    assert r.stdout.strip().splitlines()[-1] == mine


# --------------------------------------------------------------- sharing

def test_sharing_namespaces_of_containers_the_user_does_not_own_is_eperm(dele):
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 's')} {cfs.path('D', 'mine')}").returncode == 0
    assert dele.call("os.unlink(sys.argv[1]); print(0)", cfs.path("D", "s", "network")) == 0
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    link = "try:\n os.symlink(sys.argv[1], sys.argv[2]); print(0)\nexcept OSError as e: print(e.errno)\n"
    for target in ("../../R/network",                  # root's container, relative
                   cfs.path("R", "network"),           # ... absolute
                   "../../network",                    # the host's
                   cfs.path("network")):
        got = dele.call(link, target, cfs.path("D", "s", "network"))
        assert errno_name(got) == "EPERM", target
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
    # Root can still remove R: nothing of the user's pins it.
    os.rmdir(cfs.path("R"))
    # A container the user owns can be shared.
    assert dele.call(link, "../mine/network", cfs.path("D", "s", "network")) == 0
    assert helpers.stat_L_ino(cfs.path("D", "s", "network")) == \
        helpers.stat_L_ino(cfs.path("D", "mine", "network"))


# --------------------------------------------------------------- killing

def test_rmdir_and_kill_by_the_user_never_kill_roots_processes(dele, procs):
    cfs = dele.cfs
    os.mkdir(cfs.path("D", "rr"))  # root's container below the user's
    root_proc = procs.sleep()
    helpers.write_once(cfs.path("D", "rr", "tasks"), f"{root_proc.pid}\n")
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    r = dele.sh(f"rmdir {cfs.path('D', 'rr')}")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    assert helpers.alive(root_proc.pid)
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
    # A container the user made, without a user namespace of its own (so a
    # process root puts there stays root's: in the user's own, its owner
    # could kill it by the kernel's rule), where root put a process.
    assert dele.sh(f"mkdir {cfs.path('D', 'u')} && rm {cfs.path('D', 'u', 'user')}").returncode == 0
    other = procs.sleep()
    helpers.write_once(cfs.path("D", "u", "tasks"), f"{other.pid}\n")
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    assert errno_name(dele.write(cfs.path("D", "u", "kill"), "1\n")) == "EPERM"
    r = dele.sh(f"rmdir {cfs.path('D', 'u')}")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    assert helpers.alive(other.pid) and helpers.alive(root_proc.pid)
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
    # Once root takes its processes home, the user's rmdir works.
    helpers.write_once(cfs.path("tasks"), f"{root_proc.pid}\n{other.pid}\n")
    assert dele.sh(f"rmdir {cfs.path('D', 'rr')} {cfs.path('D', 'u')}").returncode == 0


def test_the_user_kills_its_own_members(dele):
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 'u')}").returncode == 0
    p = start_as(dele, ["/bin/sleep", "100"])
    assert dele.write(cfs.path("D", "u", "tasks"), f"{p.pid}\n") == 0
    assert dele.write(cfs.path("D", "u", "kill"), "1\n") == 0
    p.wait(timeout=5)


# --------------------------------------------------------------- id maps

def test_id_maps_of_a_user_are_only_what_it_could_write_itself(dele):
    """A fresh user namespace of the user's container: writing a map that
    reaches ids the user does not own is EPERM (the kernel's rule for an
    unprivileged writer), its own id alone is fine; and the identity map is
    never written for it by the daemon."""
    cfs = dele.cfs
    c = cfs.path("D", "c")
    assert dele.sh(f"mkdir {c} && rm {c}/user && touch {c}/user").returncode == 0
    init = cfs.init_pid("D/c")
    assert open(f"/proc/{init}/uid_map").read() == ""
    assert errno_name(dele.write(os.path.join(c, "uid_map"), "0 0 4294967295\n")) == "EPERM"
    assert errno_name(dele.write(os.path.join(c, "gid_map"), "0 0 4294967295\n")) == "EPERM"
    assert open(f"/proc/{init}/uid_map").read() == ""
    assert dele.write(os.path.join(c, "uid_map"), f"0 {dele.uid} 1\n") == 0
    assert open(f"/proc/{init}/uid_map").read().split() == ["0", str(dele.uid), "1"]


def test_a_first_member_of_a_users_container_maps_only_the_owner(dele):
    cfs = dele.cfs
    c = cfs.path("D", "c")
    assert dele.sh(f"mkdir {c} && rm {c}/user && touch {c}/user").returncode == 0
    p = start_as(dele, ["/bin/sleep", "100"])
    assert dele.write(os.path.join(c, "tasks"), f"{p.pid}\n") == 0
    init = cfs.init_pid("D/c")
    assert open(f"/proc/{init}/uid_map").read().split() == ["0", str(dele.uid), "1"]
    assert open(f"/proc/{init}/gid_map").read().split() == ["0", str(dele.gid), "1"]
    assert open(f"/proc/{init}/setgroups").read().strip() == "deny"


def test_a_users_new_container_denies_setgroups(dele):
    """Its gid_map was written for the user as the kernel lets a user write
    it: after setgroups was denied."""
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 'c')}").returncode == 0
    init = cfs.init_pid("D/c")
    assert open(f"/proc/{init}/setgroups").read().strip() == "deny"
    assert open(f"/proc/{init}/gid_map").read().split() == ["0", str(dele.gid), "1"]


# --------------------------------------------------------------- names, pids, links

@pytest.mark.parametrize("name", ["a\nb", "tab\there", "\x1b[31mred", "del\x7f"])
def test_names_with_control_characters_are_einval(cfs, name):
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    assert errno_name(helpers.errno_of(os.mkdir, cfs.path(name))) == "EINVAL"
    cfs.mkdir("ok")
    assert errno_name(helpers.errno_of(os.rename, cfs.path("ok"), cfs.path(name))) == "EINVAL"
    os.rmdir(cfs.path("ok"))
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before


def test_pids_at_or_beyond_the_kernels_limit_are_einval(cfs):
    cfs.mkdir("web")
    for pid in ("4194304", "4194305", "99999999"):
        assert errno_name(helpers.errno_of(helpers.write_once, cfs.path("web", "tasks"), pid + "\n")) == "EINVAL"


def test_stray_links_survive_a_restart(cfs):
    cfs.mkdir("web")
    os.symlink("/somewhere/else", cfs.path("note"))
    os.symlink("../web", cfs.path("web", "up"))
    cfs.restart()
    assert os.readlink(cfs.path("note")) == "/somewhere/else"
    assert os.readlink(cfs.path("web", "up")) == "../web"
    os.unlink(cfs.path("note"))
    cfs.restart()
    assert not os.path.lexists(cfs.path("note"))


def test_an_adopted_namespace_keeps_its_identity_when_its_path_is_swapped(cfs):
    """readlink and stat -L name the namespace adopted (through the init
    holding it), not whatever the path adopted from names later."""
    cfs.mkdir("web")
    name = f"cfsa{secrets.token_hex(3)}"
    a = f"/run/netns/{name}"
    run(["ip", "netns", "add", name])
    cfs.procs.on_cleanup(lambda: run(["ip", "netns", "del", name], check=False))
    adopted = os.stat(a).st_ino
    os.unlink(cfs.path("web", "network"))
    os.symlink(a, cfs.path("web", "network"))
    init = cfs.init_pid("web")
    assert os.readlink(cfs.path("web", "network")) == f"/proc/{init}/ns/net"
    # The bind mount now names another namespace.
    run(["ip", "netns", "delete", name])
    run(["ip", "netns", "add", name])
    assert os.stat(a).st_ino != adopted
    assert helpers.stat_L_ino(cfs.path("web", "network")) == adopted
    assert os.readlink(cfs.path("web", "network")) == f"/proc/{init}/ns/net"


# --------------------------------------------------------------- limits

def writable_controller_file(directory):
    for name in ("pids.max", "memory.max", "cpu.max", "cpu.pressure"):
        if os.path.exists(os.path.join(directory, name)):
            return name
    pytest.skip("no writable controller file")


def test_limits_of_the_delegated_container_stay_roots(dele):
    """As in cgroupfs delegation: the user sets the limits of what it makes
    below, never those of the container root delegated to it."""
    cfs = dele.cfs
    assert dele.sh(f"mkdir {cfs.path('D', 'c')}").returncode == 0
    name = writable_controller_file(cfs.path("D"))
    value = "some 150000 2000000\n" if name == "cpu.pressure" else "max\n"
    assert os.stat(cfs.path("D", name)).st_uid == 0
    assert os.stat(cfs.path("D", "c", name)).st_uid == dele.uid
    before = open(cfs.path("D", name)).read() if name != "cpu.pressure" else None
    assert errno_name(dele.write(cfs.path("D", name), value)) in ("EPERM", "EACCES")
    if before is not None:
        assert open(cfs.path("D", name)).read() == before
    assert dele.write(cfs.path("D", "c", name), value) == 0


def test_a_new_init_of_a_users_container_runs_as_the_user(dele):
    """A namespace change replaces the init: the new one is the user's, as
    the first was (the user can reach its /proc files)."""
    cfs = dele.cfs
    c = cfs.path("D", "c")
    assert dele.sh(f"mkdir {c}").returncode == 0
    first = cfs.init_pid("D/c")
    assert helpers.proc_status(first)["Uid"].split()[0] == str(dele.uid)
    assert dele.sh(f"rm {c}/uts").returncode == 0
    new = cfs.init_pid("D/c")
    assert new != first
    assert helpers.proc_status(new)["Uid"].split()[0] == str(dele.uid)
    assert dele.call("print(len(os.readlink(sys.argv[1])) and 0)", f"/proc/{new}/ns/net") == 0
