"""A container's console: a pseudo-terminal held by its init, whose output
is kept (at least the last 64 KiB) across daemon restarts.

Programs are started on it through `run`; what they print is read back
through `console`, and the kernel's view (/proc/PID/fd, /proc/PID/status)
says which terminal they are on and whether they got a signal.
"""
import os
import select
import subprocess
import time

import helpers
from helpers import console_bytes, errname, read_record, run_in, wait_console, wait_until, write_errno

KEPT = 64 * 1024  # at least


def console_size(cfs, container):
    return os.stat(cfs.path(container, "console")).st_size


def test_a_fresh_console_is_empty(cfs):
    cfs.mkdir("web")
    assert console_size(cfs, "web") == 0
    assert console_bytes(cfs, "web") == b""
    st = os.stat(cfs.path("web", "console"))
    assert oct(st.st_mode & 0o777) == oct(0o600)


def test_output_of_a_program_is_kept_and_sized(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "echo hello console") == 0
    out = wait_console(cfs, "web", "hello console\r\n")
    assert console_size(cfs, "web") == len(out)


def test_cat_gives_the_last_64_kib(cfs):
    cfs.mkdir("web")
    # 200000 bytes of numbered lines: "00001\n" ... (the terminal makes
    # each "\n" "\r\n").
    assert run_in(cfs, "web", "seq -w 1 28571; echo END") == 0
    wait_until(lambda: console_bytes(cfs, "web").endswith(b"END\r\n"), 10, what="END on the console")
    size = console_size(cfs, "web")
    out = console_bytes(cfs, "web")
    assert size > 3 * KEPT
    assert len(out) >= KEPT
    assert len(out) <= size
    expected = b"".join(b"%05d\r\n" % i for i in range(1, 28572)) + b"END\r\n"
    assert len(expected) == size
    assert out == expected[-len(out):]


def test_reads_at_offsets_within_what_is_kept(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "echo 0123456789") == 0
    wait_console(cfs, "web", "0123456789")
    fd = os.open(cfs.path("web", "console"), os.O_RDONLY)
    try:
        assert os.pread(fd, 4, 3) == b"3456"
        assert os.pread(fd, 100, 12) == b""  # past the end ("...9\r\n" is 12 bytes)
    finally:
        os.close(fd)


def test_tail_f_follows_the_console(cfs, procs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "echo first") == 0
    wait_console(cfs, "web", "first")
    tail = procs.popen(["tail", "-f", cfs.path("web", "console")], stdout=subprocess.PIPE)
    assert b"first" in read_line_bounded(tail.stdout, 5)
    assert run_in(cfs, "web", "echo second") == 0
    # tail polls the size (inotify does not work through FUSE): once a second.
    assert b"second" in read_line_bounded(tail.stdout, 10)


def read_line_bounded(stream, timeout):
    r, _, _ = select.select([stream], [], [], timeout)
    assert r, f"no line within {timeout} s"
    return stream.readline()


def test_poll_wakes_on_new_output(cfs):
    cfs.mkdir("web")
    fd = os.open(cfs.path("web", "console"), os.O_RDONLY)
    try:
        while os.read(fd, 65536):
            pass
        p = select.poll()
        p.register(fd, select.POLLIN)
        assert p.poll(300) == [], "readable with nothing new"
        assert run_in(cfs, "web", "echo wake up") == 0
        assert p.poll(5000) == [(fd, select.POLLIN)]
        got = b""
        while b"wake up" not in got:
            chunk = os.read(fd, 65536)
            assert chunk
            got += chunk
        assert p.poll(300) == [], "still readable after reading it all"
    finally:
        os.close(fd)


def test_writing_types_input_for_a_shell_on_the_console(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "exec sh -i") == 0
    assert write_errno(cfs.path("web", "console"), "echo typed-$((6*7))\n") == 0
    wait_console(cfs, "web", "typed-42\r\n")


def test_programs_are_on_the_consoles_terminal(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "exec sleep 100") == 0
    init = cfs.init_pid("web")
    sleep = cfs.task_pids("web")[0]
    # The slave the init holds (console_layout.hpp: fd 11) and the
    # program's stdio are the same terminal.
    terminal = os.stat(f"/proc/{init}/fd/11").st_rdev
    for fd in (0, 1, 2):
        assert os.stat(f"/proc/{sleep}/fd/{fd}").st_rdev == terminal
    # ... and its controlling terminal (field 7 of /proc/PID/stat).
    with open(f"/proc/{sleep}/stat") as f:
        tty_nr = int(f.read().rsplit(")", 1)[1].split()[4])
    assert tty_nr == terminal


def test_the_console_survives_a_daemon_restart_without_hangup(cfs):
    cfs.mkdir("web")
    # A counter on the console; a SIGHUP would be written down in a file.
    mark = os.path.join(cfs.tmp, "hup")
    script = (f"trap 'echo hup > {mark}' HUP; i=0; "
              "while :; do i=$((i+1)); echo tick-$i; sleep 0.05; done")
    assert run_in(cfs, "web", script) == 0
    wait_console(cfs, "web", "tick-3\r\n")
    # The loop's shell (its sleeps come and go).
    pid = next(p for p in cfs.task_pids("web") if helpers.cmdline(p).startswith("sh -c"))
    cfs.kill_daemon()
    time.sleep(1.0)  # written while no daemon runs
    cfs.restart()
    out = wait_console(cfs, "web", "tick-30\r\n")
    ticks = [int(line[5:]) for line in out.decode().split("\r\n") if line.startswith("tick-")]
    assert ticks == list(range(1, len(ticks) + 1)), "output lost around the restart"
    assert helpers.alive(pid)
    assert not os.path.exists(mark), "the program got SIGHUP"
    assert helpers.proc_status(pid)["SigPnd"] == "0000000000000000"


def test_the_daemon_keeps_no_descriptor_per_console(cfs):
    for i in range(20):
        cfs.mkdir(f"c{i}")
        assert run_in(cfs, f"c{i}", "echo hi") == 0
        wait_console(cfs, f"c{i}", "hi")
    before = len(os.listdir(f"/proc/{cfs.daemon.pid}/fd"))
    for i in range(20):
        assert b"hi" in console_bytes(cfs, f"c{i}")
        assert write_errno(cfs.path(f"c{i}", "console"), "\n") == 0
    after = len(os.listdir(f"/proc/{cfs.daemon.pid}/fd"))
    assert after == before, sorted(os.readlink(f"/proc/{cfs.daemon.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{cfs.daemon.pid}/fd"))


def test_a_frozen_container_gets_no_new_console(cfs):
    cfs.mkdir("web")
    assert write_errno(cfs.path("web", "freeze"), "1") == 0
    before = (cfs.init_pid("web"), read_record(cfs.cgroup_dir_of("web")))
    err = helpers.errno_of(os.open, cfs.path("web", "console"), os.O_RDONLY)
    assert errname(err) == "EBUSY"
    # No ring at the init's console descriptor (console_layout.hpp: 13).
    assert not os.path.exists(f"/proc/{cfs.init_pid('web')}/fd/13")
    assert (cfs.init_pid("web"), read_record(cfs.cgroup_dir_of("web"))) == before
    assert write_errno(cfs.path("web", "freeze"), "0") == 0
    assert console_bytes(cfs, "web") == b""


def test_a_frozen_container_keeps_its_console_readable(cfs):
    cfs.mkdir("web")
    assert run_in(cfs, "web", "echo before the freeze") == 0
    wait_console(cfs, "web", "before the freeze")
    assert write_errno(cfs.path("web", "freeze"), "1") == 0
    assert b"before the freeze" in console_bytes(cfs, "web")
    assert write_errno(cfs.path("web", "freeze"), "0") == 0


def test_the_host_has_no_console(cfs):
    assert "console" not in os.listdir(cfs.mnt)
    assert errname(helpers.errno_of(os.open, cfs.path("console"), os.O_RDONLY)) == "ENOENT"


def test_the_ring_cannot_be_truncated_from_inside(cfs, busybox_root):
    """Root inside reaches the init's descriptors through /proc/1/fd: the
    ring is sealed, so the daemon, which maps it, is never faulted."""
    cfs.mkdir("web")
    os.symlink(str(busybox_root), cfs.path("web", "root"))
    assert run_in(cfs, "web", "truncate -s 0 /proc/1/fd/13 && echo truncated || echo refused") == 0
    out = wait_console(cfs, "web", "refused")
    assert b"truncated" not in out
    assert cfs.daemon.running()
    assert console_size(cfs, "web") == len(console_bytes(cfs, "web"))
