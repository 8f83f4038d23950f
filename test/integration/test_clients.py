"""Real clients open the namespace files.

nsenter, `ip netns` (through a symlink in /run/netns) and runc (an OCI
bundle whose linux.namespaces[].path point at containerfs files) join the
container's namespaces; the kernel (/proc/PID/ns/*) says they did.
"""
import json
import os
import secrets
import shutil
import subprocess

import pytest

import helpers
from helpers import link_netns, ns_ino, proc_ns_ino, read_text, run, wait_until


# ------------------------------------------------------------------ nsenter

def test_nsenter_through_every_file(cfs):
    cfs.mkdir("web")
    f = {n: cfs.path("web", n) for n in ["network", "uts", "ipc", "pid", "mount", "cgroup"]}
    script = ("hostname; echo $$; for n in net uts ipc pid mnt cgroup; do "
              "readlink /proc/self/ns/$n; done")
    r = run(["nsenter", f"--net={f['network']}", f"--uts={f['uts']}", f"--ipc={f['ipc']}",
             f"--pid={f['pid']}", f"--mount={f['mount']}", f"--cgroup={f['cgroup']}",
             "sh", "-c", script])
    out = r.stdout.split()
    assert out[0] == "web"
    # Born in web's pid namespace: a small pid there (1 is the init).
    assert 1 < int(out[1]) < 100, out[1]
    want = [f"{k}:[{ns_ino(f[n])}]" for k, n in [("net", "network"), ("uts", "uts"), ("ipc", "ipc"),
                                              ("pid", "pid"), ("mnt", "mount"),
                                              ("cgroup", "cgroup")]]
    assert out[2:] == want
    # The same as nsenter through the init's /proc files.
    init = cfs.init_pid("web")
    r2 = run(["nsenter", "-t", str(init), "-n", "-u", "-i", "-p", "-m", "-C", "sh", "-c",
              "for n in net uts ipc pid mnt cgroup; do readlink /proc/self/ns/$n; done"])
    assert r2.stdout.split() == want


def test_nsenter_user_namespace_file(cfs):
    cfs.mkdir("web")
    run(["touch", cfs.path("web", "user")])
    run(["sh", "-c", 'echo "0 0 1" > "$1" && echo "0 0 1" > "$2"', "sh",
         cfs.path("web", "uid_map"), cfs.path("web", "gid_map")])
    r = run(["nsenter", f"--user={cfs.path('web', 'user')}", f"--uts={cfs.path('web', 'uts')}",
             "sh", "-c", "id -u; hostname; readlink /proc/self/ns/user; cat /proc/self/uid_map"])
    out = r.stdout.split()
    assert out[0] == "0"
    assert out[1] == "web"
    assert out[2] == f"user:[{ns_ino(cfs.path('web', 'user'))}]"
    assert out[3:6] == ["0", "0", "1"]


# ------------------------------------------------------------------ ip netns

def test_ip_netns_through_a_run_netns_symlink(cfs, procs):
    cfs.mkdir("web")
    name = link_netns(procs, cfs.path("web", "network"))
    assert name in run(["ip", "netns", "list"]).stdout.split()
    net = ns_ino(cfs.path("web", "network"))
    r = run(["ip", "netns", "exec", name, "readlink", "/proc/self/ns/net"])
    assert r.stdout.strip() == f"net:[{net}]"
    # A member is identified by ip.
    s = procs.sleep()
    cfs.enter("web", s.pid)
    assert run(["ip", "netns", "identify", str(s.pid)]).stdout.split() == [name]
    pids = [int(x) for x in run(["ip", "netns", "pids", name]).stdout.split()]
    assert s.pid in pids and cfs.init_pid("web") in pids
    # Plumbing: a veth pair with one end moved into web by its netns name.
    host_end, inner = f"cfsv{secrets.token_hex(3)}", f"cfsp{secrets.token_hex(3)}"
    procs.on_cleanup(lambda: run(["ip", "link", "del", host_end], check=False))
    run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", inner, "netns", name])
    run(["ip", "link", "set", host_end, "up"])
    run(["ip", "addr", "add", "10.123.45.1/30", "dev", host_end])
    run(["ip", "netns", "exec", name, "ip", "link", "set", inner, "up"])
    run(["ip", "netns", "exec", name, "ip", "addr", "add", "10.123.45.2/30", "dev", inner])
    inside = run(["nsenter", "-t", str(s.pid), "--net", "ip", "-o", "link"]).stdout
    assert inner in inside
    assert inner not in run(["ip", "-o", "link"]).stdout
    # And it carries traffic between the host and the container.
    if shutil.which("ping"):
        wait_until(lambda: run(["ping", "-c", "1", "-W", "1", "10.123.45.2"], check=False)
                   .returncode == 0, 10, what="ping through the veth")


# ------------------------------------------------------------------ runc

def make_bundle(root, mnt_files, args):
    """An OCI bundle: busybox-static rootfs, config.json from `runc spec`,
    joining the given namespace files."""
    rootfs = root / "rootfs"
    for d in ["bin", "proc", "dev", "sys", "tmp"]:
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in ["sh", "hostname", "cat", "sleep", "readlink", "ls", "ip"]:
        os.symlink("busybox", rootfs / "bin" / applet)
    run(["runc", "spec", "-b", str(root)])
    config = json.loads((root / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    # runc sets the hostname of a uts namespace it is given: keep web's.
    config.pop("hostname", None)
    spaces = config["linux"]["namespaces"]
    for kind, path in mnt_files.items():
        for ns in spaces:
            if ns["type"] == kind:
                ns["path"] = path
                break
        else:
            spaces.append({"type": kind, "path": path})
    (root / "config.json").write_text(json.dumps(config, indent=1))


@pytest.fixture
def runc(tmp_path, procs):
    if not shutil.which("runc"):
        pytest.skip("runc is not installed (Debian package runc)")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("no /bin/busybox (Debian package busybox-static)")
    state = tmp_path / "runc-state"
    made = []

    def cmd(*args, **kw):
        return run(["runc", "--root", str(state), *args], **kw)

    def new_id():
        cid = f"cfst-{secrets.token_hex(4)}"
        made.append(cid)
        return cid

    cmd.new_id = new_id
    cmd.state = str(state)
    yield cmd
    for cid in made:
        cmd("delete", "-f", cid, check=False, timeout=20)


def test_runc_joins_the_namespace_files(cfs, runc, tmp_path):
    cfs.mkdir("web")
    files = {"network": cfs.path("web", "network"), "uts": cfs.path("web", "uts")}
    bundle = tmp_path / "bundle"
    make_bundle(bundle, files, ["/bin/busybox", "sh", "-c",
                                "hostname; for n in net uts pid; do "
                                "readlink /proc/self/ns/$n; done"])
    cid = runc.new_id()
    r = runc("run", "-b", str(bundle), cid, check=False, timeout=30)
    assert r.returncode == 0, f"runc run failed:\n{r.stderr}"
    out = r.stdout.split()
    assert out[0] == "web"
    assert out[1] == f"net:[{ns_ino(files['network'])}]"
    assert out[2] == f"uts:[{ns_ino(files['uts'])}]"
    # runc made its own pid namespace (not given a path).
    assert out[3] != f"pid:[{ns_ino(cfs.path('web', 'pid'))}]"
    assert read_text(cfs.path("web", "hostname")).strip() == "web"


def test_runc_detached_process_is_in_the_containers_namespaces(cfs, runc, procs, tmp_path):
    cfs.mkdir("web")
    files = {"network": cfs.path("web", "network"), "uts": cfs.path("web", "uts"),
             "ipc": cfs.path("web", "ipc")}
    bundle = tmp_path / "bundle"
    make_bundle(bundle, files, ["/bin/busybox", "sleep", "100"])
    cid = runc.new_id()
    pidfile = tmp_path / "pid"
    # Detached, the container's process inherits runc's stdio: not pipes we
    # would wait on.
    err = tmp_path / "runc.err"
    with open(err, "w") as e:
        rc = subprocess.run(["runc", "--root", runc.state, "run", "-d", "--pid-file",
                             str(pidfile), "-b", str(bundle), cid], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=e, timeout=30).returncode
    assert rc == 0, f"runc run -d failed:\n{err.read_text()}"
    pid = int(pidfile.read_text())
    procs.add_pid(pid)  # reparented to us (subreaper): reaped at the end
    # `run -d` returns once the process was told to start: it may still be
    # in its execve.
    wait_until(lambda: helpers.cmdline(pid) == "/bin/busybox sleep 100", 10,
               what=f"runc's process {pid} to exec busybox ({helpers.cmdline(pid)!r})")
    for n in files:
        assert proc_ns_ino(pid, n) == ns_ino(files[n]), n
    assert proc_ns_ino(pid, "mount") != ns_ino(cfs.path("web", "mount"))
    st = json.loads(runc("state", cid).stdout)
    assert st["status"] == "running" and st["pid"] == pid
    runc("kill", cid, "KILL")
    helpers.wait_dead(pid, 10)
    runc("delete", "-f", cid, timeout=20)
    assert cid not in runc("list", "-q").stdout.split()
    # web is untouched by runc's comings and goings.
    assert helpers.alive(cfs.init_pid("web"))
    assert read_text(cfs.path("web", "hostname")).strip() == "web"
