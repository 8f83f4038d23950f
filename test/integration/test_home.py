"""The host's tasks file puts a process back where it stood before it first
entered a container: entering a mount namespace resets a process's working
directory and root to that namespace's root (setns(2)), and on the way home
the daemon restores them where they still are the directories they were
(same path in the host's mount namespace, same inode); otherwise they stay
at the root, and the log says why. What is kept survives a daemon restart.

Every check reads the kernel's own view (/proc/PID/cwd, /proc/PID/root and
those of every thread); every process is killed by pid at the end (the
`procs` fixture); every wait is bounded.
"""
import os
import subprocess

import pytest

from helpers import PY, read_line, threads_of, wait_sleeping, wait_until

# -o splits on commas: the list escapes them (containerfs(8)). No pid
# namespace of its own: a process with threads may enter too.
OWN_MOUNT = r"network\,uts\,ipc\,mount\,cgroup"


def cwd_of(pid, tid=None):
    base = f"/proc/{pid}/task/{tid}" if tid else f"/proc/{pid}"
    return os.readlink(f"{base}/cwd")


def root_of(pid):
    return os.readlink(f"/proc/{pid}/root")


def sleeping_in(procs, where):
    """sleep(1) started with `where` (made first) as its working directory."""
    where.mkdir(exist_ok=True)
    p = procs.popen(["sleep", "100"], cwd=str(where))
    wait_sleeping(p.pid)
    return p


def there_and_back(cfs, pid, between=None):
    """Into web (its own mount namespace: cwd and root reset), `between`,
    then home."""
    cfs.enter("web", pid)
    assert (cwd_of(pid), root_of(pid)) == ("/", "/")
    if between:
        between()
    cfs.enter("", pid)


@pytest.mark.parametrize("between", ["nothing", "kill -9 and restart"])
def test_home_puts_back_the_working_directory(cfs, procs, tmp_path, between):
    cfs.mkdir("web")
    where = tmp_path / "a dir\nwith odd names"
    p = sleeping_in(procs, where)
    there_and_back(cfs, p.pid, cfs.restart if between != "nothing" else None)
    assert cwd_of(p.pid) == str(where)
    assert root_of(p.pid) == "/"
    assert p.poll() is None


def test_a_directory_made_anew_under_its_name_is_not_gone_back_to(cfs, procs, tmp_path):
    """Same path, another directory: the process stays at the root."""
    cfs.mkdir("web")
    where = tmp_path / "work"
    p = sleeping_in(procs, where)

    def replace():
        os.rename(where, tmp_path / "old")
        where.mkdir()
    there_and_back(cfs, p.pid, replace)
    assert cwd_of(p.pid) == "/"
    wait_until(lambda: "that path names another directory now" in cfs.log(), 5,
               what="the reason in the daemon's log")


def test_a_working_directory_removed_before_entering_is_not_kept(cfs, procs, tmp_path):
    cfs.mkdir("web")
    where = tmp_path / "gone"
    p = sleeping_in(procs, where)
    where.rmdir()
    there_and_back(cfs, p.pid)
    assert cwd_of(p.pid) == "/"
    wait_until(lambda: f"pid {p.pid}: its working directory and root cannot be kept" in cfs.log(), 5,
               what="the reason in the daemon's log")


# A python3 process that changes its root (and then its working directory,
# below the new root), then waits: nothing it runs needs a file any more.
CHROOTED = """\
import os, sys, time
os.chroot(sys.argv[1])
os.chdir("/sub")
print("ready", flush=True)
time.sleep(100)
"""


def test_home_puts_back_a_changed_root(cfs, procs, tmp_path):
    cfs.mkdir("web")
    jail = tmp_path / "jail"
    (jail / "sub").mkdir(parents=True)
    p = procs.popen([PY, "-c", CHROOTED, str(jail)], stdout=subprocess.PIPE, text=True)
    assert read_line(p.stdout, 10).strip() == "ready"
    assert (root_of(p.pid), cwd_of(p.pid)) == (str(jail), str(jail / "sub"))
    there_and_back(cfs, p.pid)
    assert root_of(p.pid) == str(jail)
    assert cwd_of(p.pid) == str(jail / "sub")
    assert p.poll() is None


THREADS = """\
import threading, time
for _ in range(3):
    threading.Thread(target=time.sleep, args=(100,), daemon=True).start()
print("ready", flush=True)
time.sleep(100)
"""


@pytest.mark.namespaces(OWN_MOUNT)
def test_home_puts_back_the_working_directory_of_every_thread(cfs, procs, tmp_path):
    cfs.mkdir("web")
    p = procs.popen([PY, "-c", THREADS], stdout=subprocess.PIPE, text=True, cwd=str(tmp_path))
    assert read_line(p.stdout, 10).strip() == "ready"
    wait_until(lambda: len(threads_of(p.pid)) == 4, 5, what="4 threads")
    there_and_back(cfs, p.pid)
    assert {cwd_of(p.pid, t) for t in threads_of(p.pid)} == {str(tmp_path)}


def test_the_place_is_kept_in_the_state_directory_until_home(cfs, procs, tmp_path):
    cfs.mkdir("web")
    p = sleeping_in(procs, tmp_path)
    places = os.path.join(cfs.state, "places")
    cfs.enter("web", p.pid)
    with open(places) as f:
        kept = f.read().splitlines()
    assert kept[0] == "containerfs-places 1"
    assert [line.split()[0] for line in kept[1:]] == [str(p.pid)]
    assert kept[1].split()[6] == str(tmp_path)
    cfs.enter("", p.pid)
    with open(places) as f:
        assert f.read() == "containerfs-places 1\n"
