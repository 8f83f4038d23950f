"""Delegation: chown of a container hands it to a user, who may then
create, rename and remove containers below it and move its own processes
into them -- nothing else."""
import errno
import os

import pytest

import helpers
from helpers import AS_USER, PY, USER_ID, run
CONTROLLERS = {"cpu", "memory", "io", "pids", "hugetlb", "cpuset", "rdma", "misc"}


def as_user(script, check=True, timeout=10):
    """Runs a shell script as the plain user (helpers.AS_USER)."""
    return run([*AS_USER, "bash", "-c", script], check=check, timeout=timeout)


@pytest.fixture
def shared(cfs_factory):
    """A containerfs mounted with allow_other, with `web` delegated to the
    plain user (helpers.USER_ID)."""
    c = cfs_factory(["allow_other"])
    helpers.open_up_to(c.mnt)  # temp dirs are 0700
    c.start()
    c.mkdir("web")
    run(["chown", "-R", f"{USER_ID}:{USER_ID}", c.path("web")])
    return c


def test_chown_delegates_the_container_and_its_files(shared):
    st = os.stat(shared.path("web"))
    assert (st.st_uid, st.st_gid) == (USER_ID, USER_ID)
    for name in os.listdir(shared.path("web")):
        lst = os.lstat(shared.path("web", name))
        # Controller files and the device whitelist are the parent's
        # owner's (root's here): the limits of a delegated container stay
        # with who delegated it.
        limit = name == "devices" or ("." in name and name.split(".")[0] in CONTROLLERS)
        want = (0, 0) if limit else (USER_ID, USER_ID)
        assert (lst.st_uid, lst.st_gid) == want, name
    # The host stays root's.
    assert os.stat(shared.mnt).st_uid == 0


def test_delegate_creates_enters_renames_and_removes_below(shared, procs):
    sleeper = procs.sleep(prefix=AS_USER)
    as_user(f"mkdir {shared.path('web', 'app')}")
    app = shared.path("web", "app")
    assert os.stat(app).st_uid == USER_ID
    # Its user namespace is owned by the delegate, who is root inside.
    init = shared.init_pid("web/app")
    assert helpers.readlink(os.path.join(app, "user")) == f"/proc/{init}/ns/user"
    assert open(f"/proc/{init}/uid_map").read().split() == ["0", str(USER_ID), "1"]
    before = helpers.proc_ns_ino(sleeper.pid, "network")
    as_user(f"echo {sleeper.pid} > {app}/tasks")
    assert helpers.proc_ns_ino(sleeper.pid, "network") == helpers.stat_L_ino(os.path.join(app, "network"))
    assert helpers.proc_ns_ino(sleeper.pid, "network") != before
    assert sleeper.pid in shared.task_pids("web/app")
    as_user(f"mv {app} {shared.path('web', 'app2')}")
    helpers.kill_pid(sleeper.pid)
    sleeper.wait(timeout=5)
    as_user(f"rmdir {shared.path('web', 'app2')}")
    assert "app2" not in os.listdir(shared.path("web"))


def test_delegate_cannot_touch_the_host_siblings_or_other_processes(shared, procs):
    shared.mkdir("other")
    as_user(f"mkdir {shared.path('web', 'app')}")
    before = helpers.snapshot(shared.mnt, shared.cgroup)
    root_sleeper = procs.sleep()
    for script in (f"mkdir {shared.path('mine')}",                     # the host
                   f"mkdir {shared.path('other', 'x')}",               # a sibling
                   f"rmdir {shared.path('other')}",
                   f"echo $$ > {shared.path('tasks')}",                # host tasks
                   f"echo {root_sleeper.pid} > {shared.path('web', 'app', 'tasks')}",  # root's process
                   f"chown {USER_ID + 1} {shared.path('web', 'app')}"):    # re-delegating
        r = as_user(script, check=False)
        assert r.returncode != 0, script
        assert ("Permission denied" in r.stderr or "Operation not permitted" in r.stderr), (script, r.stderr)
    assert helpers.snapshot(shared.mnt, shared.cgroup) == before
    assert helpers.cgroup_of(root_sleeper.pid) == helpers.cgroup_of(os.getpid())


def test_writing_another_users_pid_is_eperm(shared, procs):
    as_user(f"mkdir {shared.path('web', 'app')}")
    root_sleeper = procs.sleep()
    r = run([*AS_USER, PY, "-c",
             "import os,sys\n"
             f"fd=os.open({shared.path('web', 'app', 'tasks')!r}, os.O_WRONLY)\n"
             f"try: os.write(fd, b'{root_sleeper.pid}\\n')\n"
             "except OSError as e: print(e.errno)\n"], timeout=10)
    assert r.stdout.strip() == str(errno.EPERM)


def test_delegation_survives_a_restart(shared):
    as_user(f"mkdir {shared.path('web', 'app')}")
    shared.restart()
    assert os.stat(shared.path("web")).st_uid == USER_ID
    assert os.stat(shared.path("web", "app")).st_uid == USER_ID
    as_user(f"mkdir {shared.path('web', 'app2')} && rmdir {shared.path('web', 'app2')}")
