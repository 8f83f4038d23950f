"""Signals that come while a process is moved are delivered as if nothing
had happened: none is lost, none is merged away. A standard signal that
arrives while one of its kind is pending is merged into it; a POSIX timer
counts the expirations merged into its pending signal (si_overrun), so a
program that adds 1 + si_overrun per signal knows exactly how often its
timer expired -- unless a move takes a signal from it and queues it back
behind a later one, which then swallows it.

The process is programs/timer_counter.c: a 1 ms POSIX timer with one of
SIGALRM, SIGCHLD and SIGIO, counted by its handler; at the end it compares
with the timer's own count. Every process is killed by pid at the end (the
`procs` fixture); every wait is bounded.
"""
import signal
import subprocess
import time

import pytest

from helpers import errname, read_line, write_errno

PERIOD_NS = 1_000_000


@pytest.mark.parametrize("sig", [signal.SIGALRM, signal.SIGCHLD, signal.SIGIO],
                         ids=["SIGALRM", "SIGCHLD", "SIGIO"])
def test_no_timer_expiration_is_lost_by_moves_in_and_out(cfs, procs, program, sig):
    cfs.mkdir("web")
    p = procs.popen([program("timer_counter"), str(int(sig)), str(PERIOD_NS)], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, text=True)
    assert read_line(p.stdout, 10).strip() == "ticking"
    for _ in range(10):
        for tasks in (cfs.path("web", "tasks"), cfs.path("tasks")):
            err = write_errno(tasks, str(p.pid))
            assert err == 0, errname(err)
            time.sleep(0.003)
    assert p.pid in cfs.task_pids()  # home again, after 20 moves
    p.stdin.write("count\n")
    p.stdin.flush()
    counted, expired = (int(x) for x in read_line(p.stdout, 10).split())
    assert counted == expired, f"{expired - counted} of {expired} expirations lost"
    assert expired > 20
    assert p.poll() is None
