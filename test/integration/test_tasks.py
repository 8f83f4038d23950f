"""`echo PID > tasks` moves a running process into a container, every
thread of it, into the container's member cgroup and namespaces; the host's
tasks file takes it home again. Refusals leave the process as it was.

Every check reads the kernel's own view: /proc/PID/task/*/ns/*,
/proc/PID/cgroup, /proc/PID/status (NSpid, TracerPid, State) and the
cgroup.procs files. Every process a test starts is killed by pid at the end
(the `procs` fixture); every wait is bounded.
"""
import errno
import os
import secrets
import signal
import subprocess
import threading
import time

import pytest

import helpers
from helpers import (AS_USER, AS_USER_DAC, DEFAULT_FRESH, ORIGINS_XATTR, PY, assert_moved,
                     assert_refused, assert_untouched, cgroup_path, child_ns_ino, errname,
                     process_view, read_line, read_text, run, shell_echo, thread_ns, threads_of,
                     timed, unused_pid, wait_sleeping, wait_until, write_errno)

# -o splits on commas: the list escapes them (containerfs(8)). No pid
# namespace of its own: a process with threads may enter (test_threads.py).
LIGHT = r"network\,uts\,ipc\,mount\,cgroup"
LIGHT_NAMES = ("network", "uts", "ipc", "mount", "cgroup")


def host_ns(names=DEFAULT_FRESH):
    me = os.getpid()
    return {n: child_ns_ino(me, n) for n in names}


# ------------------------------------------------------------------ listing

def test_cat_tasks_lists_members_not_the_init(cfs, procs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    assert run(["cat", cfs.path("web", "tasks")]).stdout == ""
    a, b = procs.sleep(), procs.sleep()
    for p in (a, b):
        r = shell_echo(p.pid, cfs.path("web", "tasks"))
        assert r.returncode == 0, r.stderr
    listed = [int(x) for x in run(["cat", cfs.path("web", "tasks")]).stdout.split()]
    assert sorted(listed) == sorted([a.pid, b.pid])
    assert init not in listed
    # The kernel agrees: exactly these are in the member cgroup, the init
    # stays alone in its own.
    assert sorted(helpers.cgroup_procs(cfs.members_cgroup("web"))) == sorted([a.pid, b.pid])
    assert helpers.cgroup_procs(cfs.init_cgroup("web")) == [init]


# ------------------------------------------------------------------ moving

def test_moved_sleep_is_inside_and_sleeps_its_full_time(cfs, procs):
    cfs.mkdir("web")
    before_host = host_ns()
    t0 = time.monotonic()
    p = procs.sleep(3)
    wait_sleeping(p.pid)
    time.sleep(0.5)  # well inside nanosleep
    r = shell_echo(p.pid, cfs.path("web", "tasks"))
    assert r.returncode == 0, r.stderr
    assert_moved(cfs, "web", p.pid)
    # Really different from where it came from.
    for n in DEFAULT_FRESH:
        assert child_ns_ino(p.pid, n) != before_host[n], n
    assert helpers.proc_status(p.pid)["State"][0] in "SR"  # running on, not stopped
    rc = p.wait(timeout=10)
    elapsed = time.monotonic() - t0
    assert rc == 0
    # The nanosleep was restarted with the remaining time, not cut short.
    assert elapsed >= 3.0, f"sleep 3 returned after {elapsed:.3f}s"
    assert elapsed < 8.0, f"sleep 3 took {elapsed:.3f}s"


@pytest.mark.namespaces(LIGHT)
def test_16_thread_process_every_thread_moves(cfs, procs):
    cfs.mkdir("web")
    p = procs.threads(15)
    assert len(threads_of(p.pid)) == 16
    host_net = child_ns_ino(os.getpid(), "network")
    assert set(thread_ns(p.pid, "network").values()) == {host_net}
    assert write_errno(cfs.path("web", "tasks"), f"{p.pid}\n") == 0
    assert_moved(cfs, "web", p.pid, LIGHT_NAMES)
    nets = thread_ns(p.pid, "network")
    assert len(nets) == 16
    assert set(nets.values()) == {os.stat(cfs.path("web", "network")).st_ino}
    # All threads in the member cgroup (thread mode is not used).
    members = cfs.members_cgroup("web")
    for tid in threads_of(p.pid):
        with open(f"/proc/{p.pid}/task/{tid}/cgroup") as f:
            rel = [line[3:] for line in f.read().splitlines() if line.startswith("0::")][0]
        assert cgroup_path(rel) == members, (tid, rel)
    # It keeps running: all threads alive, none stopped or traced.
    for tid in threads_of(p.pid):
        with open(f"/proc/{p.pid}/task/{tid}/status") as f:
            st = dict(line.split(":", 1) for line in f.read().splitlines())
        assert st["State"].strip()[0] in "SR", (tid, st["State"])  # not stopped, not dead
        assert st["TracerPid"].strip() == "0"
    assert p.poll() is None


def test_self_entry_200_times(cfs):
    cfs.mkdir("web")
    tasks = cfs.path("web", "tasks")
    uts = os.stat(cfs.path("web", "uts")).st_ino
    net = os.stat(cfs.path("web", "network")).st_ino
    want = f"uts:[{uts}]\nnet:[{net}]"
    script = 'exec 3</proc; echo $$ > "$1"; exec "$2" -c "$3" uts net'
    bad = []
    for i in range(200):
        r = run(["sh", "-c", script, "sh", tasks, PY, helpers.OWN_NS], check=False)
        if r.returncode != 0 or r.stdout.strip() != want:
            bad.append((i, r.returncode, r.stdout.strip(), r.stderr.strip()))
    assert not bad, f"{len(bad)} of 200 runs not inside: {bad[:5]}"
    # They were all members and all exited: none is left behind.
    wait_until(lambda: cfs.task_pids("web") == [], 5, what="tasks to empty")


def test_echo_0_enters_the_writer(cfs):
    cfs.mkdir("web")
    net = os.stat(cfs.path("web", "network")).st_ino
    r = run(["sh", "-c", 'exec 3</proc; echo 0 > "$1"; hostname; exec "$2" -c "$3" net', "sh",
             cfs.path("web", "tasks"), PY, helpers.OWN_NS])
    assert r.stdout.split() == ["web", f"net:[{net}]"]


def test_several_pids_in_one_write(cfs, procs):
    cfs.mkdir("web")
    ps = [procs.sleep() for _ in range(3)]
    text = "".join(f"{p.pid}\n" for p in ps)
    assert write_errno(cfs.path("web", "tasks"), text) == 0
    for p in ps:
        assert_moved(cfs, "web", p.pid)
    assert sorted(cfs.task_pids("web")) == sorted(p.pid for p in ps)
    # And by a shell's printf, without a final newline.
    more = [procs.sleep() for _ in range(2)]
    r = run(["sh", "-c", 'printf "%s\\n%s" "$1" "$2" > "$3"', "sh", str(more[0].pid),
             str(more[1].pid), cfs.path("web", "tasks")], check=False)
    assert r.returncode == 0, r.stderr
    for p in more:
        assert_moved(cfs, "web", p.pid)


# A write of several pids moves them in order; at the first one refused it
# ends short, after the lines of those moved (write(2)'s rule), so that the
# writer's next write(2) of the rest reports that pid's errno.

def several_with_a_traced_second(procs):
    """Three sleeping processes, the second traced by strace (EBUSY); their
    views before anything happens."""
    ps = [procs.sleep() for _ in range(3)]
    for p in ps:
        wait_sleeping(p.pid)
    strace = procs.strace(ps[1].pid)
    return ps, strace, [process_view(p.pid) for p in ps]


def assert_first_moved_others_untouched(cfs, ps, strace, views):
    assert_moved(cfs, "web", ps[0].pid)
    assert_untouched(ps[1].pid, views[1], tracer=strace.pid)
    assert_untouched(ps[2].pid, views[2])
    assert cfs.task_pids("web") == [ps[0].pid]


def test_write_of_several_pids_ends_short_before_the_refused_one(cfs, procs):
    """os.write of three pids, the second refused: the count of the first
    line, then the rest written again gets the second's errno."""
    cfs.mkdir("web")
    ps, strace, views = several_with_a_traced_second(procs)
    lines = [f"{p.pid}\n".encode() for p in ps]
    fd = os.open(cfs.path("web", "tasks"), os.O_WRONLY)
    try:
        assert os.write(fd, b"".join(lines)) == len(lines[0])
        with pytest.raises(OSError) as e:
            os.write(fd, b"".join(lines[1:]))
        assert e.value.errno == errno.EBUSY, errname(e.value.errno)
    finally:
        os.close(fd)
    assert_first_moved_others_untouched(cfs, ps, strace, views)


@pytest.mark.parametrize("command", ["printf", "echo"])
def test_shell_writing_several_pids_reports_the_refused_one(cfs, procs, command):
    """printf(1) writes its output in one write(2) and writes again what a
    short write left; bash's echo writes a line at a time (its stdout is
    line-buffered) and gives up at the first failure, then writes its
    final newline. Either reports the errno of exactly the pid refused,
    and those after it are not tried."""
    cfs.mkdir("web")
    ps, strace, views = several_with_a_traced_second(procs)
    script = {"printf": '/usr/bin/printf "%s\\n%s\\n%s\\n" "$1" "$2" "$3" > "$4"',
              "echo": 'echo "$1\n$2\n$3" > "$4"'}[command]
    r = run(["bash", "-c", script, "bash", *(str(p.pid) for p in ps), cfs.path("web", "tasks")],
            check=False)
    assert r.returncode != 0
    assert "Device or resource busy" in r.stderr, r.stderr
    assert_first_moved_others_untouched(cfs, ps, strace, views)


def test_several_pids_with_a_bad_one_first_move_nothing(cfs, procs):
    """A refused first pid fails the write with its errno: nothing moved."""
    cfs.mkdir("web")
    ps, strace, views = several_with_a_traced_second(procs)
    err = write_errno(cfs.path("web", "tasks"), f"{ps[1].pid}\n{ps[2].pid}\n")
    assert err == errno.EBUSY, errname(err)
    assert_untouched(ps[1].pid, views[1], tracer=strace.pid)
    assert_untouched(ps[2].pid, views[2])
    assert cfs.task_pids("web") == []


def test_no_such_pid_first_moves_nothing(cfs, procs):
    cfs.mkdir("web")
    p = procs.sleep()
    view = process_view(p.pid)
    err = write_errno(cfs.path("web", "tasks"), f"{unused_pid()}\n{p.pid}\n")
    assert err == errno.ESRCH, errname(err)
    assert_untouched(p.pid, view)
    assert cfs.task_pids("web") == []


def test_children_are_born_inside_the_pid_namespace(cfs, procs):
    cfs.mkdir("web")
    sh = procs.shell()
    cfs.enter("web", sh.pid)
    assert_moved(cfs, "web", sh.pid)
    # The shell keeps its pid (one level: the host's).
    assert helpers.nspid(sh.pid) == [sh.pid]
    child = int(sh.run("sleep 100 & echo $!"))
    procs.add_pid(child)
    levels = helpers.nspid(child)
    assert len(levels) == 2 and levels[0] == child, levels
    assert 1 < levels[1] < 100, f"child's pid inside is {levels[1]}"
    assert helpers.proc_ns_ino(child, "pid") == os.stat(cfs.path("web", "pid")).st_ino
    # The host reader sees both; the child sees itself small.
    assert sorted(cfs.task_pids("web")) == sorted([sh.pid, child])
    inner = sh.run("sh -c 'cut -d\" \" -f1 /proc/self/stat; grep NSpid /proc/self/status'")
    assert inner.splitlines()[-1].split()[-1].isdigit()
    assert int(inner.splitlines()[-1].split()[-1]) < 100
    # A reader in web's pid namespace sees only the child, by its inner pid
    # (the shell's pid is not visible there).
    r = run(["nsenter", f"--pid={cfs.path('web', 'pid')}", "--", "cat", cfs.path("web", "tasks")])
    assert [int(x) for x in r.stdout.split()] == [levels[1]]


@pytest.mark.parametrize("between", ["nothing", "kill -9 and restart", "unmount and mount"])
def test_bring_home_restores_namespaces_and_cgroup(cfs, procs, between):
    """The host's tasks file takes a process back to the cgroup it came from
    -- also when the daemon that moved it in is not the one that takes it
    home (the origin is kept in trusted.containerfs.origins)."""
    cfs.mkdir("web")
    home = os.path.join(helpers.find_cgroup2_mount(), f"cfs-home-{secrets.token_hex(4)}")
    os.mkdir(home)
    p = procs.sleep()

    def remove_home():
        helpers.kill_pid(p.pid)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        wait_until(lambda: not helpers.cgroup_populated(home), 5, what="home cgroup empty")
        os.rmdir(home)
    procs.on_cleanup(remove_home)

    helpers.move_to_cgroup(p.pid, home)
    wait_sleeping(p.pid)
    before = process_view(p.pid)
    home_rel = helpers.cgroup_of(p.pid)
    assert home_rel.endswith(os.path.basename(home))
    r = shell_echo(p.pid, cfs.path("web", "tasks"))
    assert r.returncode == 0, r.stderr
    assert_moved(cfs, "web", p.pid)
    kept = os.getxattr(cfs.cgroup, ORIGINS_XATTR).decode()
    assert f"\n{p.pid} " in kept and kept.endswith(f" {home_rel}\n"), kept
    if between == "kill -9 and restart":
        cfs.restart()
    elif between == "unmount and mount":
        assert cfs.unmount() == 0
        cfs.start()
    assert p.pid not in cfs.task_pids()
    r = shell_echo(p.pid, cfs.path("tasks"))
    assert r.returncode == 0, r.stderr
    assert_untouched(p.pid, before)
    assert helpers.cgroup_of(p.pid) == home_rel
    assert cfs.task_pids("web") == []
    assert p.pid in cfs.task_pids()
    assert p.poll() is None
    # Home again: nothing more to remember about it.
    kept = os.getxattr(cfs.cgroup, ORIGINS_XATTR).decode()
    assert f"\n{p.pid} " not in kept, kept


def test_origins_of_processes_gone_meanwhile_are_dropped_at_start_up(cfs, procs):
    """An origin kept for a process that exited while no daemon ran is not
    carried on (its pid may be reused); one still in a container is."""
    cfs.mkdir("web")
    stay, go = procs.sleep(), procs.sleep()
    for p in (stay, go):
        assert shell_echo(p.pid, cfs.path("web", "tasks")).returncode == 0
    cfs.kill_daemon()
    helpers.kill_pid(go.pid)
    go.wait(timeout=5)
    cfs.restart()
    kept = os.getxattr(cfs.cgroup, ORIGINS_XATTR).decode()
    assert f"\n{stay.pid} " in kept and f"\n{go.pid} " not in kept, kept


def test_a_malformed_origins_record_is_ignored(cfs, procs):
    """Garbage in trusted.containerfs.origins costs only the way home (to
    the cgroup2 root): the daemon starts, logs it, and works."""
    cfs.mkdir("web")
    cfs.kill_daemon()
    os.setxattr(cfs.cgroup, ORIGINS_XATTR, b"garbage\n\xff")
    cfs.restart()
    # (Logged while the tree is loaded, which may end after the mount shows.)
    wait_until(lambda: "ignoring a malformed trusted.containerfs.origins" in cfs.log(), 5,
               what="the malformed record to be logged")
    p = procs.sleep()
    assert shell_echo(p.pid, cfs.path("web", "tasks")).returncode == 0
    assert_moved(cfs, "web", p.pid)
    assert os.getxattr(cfs.cgroup, ORIGINS_XATTR).decode().startswith(
        "containerfs-origins 1\n")


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize("value", ["abc", "-1", "-5", "99999999999999999999", "4194305",
                                   "12abc", "1.5", "0x10", "1\nabc\n"])
def test_garbage_is_einval_and_changes_nothing(cfs, procs, value):
    cfs.mkdir("web")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    err = write_errno(cfs.path("web", "tasks"), value)
    assert err == errno.EINVAL, f"{value!r}: {errname(err)}"
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
    assert cfs.task_pids("web") == [p.pid]


@pytest.mark.parametrize("value", [" ", "\n", "\n\n \t\n", "\n" * (1 << 20)],
                         ids=["space", "newline", "blank-lines", "1MiB-newlines"])
def test_blank_lines_only_move_nothing(cfs, procs, value):
    """What echo writes last (its newline) after a refused line: taken,
    with nothing to move."""
    cfs.mkdir("web")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    assert helpers.write_once(cfs.path("web", "tasks"), value) == len(value)
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before
    assert cfs.task_pids("web") == [p.pid]


def test_refusals_through_echo_say_why(cfs, procs):
    """The messages a shell user sees."""
    cfs.mkdir("web")
    tasks = cfs.path("web", "tasks")
    assert "Invalid argument" in shell_echo("abc", tasks).stderr
    assert "No such process" in shell_echo(unused_pid(), tasks).stderr
    assert "Invalid argument" in shell_echo(cfs.init_pid("web"), tasks).stderr
    assert cfs.task_pids("web") == []


def test_no_such_process_is_esrch(cfs):
    cfs.mkdir("web")
    before = helpers.snapshot(cfs.mnt, cfs.cgroup)
    err = write_errno(cfs.path("web", "tasks"), str(unused_pid()))
    assert err == errno.ESRCH, errname(err)
    assert helpers.snapshot(cfs.mnt, cfs.cgroup) == before


def test_kernel_thread_is_einval(cfs):
    cfs.mkdir("web")
    assert helpers.proc_status(2)["Name"] == "kthreadd"
    before = process_view(2)
    err = write_errno(cfs.path("web", "tasks"), "2")
    assert err == errno.EINVAL, errname(err)
    assert_untouched(2, before)
    assert cfs.task_pids("web") == []


def test_the_daemon_itself_is_einval(cfs):
    cfs.mkdir("web")
    before = process_view(cfs.daemon.pid)
    err = write_errno(cfs.path("web", "tasks"), str(cfs.daemon.pid))
    assert err == errno.EINVAL, errname(err)
    assert_untouched(cfs.daemon.pid, before)
    cfs.mkdir("still-serving")
    assert cfs.task_pids("web") == []


def test_an_init_is_einval(cfs):
    cfs.mkdir("web", "db")
    for container, target in [("web", "web"), ("web", "db"), ("db", "web")]:
        init = cfs.init_pid(target)
        before = process_view(init)
        err = write_errno(cfs.path(container, "tasks"), str(init))
        assert err == errno.EINVAL, f"{target}'s init into {container}: {errname(err)}"
        assert_untouched(init, before)
    # Not even home.
    init = cfs.init_pid("web")
    before = process_view(init)
    assert write_errno(cfs.path("tasks"), str(init)) == errno.EINVAL
    assert_untouched(init, before)
    assert cfs.task_pids("web") == [] and cfs.task_pids("db") == []


def test_traced_process_is_ebusy_and_untouched(cfs, procs):
    cfs.mkdir("web")
    p = procs.sleep()
    strace = procs.strace(p.pid)
    before = process_view(p.pid)
    err = write_errno(cfs.path("web", "tasks"), str(p.pid))
    assert err == errno.EBUSY, errname(err)
    assert_untouched(p.pid, before, tracer=strace.pid)
    assert cfs.task_pids("web") == []
    # strace still holds it and lets it go normally.
    strace.send_signal(signal.SIGINT)
    strace.wait(timeout=5)
    wait_until(lambda: helpers.proc_status(p.pid)["TracerPid"] == "0", 5, what="detach")
    assert_untouched(p.pid, before | {"tracer": 0})
    assert p.poll() is None


def test_seccomp_process_is_eperm_and_survives(cfs, procs):
    cfs.mkdir("web")
    p = procs.seccomp_sleep()
    before = process_view(p.pid)
    err = write_errno(cfs.path("web", "tasks"), str(p.pid))
    assert err == errno.EPERM, errname(err)
    assert helpers.alive(p.pid), "the seccomp filter killed it"
    assert_untouched(p.pid, before)
    assert cfs.task_pids("web") == []


@pytest.mark.namespaces(LIGHT)
def test_multithreaded_into_own_user_namespace_is_einval(cfs, procs):
    cfs.mkdir("web")
    run(["touch", cfs.path("web", "user")])
    p = procs.threads(3)
    assert_refused(cfs, "web", p.pid, errno.EINVAL)
    # A single-threaded one can.
    s = procs.sleep()
    cfs.enter("web", s.pid)
    assert_moved(cfs, "web", s.pid, LIGHT_NAMES + ("user",))


def test_non_root_process_into_root_namespaces_is_eperm(cfs, procs):
    cfs.mkdir("web")
    p = procs.sleep(prefix=AS_USER)
    wait_until(lambda: helpers.proc_status(p.pid)["Uid"].split()[0] == "1000"
               and helpers.cmdline(p.pid).startswith("sleep"), 5, what="setpriv to exec")
    assert_refused(cfs, "web", p.pid, errno.EPERM)


def test_writer_who_may_not_move_the_process_is_eperm(cfs_factory, procs):
    """A non-root writer (able to reach the file: allow_other and
    CAP_DAC_OVERRIDE) may not move root's process: the kernel's ptrace rule,
    EPERM."""
    cfs = cfs_factory(["allow_other"])
    cfs.start()
    cfs.mkdir("web")
    p = procs.sleep()
    before = process_view(p.pid)
    r = shell_echo(p.pid, cfs.path("web", "tasks"), prefix=AS_USER_DAC)
    assert r.returncode != 0
    assert "Operation not permitted" in r.stderr, r.stderr
    assert_untouched(p.pid, before)
    assert cfs.task_pids("web") == []


# ------------------------------------------------------------------ robustness

def test_processes_exiting_mid_way_leave_the_daemon_healthy(cfs, procs):
    cfs.mkdir("web")
    tasks = cfs.path("web", "tasks")
    results = {}
    for i in range(40):
        p = procs.popen(["sleep", f"0.0{i % 10}"])
        if i % 2:
            # Killed while the write is being served.
            threading.Timer(0.001 * (i % 7), helpers.kill_pid, (p.pid,)).start()
        err = write_errno(tasks, str(p.pid))
        results[err] = results.get(err, 0) + 1
        assert err in (0, errno.ESRCH, errno.EBUSY, errno.EINVAL, errno.EPERM), errname(err)
        p.wait(timeout=5)
    # Healthy: it serves, and enters a live process completely.
    cfs.mkdir("after")
    s = procs.sleep()
    assert write_errno(tasks, str(s.pid)) == 0
    assert_moved(cfs, "web", s.pid)
    assert cfs.task_pids("web") == [s.pid]
    assert helpers.alive(cfs.daemon.pid)


@pytest.mark.xfail(strict=True, reason="KERNEL, documented in containerfs(7): after entering a "
                   "container with its own pid namespace a process can no longer start threads: "
                   "pid_for_children != its active pid namespace makes clone(CLONE_THREAD) "
                   "EINVAL (kernel/fork.c), as after setns(2) or nsenter --pid without fork. "
                   "`rm web/pid` (share the parent's) avoids it")
def test_moved_process_can_still_start_threads(cfs, procs):
    cfs.mkdir("web")
    code = ("import sys, threading\n"
            "for line in sys.stdin:\n"
            "    try:\n"
            "        t = threading.Thread(target=print, args=('thread ran',), "
            "kwargs={'flush': True}); t.start(); t.join()\n"
            "    except Exception as e:\n"
            "        print('FAILED', e, flush=True)\n")
    p = procs.popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdin.write("go\n")
    p.stdin.flush()
    assert read_line(p.stdout, 10).strip() == "thread ran"
    # Single-threaded again (with threads, a move into another pid
    # namespace is refused: test_threads.py).
    wait_until(lambda: len(threads_of(p.pid)) == 1, 5, what="the thread to end")
    cfs.enter("web", p.pid)
    assert_moved(cfs, "web", p.pid)
    p.stdin.write("go\n")
    p.stdin.flush()
    assert read_line(p.stdout, 10).strip() == "thread ran"


def _write_in_thread(path, data):
    box = {}

    def go():
        t0 = time.monotonic()
        box["err"] = write_errno(path, data)
        box["took"] = time.monotonic() - t0
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, box


def _served_quickly(cfs):
    """ls, cat and mkdir each answered within a second."""
    name = f"q{secrets.token_hex(3)}"
    for what, fn in [("ls", lambda: run(["ls", cfs.mnt], timeout=5)),
                     ("cat", lambda: run(["cat", cfs.path("web", "tasks")], timeout=5)),
                     ("mkdir", lambda: run(["mkdir", cfs.path(name)], timeout=5))]:
        _, took = timed(fn)
        assert took < 1.0, f"{what} took {took:.2f}s during an injection"


def test_stopped_target_does_not_wedge_the_daemon(cfs, procs):
    cfs.mkdir("web")
    p = procs.sleep()
    wait_sleeping(p.pid)
    os.kill(p.pid, signal.SIGSTOP)
    wait_until(lambda: helpers.proc_status(p.pid)["State"][0] == "T", 5, what="stop")
    before = process_view(p.pid)
    t, box = _write_in_thread(cfs.path("web", "tasks"), str(p.pid))
    _served_quickly(cfs)
    t.join(10)
    assert not t.is_alive(), "write to tasks for a stopped process did not return in 10s"
    err = box["err"]
    assert err in (0, errno.EBUSY, errno.EAGAIN), errname(err)
    # Still stopped: the injection must not resume a stopped process.
    assert helpers.proc_status(p.pid)["State"][0] == "T"
    if err == 0:
        assert_moved(cfs, "web", p.pid)
    else:
        assert_untouched(p.pid, before, state="T")
    os.kill(p.pid, signal.SIGCONT)
    wait_until(lambda: helpers.proc_status(p.pid)["State"][0] == "S", 5, what="continue")
    assert helpers.proc_status(p.pid)["TracerPid"] == "0"
    assert p.poll() is None
    if err == 0:
        assert_moved(cfs, "web", p.pid)


def test_requests_are_served_during_an_injection_into_a_frozen_container(cfs, procs):
    """A process written into a frozen container cannot run the injected
    calls: the write waits (bounded) while other requests are answered."""
    cfs.mkdir("web")
    assert write_errno(cfs.path("web", "freeze"), "1") == 0
    wait_until(lambda: "frozen 1" in read_text(cfs.path("web", "events")), 5, what="frozen")
    p = procs.sleep()
    wait_sleeping(p.pid)
    before = process_view(p.pid)
    t, box = _write_in_thread(cfs.path("web", "tasks"), str(p.pid))
    time.sleep(0.1)
    pending = t.is_alive()
    _served_quickly(cfs)
    t.join(15)
    assert not t.is_alive(), "write to tasks of a frozen container did not return in 15s"
    err = box["err"]
    assert err in (0, errno.EBUSY, errno.EAGAIN), errname(err)
    if err:
        assert_untouched(p.pid, before)
    # Thaw: the daemon is healthy and the process alive, not traced.
    assert write_errno(cfs.path("web", "freeze"), "0") == 0
    wait_until(lambda: helpers.proc_status(p.pid)["State"][0] == "S", 5, what="thawed sleep")
    assert helpers.proc_status(p.pid)["TracerPid"] == "0"
    if err == 0:
        assert_moved(cfs, "web", p.pid)
    else:
        s = procs.sleep()
        cfs.enter("web", s.pid)
        assert_moved(cfs, "web", s.pid)
    print(f"write was {'pending' if pending else 'done'} after 0.1s; took {box['took']:.2f}s")


# ------------------------------------------------------------------ interactive

def test_interactive_bash_under_tmux(cfs, procs, tmp_path):
    cfs.mkdir("web")
    sock = f"cfs-{secrets.token_hex(4)}"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    run([*tmux, "new-session", "-d", "-s", "t", "-x", "200", "-y", "50",
         "env", "PS1=$ ", "bash", "--norc", "--noprofile", "-i"])
    server = int(run([*tmux, "display-message", "-p", "-t", "t", "#{pid}"]).stdout)
    procs.add_pid(server)
    bash = int(run([*tmux, "display-message", "-p", "-t", "t", "#{pane_pid}"]).stdout)
    procs.add_pid(bash)
    procs.on_cleanup(lambda: run([*tmux, "kill-server"], check=False))

    def pane():
        return run([*tmux, "capture-pane", "-p", "-J", "-t", "t", "-S", "-100"]).stdout

    def type_and_wait(cmd, expect, timeout=10):
        run([*tmux, "send-keys", "-t", "t", cmd, "Enter"])
        wait_until(lambda: expect in pane(), timeout, what=f"{expect!r} in the pane:\n{pane()}")

    type_and_wait("echo READY-$((40+2))", "READY-42")
    # bash is waiting for a key (in read/pselect) when it is moved.
    wait_until(lambda: helpers.proc_status(bash)["State"][0] == "S", 5, what="bash idle")
    r = shell_echo(bash, cfs.path("web", "tasks"))
    assert r.returncode == 0, r.stderr
    assert_moved(cfs, "web", bash)
    net = os.stat(cfs.path("web", "network")).st_ino
    # Its next commands run inside: children and the shell itself.
    type_and_wait('echo "H=$(hostname)"', "H=web")
    type_and_wait('echo "N=$(readlink /proc/self/ns/net)"', f"N=net:[{net}]")
    type_and_wait('echo "L=$(ip -o link | cut -d: -f2 | tr -d " \\n")"', "L=lo\n")
    # /proc is the container's own: its pid 1 is the init. The shell itself
    # kept its pid namespace (as with setns(2)): seen from the host.
    type_and_wait('echo "I=$(cat /proc/1/comm)"', "I=containerfs-ini")
    assert helpers.proc_ns_ino(bash, "network") == net
    assert bash in cfs.task_pids("web")
    assert helpers.proc_status(bash)["TracerPid"] == "0"


# ------------------------------------------------------------------ more cases

@pytest.mark.namespaces(LIGHT)
def test_a_thread_id_moves_the_whole_process(cfs, procs):
    cfs.mkdir("web")
    p = procs.threads(3)
    tid = threads_of(p.pid)[-1]
    assert tid != p.pid
    cfs.enter("web", tid)
    assert_moved(cfs, "web", p.pid, LIGHT_NAMES)
    assert cfs.task_pids("web") == [p.pid]


@pytest.mark.namespaces(LIGHT)
def test_multithreaded_writer_enters_itself(cfs):
    """echo 0 from a python3 process with 4 threads: all of them inside
    before its next instruction after write()."""
    code = ("import threading, os, sys\n"
            "ev = threading.Event()\n"
            "for _ in range(3): threading.Thread(target=ev.wait, daemon=True).start()\n"
            "with open(sys.argv[1], 'w') as f: f.write('0')\n"
            "me = os.readlink('/proc/thread-self/ns/net')\n"
            "tids = os.listdir('/proc/self/task')\n"
            "others = {os.readlink(f'/proc/self/task/{t}/ns/net') for t in tids}\n"
            "print(me, len(tids), *sorted(others))\n")
    cfs.mkdir("web")
    net = f"net:[{os.stat(cfs.path('web', 'network')).st_ino}]"
    for _ in range(10):
        r = run([PY, "-c", code, cfs.path("web", "tasks")])
        assert r.stdout.split() == [net, "4", net]


def test_from_one_container_to_another(cfs, procs):
    cfs.mkdir("web", "db")
    p = procs.sleep()
    cfs.enter("web", p.pid)
    assert_moved(cfs, "web", p.pid)
    cfs.enter("db", p.pid)
    assert_moved(cfs, "db", p.pid)
    assert cfs.task_pids("web") == [] and cfs.task_pids("db") == [p.pid]
    # Writing it again where it is changes nothing.
    cfs.enter("db", p.pid)
    assert_moved(cfs, "db", p.pid)


def test_into_a_nested_container(cfs, procs):
    cfs.mkdir("a", "a/b")
    p = procs.sleep()
    cfs.enter("a/b", p.pid)
    assert_moved(cfs, "a/b", p.pid)
    sh = procs.shell()
    cfs.enter("a/b", sh.pid)
    child = int(sh.run("sleep 100 & echo $!"))
    procs.add_pid(child)
    # Born three levels deep: host, a, b.
    assert len(helpers.nspid(child)) == 3


def test_mount_namespace_entry_resets_cwd_and_root(cfs, procs, tmp_path):
    cfs.mkdir("web")
    p = procs.popen(["sleep", "100"], cwd=str(tmp_path))
    wait_sleeping(p.pid)
    assert os.readlink(f"/proc/{p.pid}/cwd") == str(tmp_path)
    cfs.enter("web", p.pid)
    # As setns(2) with CLONE_NEWNS: the root of the container's namespace.
    assert os.readlink(f"/proc/{p.pid}/cwd") == "/"
    assert os.readlink(f"/proc/{p.pid}/root") == "/"


def test_zombie_is_esrch(cfs, procs):
    cfs.mkdir("web")
    sh = procs.popen(["sh", "-c", "sleep 0.05 & exec sleep 100"])
    wait_until(lambda: any(helpers.proc_status(c) and helpers.proc_status(c)["State"][0] == "Z"
                           for c in helpers.descendants(sh.pid)), 5, what="a zombie")
    z = [c for c in helpers.descendants(sh.pid) if helpers.proc_status(c)["State"][0] == "Z"][0]
    err = write_errno(cfs.path("web", "tasks"), str(z))
    assert err == errno.ESRCH, errname(err)
    assert cfs.task_pids("web") == []


def test_process_in_its_own_user_namespace_is_eperm(cfs, procs):
    cfs.mkdir("web")
    p = procs.popen(["unshare", "--user", "--map-root-user", "sleep", "100"])
    wait_until(lambda: helpers.cmdline(p.pid).startswith("sleep"), 5, what="unshare to exec")
    assert_refused(cfs, "web", p.pid, errno.EPERM)


def test_home_from_an_own_user_namespace_is_eperm(cfs, procs):
    """The kernel lets no process setns() back into an ancestor user
    namespace: it stays in the container, with a clear errno."""
    cfs.mkdir("web")
    run(["touch", cfs.path("web", "user")])
    p = procs.sleep()
    cfs.enter("web", p.pid)
    before = process_view(p.pid)
    err = write_errno(cfs.path("tasks"), str(p.pid))
    assert err == errno.EPERM, errname(err)
    assert_untouched(p.pid, before)
    assert cfs.task_pids("web") == [p.pid]


def test_entry_racing_a_namespace_change(cfs, procs):
    """`echo PID > web/tasks` while another process runs `rm web/ipc`: the
    entry either wins (and the rm is EBUSY) or comes after (into the new
    namespaces), or is refused with EBUSY; the process is never told it
    does not exist."""
    errors = []
    for i in range(200):
        name = f"r{i}"
        cfs.mkdir(name)
        p = procs.sleep()
        wait_sleeping(p.pid)
        before = process_view(p.pid)
        out = {}
        enter = threading.Thread(target=lambda: out.__setitem__(
            "enter", write_errno(cfs.path(name, "tasks"), str(p.pid))))
        change = threading.Thread(target=lambda: out.__setitem__(
            "rm", helpers.errno_of(os.unlink, cfs.path(name, "ipc"))))
        first, second = (enter, change) if i % 4 else (change, enter)
        first.start()
        time.sleep(0.0002 * (i % 7))
        second.start()
        first.join(15)
        second.join(15)
        assert not first.is_alive() and not second.is_alive(), "hung"
        if out["enter"] == 0:
            assert_moved(cfs, name, p.pid, ("network", "uts", "ipc", "pid", "mount", "cgroup"))
            assert out["rm"] in (0, errno.EBUSY), errname(out["rm"])
        else:
            assert_untouched(p.pid, before)
            if out["enter"] != errno.EBUSY:
                errors.append((i, errname(out["enter"]), errname(out["rm"])))
        helpers.kill_pid(p.pid)
        p.wait(timeout=5)
        run(["rmdir", cfs.path(name)])
        if errors:
            break
    print(f"{i + 1} rounds")
    assert not errors, f"entries refused with a wrong errno: {errors}"
