"""`echo PID > tasks` for processes under seccomp filters: the daemon judges
the process's own filters for exactly the system calls the move would make
in each thread, moves it when all would be allowed, and refuses with EPERM,
the process untouched, when any would be denied, killed, trapped, traced or
sent to a notifier.

The processes run a tiny C program (compiled here with cc) that attaches
real filters with seccomp(2) -- to the whole process, or to one thread only
-- and then waits in pause(). Every check reads the kernel's own view
(/proc/PID/task/*/ns/*, /proc/PID/cgroup, /proc/PID/status); every process
is killed by pid at the end (the `procs` fixture); every wait is bounded.
"""
import errno
import os
import platform
import struct
import subprocess

import pytest

import helpers
from helpers import (assert_untouched, child_ns_ino, container_ns, errname, process_view, read_line,
                     run, threads_of, wait_until, write_errno)

# -o splits on commas: the list escapes them (containerfs(8)). No pid
# namespace of its own: a multi-threaded process may enter.
LIGHT = r"network\,uts\,ipc\,mount"
LIGHT_NAMES = ("network", "uts", "ipc", "mount")
ALL = ("network", "uts", "ipc", "pid", "mount", "cgroup")

# ---------------------------------------------------------------- filters

LD_W_ABS, LD_IMM, ALU_AND_K = 0x20, 0x00, 0x54
JEQ_K, JGE_K, JA = 0x15, 0x35, 0x05
RET_K = 0x06

RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7fc00000
RET_TRACE = 0x7ff00000
RET_LOG = 0x7ffc0000
RET_ALLOW = 0x7fff0000

OFF_NR, OFF_ARCH = 0, 4


def arg_lo(i):
    return 16 + 8 * i


ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(platform.machine())
# System call numbers: x86_64's table, aarch64's (asm-generic); "last" is the
# last of the classic numbers (new ones start at 424 on both).
_NAMES = ("setns", "pidfd_open", "unshare", "mount", "umount2", "pivot_root", "reboot", "bpf",
          "ptrace", "kexec_load", "init_module", "finit_module", "delete_module", "add_key",
          "keyctl", "swapon", "swapoff", "syslog", "acct", "open_by_handle_at", "perf_event_open",
          "userfaultfd", "fsopen", "fsmount", "move_mount", "open_tree", "clone", "last")
_NUMBERS = {
    "x86_64": (308, 434, 272, 165, 166, 155, 169, 321, 101, 246, 175, 313, 176, 248, 250, 167, 168,
               103, 163, 304, 298, 323, 430, 432, 429, 428, 56, 334),
    "aarch64": (268, 434, 97, 40, 39, 41, 142, 280, 117, 104, 105, 273, 106, 217, 219, 224, 225,
                116, 89, 265, 241, 282, 430, 432, 429, 428, 220, 293),
}
NR = dict(zip(_NAMES, _NUMBERS[platform.machine()])) if platform.machine() in _NUMBERS else None

if NR is None:
    pytest.skip(f"no system call numbers for {platform.machine()}", allow_module_level=True)


def allow_all():
    return [(RET_K, 0, 0, RET_ALLOW)]


def answer(name, action):
    """`action` for one system call, everything else allowed."""
    return [(LD_W_ABS, 0, 0, OFF_NR), (JEQ_K, 0, 1, NR[name]), (RET_K, 0, 0, action),
            (RET_K, 0, 0, RET_ALLOW)]


def default_profile():
    """Shaped like docker's and podman's default profile as libseccomp
    compiles it: the architecture check, an allow-list of every system call
    but those needing CAP_SYS_ADMIN or worse (setns among them; each entry a
    JEQ and a JA to the shared ALLOW), clone only without namespace flags,
    and SECCOMP_RET_ERRNO(EPERM) for the rest."""
    denied = {NR[n] for n in NR if n != "last" and n not in ("pidfd_open", "clone")}
    allowed = [nr for nr in range(451)
               if (nr <= NR["last"] or nr >= 424) and nr not in denied and nr != NR["clone"]]
    p = [(LD_W_ABS, 0, 0, OFF_ARCH), (JEQ_K, 1, 0, ARCH), (RET_K, 0, 0, RET_KILL_THREAD),
         (LD_W_ABS, 0, 0, OFF_NR)]
    # clone(flags) without CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
    p += [(JEQ_K, 0, 5, NR["clone"]), (LD_W_ABS, 0, 0, arg_lo(0)), (ALU_AND_K, 0, 0, 0x7E020000),
          (JEQ_K, 0, 1, 0), (RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, RET_ERRNO | errno.EPERM)]
    allow_at = len(p) + 2 * len(allowed) + 1
    for nr in allowed:
        p.append((JEQ_K, 0, 1, nr))
        p.append((JA, 0, 0, allow_at - len(p) - 1))
    p += [(RET_K, 0, 0, RET_ERRNO | errno.EPERM), (RET_K, 0, 0, RET_ALLOW)]
    assert len(p) == allow_at + 1 and len(allowed) > 280
    return p


def as_hex(filter_):
    return b"".join(struct.pack("=HBBI", *insn) for insn in filter_).hex()


# ---------------------------------------------------------------- the helper

HELPER_C = r"""
/* Attaches seccomp filters given as hex sock_filter arrays, then waits.
 *   helper [--thread HEX] [--strict] HEX... [-- COMMAND...]
 * HEX: a filter for the whole process (attached by the main thread before
 * any other exists); --thread: one more thread, which attaches HEX to
 * itself only (no TSYNC); --strict: strict mode, then echo stdin until EOF;
 * -- COMMAND: exec it under the filters. Says "ready" once set up. */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void attach(const char *hex) {
    size_t n = strlen(hex) / 2 / sizeof(struct sock_filter);
    struct sock_filter *f = calloc(n, sizeof *f);
    unsigned char *b = (unsigned char *)f;
    for (size_t i = 0; i < n * sizeof *f; i++) sscanf(hex + 2 * i, "%2hhx", &b[i]);
    struct sock_fprog prog = {(unsigned short)n, f};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); exit(2); }
}

static const char *thread_filter;
static int ready[2];

static void *thread_body(void *arg) {
    (void)arg;
    attach(thread_filter);
    if (write(ready[1], "t", 1) != 1) exit(3);
    for (;;) pause();
}

int main(int argc, char **argv) {
    int strict = 0, i = 1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); return 2; }
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--thread") && i + 1 < argc) thread_filter = argv[++i];
        else if (!strcmp(argv[i], "--strict")) strict = 1;
        else if (!strcmp(argv[i], "--")) { i++; break; }
        else attach(argv[i]);
    }
    if (i < argc) { execvp(argv[i], argv + i); perror("exec"); return 127; }
    if (thread_filter) {
        pthread_t t;
        char c;
        if (pipe(ready) != 0 || pthread_create(&t, NULL, thread_body, NULL) != 0) return 3;
        if (read(ready[0], &c, 1) != 1) return 3;
    }
    if (strict) {
        char c;
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) { perror("strict"); return 2; }
        if (write(1, "ready\n", 6) != 6) syscall(SYS_exit, 3);
        while (read(0, &c, 1) == 1)  /* read and write only */
            if (write(1, &c, 1) != 1) break;
        syscall(SYS_exit, 0);
    }
    if (write(1, "ready\n", 6) != 6) return 3;
    for (;;) pause();
}
"""


@pytest.fixture(scope="module")
def helper(tmp_path_factory):
    d = tmp_path_factory.mktemp("seccomp-helper")
    src, exe = d / "helper.c", d / "helper"
    src.write_text(HELPER_C)
    r = run(["cc", "-O1", "-Wall", "-pthread", "-o", str(exe), str(src)], check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    return str(exe)


def start(procs, helper, *filters, thread=None, strict=False, command=()):
    """A helper process under `filters` (and one more thread under
    `thread`, or strict mode; or running `command` under them, which says
    "ready" itself); returns once it waits, set up."""
    args = [helper]
    if thread is not None:
        args += ["--thread", as_hex(thread)]
    if strict:
        args.append("--strict")
    args += [as_hex(f) for f in filters]
    if command:
        args += ["--", *command]
    p = procs.popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = read_line(p.stdout, 10)
    assert line == b"ready\n", f"helper said {line!r}"
    wait_until(lambda: (helpers.proc_status(p.pid) or {}).get("State", "").startswith("S"), 5,
               what=f"{p.pid} to wait")
    return p


def seccomp_modes(pid):
    """{tid: the Seccomp: field} of every thread."""
    out = {}
    for tid in threads_of(pid):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            out[tid] = dict(line.split(":", 1) for line in f.read().splitlines())["Seccomp"].strip()
    return out


def assert_moved(cfs, container, pid, names=ALL):
    """Every thread in the container's namespaces, the process in its member
    cgroup, running on, traced by nobody."""
    want = container_ns(cfs, container, names)
    for tid in threads_of(pid):
        got = {n: child_ns_ino(pid, n, tid) for n in names}
        assert got == want, f"thread {tid} of {pid}: {got} != {want}"
    members = cfs.members_cgroup(container)
    assert helpers.cgroup_of(pid) == "/" + os.path.relpath(members, helpers.find_cgroup2_mount())
    st = helpers.proc_status(pid)
    assert st["TracerPid"] == "0"
    assert st["State"][0] in "SR", st["State"]


def assert_refused(cfs, container, p, log_has=()):
    """EPERM, and the process and the container are as they were: same
    namespaces in every thread, same cgroup, alive, neither stopped nor
    traced; the daemon's log names the reason."""
    before = process_view(p.pid)
    err = write_errno(cfs.path(container, "tasks"), str(p.pid))
    assert err == errno.EPERM, errname(err)
    assert p.poll() is None, f"{p.pid} died: {p.returncode}"
    assert_untouched(p.pid, before)
    assert cfs.task_pids(container) == []
    for text in log_has:
        wait_until(lambda: text in cfs.log(), 5, what=f"{text!r} in the daemon's log")


# ---------------------------------------------------------------- moves

def test_allow_all_filter_moves_in_and_home(cfs, procs, helper):
    cfs.mkdir("web")
    p = start(procs, helper, allow_all())
    assert seccomp_modes(p.pid) == {p.pid: "2"}
    host = {n: child_ns_ino(os.getpid(), n) for n in ALL}
    home = helpers.cgroup_of(p.pid)
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid)
    assert cfs.task_pids("web") == [p.pid]
    # Home again, through the host's tasks file.
    assert write_errno(cfs.path("tasks"), str(p.pid)) == 0
    assert {n: child_ns_ino(p.pid, n) for n in ALL} == host
    assert helpers.cgroup_of(p.pid) == home
    assert cfs.task_pids("web") == []
    assert p.poll() is None


def test_filter_denying_unrelated_calls_moves(cfs, procs, helper):
    """Filters that refuse only calls the move does not make, stacked."""
    cfs.mkdir("web")
    p = start(procs, helper, answer("mount", RET_ERRNO | errno.EPERM),
              answer("reboot", RET_KILL_PROCESS), answer("bpf", RET_TRAP))
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid)


def test_setns_only_logged_moves(cfs, procs, helper):
    cfs.mkdir("web")
    p = start(procs, helper, answer("setns", RET_LOG))
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid)


def test_pidfd_open_answered_enosys_moves_through_proc(cfs, procs, helper):
    """Container runtimes answer system calls newer than their profile with
    ENOSYS: the move then joins through /proc/PID/ns/* instead."""
    cfs.mkdir("web")
    p = start(procs, helper, answer("pidfd_open", RET_ERRNO | errno.ENOSYS))
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid)


def test_writer_under_allowing_filter_is_moved_from_another_process(cfs, procs, helper):
    """A shell under a filter that lets the move through (moving itself is
    refused: see below) is moved when another process writes its pid."""
    cfs.mkdir("web")
    p = start(procs, helper, answer("mount", RET_ERRNO | errno.EPERM),
              command=("sh", "-c", 'exec 3</proc; echo ready; read line; exec "$0" -c "$1" net',
                       helpers.PY, helpers.OWN_NS))
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid)
    p.stdin.write(b"go\n")
    p.stdin.flush()
    net = os.stat(cfs.path("web", "network")).st_ino
    assert read_line(p.stdout, 5) == f"net:[{net}]\n".encode()


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("action,shown", [
    (RET_ERRNO | errno.EPERM, "ERRNO(1)"),
    (RET_KILL_PROCESS, "KILL_PROCESS"),
    (RET_KILL_THREAD, "KILL_THREAD"),
    (RET_TRAP, "TRAP(0)"),
    (RET_TRACE, "TRACE(0)"),
    (RET_USER_NOTIF, "USER_NOTIF"),
], ids=["errno", "kill_process", "kill_thread", "trap", "trace", "user_notif"])
def test_setns_refused_by_filter_is_eperm_untouched(cfs, procs, helper, action, shown):
    cfs.mkdir("web")
    p = start(procs, helper, answer("setns", action))
    assert_refused(cfs, "web", p, log_has=("setns(", f"with {shown}"))
    # Still itself a while later: the filter never ran on an injected call.
    assert p.poll() is None and helpers.alive(p.pid)


def test_default_container_profile_is_eperm_untouched(cfs, procs, helper):
    """A process confined like a container without CAP_SYS_ADMIN may not
    setns: it cannot be moved."""
    cfs.mkdir("web")
    p = start(procs, helper, default_profile())
    assert_refused(cfs, "web", p, log_has=("setns(", "with ERRNO(1)"))


def test_most_restrictive_of_stacked_filters_counts(cfs, procs, helper):
    """An allow-all filter on top of one that kills on setns changes
    nothing."""
    cfs.mkdir("web")
    p = start(procs, helper, answer("setns", RET_KILL_PROCESS), allow_all())
    assert_refused(cfs, "web", p, log_has=("filter 1 of 2",))


@pytest.mark.namespaces(LIGHT)
def test_one_thread_with_a_denying_filter_keeps_every_thread_out(cfs, procs, helper):
    """Filters are per thread: the main thread has none, the other one
    denies setns. No thread moves, the cgroup stays."""
    cfs.mkdir("web")
    p = start(procs, helper, thread=answer("setns", RET_ERRNO | errno.EPERM))
    modes = seccomp_modes(p.pid)
    assert sorted(modes.values()) == ["0", "2"], modes
    assert modes[p.pid] == "0"
    filtered = [tid for tid, mode in modes.items() if mode == "2"][0]
    assert_refused(cfs, "web", p, log_has=(f"thread {filtered}",))
    for tid in threads_of(p.pid):
        assert child_ns_ino(p.pid, "network", tid) == child_ns_ino(os.getpid(), "network")


@pytest.mark.namespaces(LIGHT)
def test_threads_under_an_allowing_filter_all_move(cfs, procs, helper):
    cfs.mkdir("web")
    p = start(procs, helper, answer("mount", RET_KILL_PROCESS), thread=allow_all())
    assert sorted(seccomp_modes(p.pid).values()) == ["2", "2"]
    assert write_errno(cfs.path("web", "tasks"), str(p.pid)) == 0
    assert_moved(cfs, "web", p.pid, names=LIGHT_NAMES)


def test_strict_mode_is_eperm_and_lives_on(cfs, procs, helper):
    cfs.mkdir("web")
    p = start(procs, helper, strict=True)
    assert seccomp_modes(p.pid) == {p.pid: "1"}
    assert_refused(cfs, "web", p, log_has=("strict mode",))
    p.stdin.write(b"still here\n")
    p.stdin.flush()
    assert read_line(p.stdout, 5) == b"still here\n"  # it echoes: alive, not killed


@pytest.mark.parametrize("filter_", ["allowing", "denying"])
def test_writer_under_seccomp_moving_itself_is_eperm_untouched(cfs, helper, filter_):
    """A writer's own filters could only be read once it has stopped, which
    is after its write was answered: a writer under seccomp that writes its
    own pid is refused with EPERM up front, whatever its filters would say,
    and stays where it was; the log says to move it from another process."""
    cfs.mkdir("web")
    filters = {"allowing": answer("mount", RET_ERRNO | errno.EPERM),
               "denying": answer("setns", RET_ERRNO | errno.EPERM)}[filter_]
    net = child_ns_ino(os.getpid(), "network")
    script = 'echo $$ > "$1"; echo "rc=$?"; readlink /proc/$$/ns/net; tail -n 1 /proc/$$/cgroup'
    r = run([helper, as_hex(filters), "--", "bash", "-c", script, "bash", cfs.path("web", "tasks")],
            check=False)
    assert r.returncode == 0, r.stderr
    assert "Operation not permitted" in r.stderr, r.stderr
    rc, got_net, cgroup = r.stdout.split()
    assert rc == "rc=1"
    assert got_net == f"net:[{net}]"
    members = "/" + os.path.relpath(cfs.members_cgroup("web"), helpers.find_cgroup2_mount())
    assert not cgroup.endswith(members), cgroup
    wait_until(lambda: "write its pid from another process" in cfs.log(), 5,
               what="the refusal in the daemon's log")
    assert cfs.task_pids("web") == []
