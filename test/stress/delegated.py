"""The delegated user's client: a real unprivileged user the run creates,
a container root delegated to it with chown, and the user's operations
below it, each run as the user (setpriv) -- the shared ones (clients.py),
and:

  tasks    its own sleep processes: moved into one of its containers; moved
           between two of its containers in one user namespace (one it
           made at the top and those below it); one moved into a container
           it cannot enter, of another user namespace or with a namespace
           another owns (root's uts inherited from D, a uts shared with a
           container of another user namespace): EPERM, untouched (nobody
           leaves a user namespace, the kernel's rule); or killed
           (echo 1 > kill)
  deny     what it must be refused, with EPERM and nothing changed:
           moving a root process into its container, sharing a root
           container's namespace (ln -s), rmdir of a container holding a
           root process
"""
import errno
import json
import os
import posixpath
import subprocess

import helpers
from clients import Client
from model import INHERITED, OWN, SHARED, read_pids

# Debian's, which every user may run (not one below root's home).
USER_PYTHON = "/usr/bin/python3"
# Runs actions (a JSON list of [name, args...]) as the user, one after the
# other up to the first that fails; prints [[errno, value], ...].
USER_SNIPPET = r"""
import json, os, sys

def write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)

def read(path):
    with open(path) as f:
        return f.read()

ACTIONS = {
    "mkdir": os.mkdir, "rmdir": os.rmdir, "rename": os.rename, "symlink": os.symlink,
    "unlink": os.unlink, "write": write, "read": read, "readlink": os.readlink,
    "listdir": os.listdir, "owner": lambda path: os.stat(path).st_uid,
    "touch": lambda path: os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)),
}
out = []
for name, *args in json.loads(sys.argv[1]):
    try:
        out.append([0, ACTIONS[name](*args)])
    except OSError as e:
        out.append([e.errno, None])
        break
print(json.dumps(out))
"""


def user_ns_top(path):
    """The container whose user namespace path is in: the user's
    containers at the top of D have one each, those below stay in it."""
    return "/".join(path.split("/")[:2])


class Delegation:
    """What root sets up for the user: D, chowned to it; R, root's; D/rr,
    root's below D, holding a process of root's; and a process of root's
    at home. Root removes them at the end."""

    def __init__(self, camp, user):
        self.camp = camp
        self.name, self.uid, self.gid = user
        self.rr_proc = None
        self.root_proc = None

    def set_up(self):
        c = self.camp
        for d in ("D", "R", "D/rr"):
            os.mkdir(c.p(d))
        os.chown(c.p("D"), self.uid, self.gid)
        self.rr_proc = c.spawn(["sleep", "1000"])
        helpers.write_once(c.p("D/rr/tasks"), f"{self.rr_proc.pid}\n")
        self.root_proc = c.spawn(["sleep", "1000"])

    def problems(self):
        """What must still be as root left it."""
        c = self.camp
        out = []
        if os.stat(c.p("D")).st_uid != self.uid:
            out.append(f"D is no longer the user's: uid {os.stat(c.p('D')).st_uid}")
        for d in ("R", "D/rr"):
            if not os.path.isdir(c.p(d)):
                out.append(f"root's {d} is gone")
        if self.rr_proc.poll() is not None:
            out.append(f"root's process {self.rr_proc.pid} in D/rr is dead")
        elif self.rr_proc.pid not in read_pids(c, "D/rr"):
            out.append(f"root's process {self.rr_proc.pid} is no longer in D/rr")
        if self.root_proc.poll() is not None:
            out.append(f"root's process {self.root_proc.pid} at home is dead")
        return out

    def tear_down(self):
        c = self.camp
        for d in ("D/rr", "D", "R"):
            if os.path.isdir(c.p(d)):
                os.rmdir(c.p(d))
        for p in (self.rr_proc, self.root_proc):
            if p is not None:
                p.kill()
                p.wait(timeout=5)


class UserClient(Client):
    weights = {"mkdir": 3, "mv": 1, "ln": 2, "tasks": 3, "cat": 3, "freeze": 1, "deny": 2,
               "rmdir": 2}
    base = "D"
    who = "user"

    def __init__(self, camp, n, seconds, delegation):
        super().__init__(camp, n, seconds, "u-")
        self.dele = delegation
        self.as_user = helpers.user_prefix(delegation.uid, delegation.gid)

    def do(self, what, action, *args):
        """One action as the user, through the campaign's bounded call;
        its value, or OSError with the errno the user got."""
        cmd = self.as_user + [USER_PYTHON, "-I", "-S", "-c", USER_SNIPPET,
                              json.dumps([[action, *args]])]

        def run():
            r = subprocess.run(cmd, capture_output=True, text=True, cwd="/",
                               stdin=subprocess.DEVNULL, timeout=self.camp.call_timeout + 10)
            try:
                [(err, value)] = json.loads(r.stdout)
            except ValueError:
                raise AssertionError(f"{what} as the user: exit {r.returncode}, "
                                     f"{r.stdout!r} {r.stderr[-500:]!r}") from None
            if err:
                raise OSError(err, f"{what} as the user: {os.strerror(err)}")
            return value

        return self.camp.call(what, run)

    def spawn_sleep(self):
        """A sleep of the user's, once it runs as the user."""
        s = self.camp.spawn(self.as_user + ["sleep", "1000"])
        self.procs.append(s)
        helpers.wait_until(lambda: helpers.cmdline(s.pid).startswith("sleep")
                           and (helpers.proc_status(s.pid) or {}).get("Uid", "").split()[:1]
                           == [str(self.dele.uid)], 5, what=f"{s.pid} to sleep as the user")
        return s

    def check_new(self, path, init):
        owner = self.do(f"stat {path}", "owner", self.p(path))
        assert owner == self.dele.uid, f"{path} made by the user is owned by {owner}"

    # ------------------------------------------------------------ tasks

    def op_tasks(self):
        m = self.model
        placed = [(p, s) for p, s in m.with_members() if not m.frozen_at(p)]
        kind = self.rng.choice(["in", "in", "between", "across", "kill"] if placed else ["in"])
        if kind == "in":
            targets = [p for p in m if not m.frozen_at(p)]
            if targets:
                target = self.rng.choice(targets)
                if self.enterable(target):
                    self.move_in(target)
                else:
                    self.move_across(None, self.spawn_sleep(), target)
            return
        path, s = self.rng.choice(placed)
        others = [q for q in m if q != path and not m.frozen_at(q)]
        near = [q for q in others if user_ns_top(q) == user_ns_top(path) and self.enterable(q)]
        if kind == "between" and near:
            self.move_between(path, s, self.rng.choice(near))
        elif kind == "across":
            far = [q for q in others if q not in near]
            if far:
                self.move_across(path, s, self.rng.choice(far))
        elif kind == "kill":
            self.kill_members(path)

    def may_enter(self, path):
        return self.enterable(path)

    def enterable(self, path):
        """Whether the user's processes can enter path: every namespace of
        it is owned by its user namespace (the user's). Its uts may come
        from elsewhere: inherited from D (root's), or shared with a
        container of another user namespace."""
        m, top = self.model, user_ns_top(path)
        while path in m and m[path].uts != OWN:
            if m[path].uts == SHARED:
                path = m[path].shares
            else:
                path = posixpath.dirname(path)
                if path == self.base:
                    return False
        return path in m and user_ns_top(path) == top

    def move_in(self, path):
        s = self.spawn_sleep()
        self.touch(path)
        self.enter(path, s)
        self.model[path].members.add(s)
        got = read_pids(self.camp, path)
        missing = [x.pid for x in self.model[path].members if x.pid not in got]
        assert not missing, f"lost update: {missing} not in {path}/tasks ({sorted(got)})"

    def enter(self, path, s):
        self.do(f"echo {s.pid} > {path}/tasks", "write", self.p(path, "tasks"), f"{s.pid}\n")
        net = self.camp.call(f"stat -L {path}/network", os.stat, self.p(path, "network")).st_ino
        assert helpers.proc_ns_ino(s.pid, "network") == net, f"{s.pid} is not in {path}'s network"

    def move_between(self, path, s, other):
        self.touch(path, other)
        self.enter(other, s)
        self.model[path].members.discard(s)
        self.model[other].members.add(s)
        assert s.pid not in read_pids(self.camp, path), f"{s.pid} still in {path}/tasks"
        assert s.pid in read_pids(self.camp, other), f"{s.pid} not in {other}/tasks"

    def move_across(self, path, s, other):
        """path: where s is (None: at home)."""
        view = helpers.process_view(s.pid)
        before = self.container_view(other)
        self.refused(f"echo {s.pid} > {other}/tasks (from {path or 'home'})", errno.EPERM,
                     "write", self.p(other, "tasks"), f"{s.pid}\n")
        helpers.assert_untouched(s.pid, view)
        if path:
            assert s.pid in read_pids(self.camp, path), f"{s.pid} left {path} on a refused move"
        else:
            self.end_proc(s)
        self.assert_unchanged("a refused move", other, before)

    def kill_members(self, path):
        box = self.model[path]
        self.touch(path)
        self.do(f"echo 1 > {path}/kill", "write", self.p(path, "kill"), "1\n")
        self.wait_dead(path, None, box.members)
        box.members.clear()
        assert helpers.alive(box.init), f"{path}: kill killed the init {box.init}"

    # ------------------------------------------------------------ refusals

    def op_deny(self):
        kind = self.rng.choice(["root's process", "root's namespace", "root's member"])
        if kind == "root's process":
            self.deny_moving_roots_process()
        elif kind == "root's namespace":
            self.deny_sharing_roots_namespace()
        else:
            self.deny_rmdir_of_roots_member()

    def deny_moving_roots_process(self):
        m = self.model
        targets = [p for p in m if not m.frozen_at(p)]
        if not targets:
            return
        path = self.rng.choice(targets)
        pid = self.dele.root_proc.pid
        view = helpers.process_view(pid)
        before = self.container_view(path)
        self.refused(f"echo {pid} > {path}/tasks (root's)", errno.EPERM, "write",
                     self.p(path, "tasks"), f"{pid}\n")
        helpers.assert_untouched(pid, view)
        self.assert_unchanged("moving root's process", path, before)

    def deny_sharing_roots_namespace(self):
        m = self.model
        cands = [p for p in m if not m[p].members and not m.children(p) and not m.sharers(p)
                 and m[p].uts != SHARED and not m.frozen_at(p)]
        if not cands:
            return
        path = self.rng.choice(cands)
        self.touch(path)
        self.drop_uts(path)
        before = self.container_view(path)
        link = posixpath.relpath("R", path) + "/uts"
        self.refused(f"ln -s {link} {path}/uts (root's)", errno.EPERM, "symlink", link,
                     self.p(path, "uts"))
        self.assert_unchanged("sharing root's namespace", path, before)
        assert self.model[path].uts == INHERITED
        self.fresh_uts(path)
        assert self.model[path].uts == OWN

    def deny_rmdir_of_roots_member(self):
        rr = self.dele.rr_proc
        before = self.container_view("D/rr")
        self.refused("rmdir D/rr (root's process inside)", errno.EPERM, "rmdir", self.p("D/rr"))
        self.assert_unchanged("rmdir of root's member", "D/rr", before)
        assert rr.poll() is None and helpers.alive(rr.pid), f"root's process {rr.pid} was killed"

