"""Namespace files are symbolic links that open the real namespaces: for
readlink, stat -L, nsenter, ip netns and setns(2)."""
import os
import socket
import stat
import sys

import helpers
from helpers import DEFAULT_FRESH, run

SETNS_SCRIPT = r"""
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
if libc.setns(fd, int(sys.argv[2])) != 0:
    sys.exit("setns: " + os.strerror(ctypes.get_errno()))
os.close(fd)
print(os.stat("/proc/self/ns/" + sys.argv[3]).st_ino)
if sys.argv[3] == "net":
    print(" ".join(sorted(name for _, name in socket.if_nameindex())))
else:
    print(socket.gethostname())
"""


def test_readlink_and_stat_L(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    for name in DEFAULT_FRESH:
        path = cfs.path("web", name)
        assert stat.S_ISLNK(os.lstat(path).st_mode), name
        target = helpers.readlink(path)
        assert target, name
        # The target opens the namespace itself.
        assert os.stat(target).st_ino == helpers.proc_ns_ino(init, name), name
        assert helpers.stat_L_ino(path) == helpers.proc_ns_ino(init, name), name
        # The filesystem type behind the link is nsfs.
        assert run(["stat", "-L", "-f", "-c", "%T", path]).stdout.strip() == "nsfs", name


def test_nsenter_net_shows_only_lo(cfs):
    cfs.mkdir("web")
    p = run(["nsenter", f"--net={cfs.path('web', 'network')}", "ip", "-o", "link"])
    links = [line.split(":")[1].strip() for line in p.stdout.splitlines()]
    assert links == ["lo"]
    host = {name for _, name in socket.if_nameindex()}
    assert host != {"lo"}, "host has only lo: the test would not tell namespaces apart"
    # The namespace nsenter entered is the init's.
    p = run(["nsenter", f"--net={cfs.path('web', 'network')}", "readlink", "/proc/self/ns/net"])
    assert p.stdout.strip() == f"net:[{helpers.proc_ns_ino(cfs.init_pid('web'), 'network')}]"


def test_python_open_and_setns(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    p = run([sys.executable, "-c", SETNS_SCRIPT, cfs.path("web", "network"),
             str(helpers.CLONE_NEWNET), "net"])
    ino, links = p.stdout.splitlines()
    assert int(ino) == helpers.proc_ns_ino(init, "network")
    assert links == "lo"
    p = run([sys.executable, "-c", SETNS_SCRIPT, cfs.path("web", "uts"),
             str(helpers.CLONE_NEWUTS), "uts"])
    ino, hostname = p.stdout.splitlines()
    assert int(ino) == helpers.proc_ns_ino(init, "uts")
    assert hostname == "web"


def test_nsenter_all_namespaces_of_the_init(cfs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    w = lambda n: cfs.path("web", n)  # noqa: E731
    cmd = ["nsenter", f"--net={w('network')}", f"--uts={w('uts')}", f"--ipc={w('ipc')}",
           f"--pid={w('pid')}", f"--cgroup={w('cgroup')}", f"--mount={w('mount')}",
           "sh", "-c",
           "for n in net uts ipc pid_for_children cgroup mnt; do readlink /proc/self/ns/$n; done; "
           "hostname"]
    out = run(cmd).stdout.split()
    expect = [f"{k}:[{helpers.proc_ns_ino(init, n)}]" for k, n in
              [("net", "network"), ("uts", "uts"), ("ipc", "ipc"), ("pid", "pid"),
               ("cgroup", "cgroup"), ("mnt", "mount")]]
    assert out[:6] == expect
    assert out[6] == "web"


def test_ip_netns_exec_through_run_netns(cfs, procs):
    cfs.mkdir("web")
    init = cfs.init_pid("web")
    name = helpers.link_netns(procs, cfs.path("web", "network"))
    p = run(["ip", "netns", "exec", name, "ip", "-o", "link"])
    links = [line.split(":")[1].strip() for line in p.stdout.splitlines()]
    assert links == ["lo"]
    p = run(["ip", "netns", "exec", name, "readlink", "/proc/self/ns/net"])
    assert p.stdout.strip() == f"net:[{helpers.proc_ns_ino(init, 'network')}]"
    # Set up an address inside; the init's namespace sees it.
    run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"])
    p = run(["nsenter", "-t", str(init), "--net", "ip", "-o", "link", "show", "lo"])
    assert "UP" in p.stdout


def test_ns_files_follow_each_container(cfs):
    cfs.mkdir("web", "db")
    w, d = cfs.init_pid("web"), cfs.init_pid("db")
    for name in DEFAULT_FRESH:
        wi = helpers.stat_L_ino(cfs.path("web", name))
        di = helpers.stat_L_ino(cfs.path("db", name))
        assert wi == helpers.proc_ns_ino(w, name)
        assert di == helpers.proc_ns_ino(d, name)
        assert wi != di, name

