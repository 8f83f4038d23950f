"""timens_offsets: clock offsets of a container's own time namespace,
settable before its first member, as /proc/PID/timens_offsets."""
import errno
import os

import pytest

import helpers
from helpers import read_text, run, write_errno, write_once


def offsets(path):
    """{clock: (secs, nanosecs)} as the kernel prints them."""
    out = {}
    for line in read_text(path).splitlines():
        clock, secs, nanos = line.split()
        out[clock] = (int(secs), int(nanos))
    return out


@pytest.mark.namespaces("uts,time")
def test_offsets_apply_to_members_and_each_write_keeps_the_other_clock(cfs, procs):
    cfs.mkdir("t")
    f = cfs.path("t", "timens_offsets")
    assert offsets(f) == {"monotonic": (0, 0), "boottime": (0, 0)}
    write_once(f, "monotonic 86400 0\n")
    write_once(f, "boottime 3600 5\n")
    assert offsets(f) == {"monotonic": (86400, 0), "boottime": (3600, 5)}
    init = cfs.init_pid("t")
    assert offsets(f"/proc/{init}/timens_offsets") == offsets(f)
    # A member sees the shifted boottime clock (/proc/uptime).
    sleeper = procs.sleep()
    cfs.enter("t", sleeper.pid)
    host_uptime = float(open("/proc/uptime").read().split()[0])
    inside = float(run(["nsenter", "-t", str(sleeper.pid), "-T", "cat", "/proc/uptime"]).stdout.split()[0])
    assert 3590 < inside - host_uptime < 3700


@pytest.mark.namespaces("uts,time")
def test_offsets_survive_a_restart(cfs):
    cfs.mkdir("t")
    write_once(cfs.path("t", "timens_offsets"), "boottime 42 0\n")
    cfs.restart()
    assert offsets(cfs.path("t", "timens_offsets"))["boottime"] == (42, 0)


@pytest.mark.namespaces("uts,time")
@pytest.mark.parametrize("text", ["garbage\n", "realtime 1 0\n", "monotonic 1\n",
                                  "monotonic 1 1000000000\n", "boottime x 0\n"])
def test_bad_offsets_are_einval_and_change_nothing(cfs, text):
    cfs.mkdir("t")
    f = cfs.path("t", "timens_offsets")
    write_once(f, "monotonic 7 0\n")
    init = cfs.init_pid("t")
    before = offsets(f)
    assert write_errno(f, text) == errno.EINVAL
    assert offsets(f) == before
    assert cfs.init_pid("t") == init


@pytest.mark.namespaces("uts,time")
def test_offsets_with_members_are_ebusy_and_change_nothing(cfs, procs):
    cfs.mkdir("t")
    f = cfs.path("t", "timens_offsets")
    sleeper = procs.sleep()
    cfs.enter("t", sleeper.pid)
    before = offsets(f)
    ns = helpers.proc_ns_ino(sleeper.pid, "time")
    assert write_errno(f, "boottime 5 0\n") == errno.EBUSY
    assert offsets(f) == before
    assert helpers.proc_ns_ino(sleeper.pid, "time") == ns


def test_no_file_without_an_own_time_namespace(cfs):
    cfs.mkdir("t")
    assert "timens_offsets" not in os.listdir(cfs.path("t"))
    assert helpers.errno_of(open, cfs.path("t", "timens_offsets")) == errno.ENOENT
