"""The stress clients' common loop and operations, and root's client.

A client does random operations on containers of its own, checking each
against the kernel. An operation the daemon's death cuts short (CutShort)
is not a failure: the client waits for the new daemon, reads the tree
again and checks it against what it believed, allowing differences only
in the containers that operation was changing (`touched`), and checks that
each of its processes is wholly in the container listing it or wholly at
home; then it goes on with what the tree says. Every other surprise is a
failure.

The operations a client acts out through `do` (root: in this process; the
delegated user: as that user, delegated.py); the checks read as root:

  mkdir    a container at the top of its base, sometimes nested, checked
           in the listing with a live init
  mv       a container renamed in place, same init
  ln       rm B/uts; ln -s ../A/uts B/uts between two of its containers,
           checked by inode; or back to a fresh one (rm, touch)
  tasks    moving processes in and out (per client)
  cat      tasks/init/hostname/events/freeze/links of a container
  freeze   echo 1 > C/freeze, events says frozen 1, one operation that
           would start or run code in it is EBUSY and changes nothing;
           thawed at once or left frozen for a while (rmdir of it must work)
  rmdir    of one of its containers, checked gone with its init and members
"""
import errno
import os
import posixpath
import random
import time

import helpers
from campaign import CutShort, Hang
from model import INHERITED, OWN, SHARED, Box, Model, compare, observe, placement_problems
from model import read_pids, read_uts, uts_link

RECONCILE_TRIES = 5
# Containers a client keeps at most (mkdir outweighs rmdir below that).
MAX_CONTAINERS = 12

# What `do` can act out: name -> the call, as root makes it.
ACTIONS = {
    "mkdir": os.mkdir, "rmdir": os.rmdir, "rename": os.rename, "symlink": os.symlink,
    "unlink": os.unlink, "touch": helpers.touch, "write": helpers.write_once,
    "read": helpers.read_text, "readlink": os.readlink, "listdir": os.listdir,
    "owner": lambda path: os.stat(path).st_uid,
}


class Client:
    """The loop, the shared operations, reconciling and the final
    clean-up. A subclass sets weights, base, prefix, do() and
    spawn_sleep(), and its own op_tasks."""

    weights = {}
    base = ""
    who = "root"
    may_take_home = False  # echo PID > /tasks: root's alone

    def __init__(self, camp, n, seconds, prefix):
        self.camp = camp
        self.n = n
        self.seconds = seconds
        self.prefix = prefix
        self.rng = random.Random(camp.seed * 1000 + n)
        self.model = Model()
        self.procs = []  # this client's processes (Popen), until ended
        self.touched = set()
        self.seq = 0
        self.home_cgroup = helpers.cgroup_of(os.getpid())

    # ------------------------------------------------------------ the loop

    def run(self):
        deadline = time.monotonic() + self.seconds
        try:
            while time.monotonic() < deadline and not self.camp.hung.is_set():
                kinds = list(self.weights)
                op = self.rng.choices(kinds, [self.weights[k] for k in kinds])[0]
                if not self.model:
                    op = "mkdir"
                elif op == "mkdir" and len(self.model) >= MAX_CONTAINERS:
                    op = "rmdir"  # a working set, not a tree that only grows
                self.attempt(op, getattr(self, f"op_{op}"))
            self.clean_up()
        except Hang:
            return
        except Exception as e:  # noqa: BLE001 - reported as a failure
            self.camp.fail(f"client {self.n} crashed: {e!r}")

    def attempt(self, op, fn, *args):
        """One operation; False if it failed (cut short is no failure)."""
        self.touched = set()
        try:
            fn(*args)
            self.camp.count(op, self.who)
            return True
        except CutShort as e:
            self.camp.count(f"{op} cut short", self.who)
            self.reconcile(e)
            return True
        except AssertionError as e:
            self.camp.fail(f"client {self.n} {op}: {e}")
        except OSError as e:
            self.camp.fail(f"client {self.n} {op}: unexpected {helpers.errname(e.errno)} "
                           f"from {self.camp.last_call()}: {e}")
        return False

    def touch(self, *paths):
        """The operation is about to change these containers."""
        self.touched.update(paths)

    def name(self):
        self.seq += 1
        return f"{self.prefix}{self.seq}"

    def p(self, *parts):
        return self.camp.p(*parts)

    def tops(self):
        return [p for p in self.model if posixpath.dirname(p) == self.base]

    # ------------------------------------------------------------ root's reads (the truth)

    def read(self, path, f):
        return self.camp.call(f"cat {path}/{f}", helpers.read_text, self.p(path, f))

    def listing(self, path):
        return self.camp.call(f"ls {path or '/'}", os.listdir, self.p(path))

    def init_of(self, path):
        return int(self.read(path, "init"))

    def check_events(self, path, frozen):
        text = self.read(path, "events")
        assert f"frozen {int(frozen)}" in text.split("\n"), f"{path}/events says {text!r}"

    def container_view(self, path):
        """What a refused operation must leave as it was."""
        return {"listing": sorted(self.listing(path)), "init": self.init_of(path),
                "tasks": sorted(read_pids(self.camp, path)), "uts": read_uts(self.camp, path)}

    def assert_unchanged(self, what, path, before):
        after = self.container_view(path)
        assert after == before, f"{what} changed {path}: " + "; ".join(helpers.diff(before, after))

    def refused(self, what, expected, action, *args):
        """do(action) must fail with `expected`."""
        err = helpers.errno_of(self.do, what, action, *args)
        assert err == expected, f"{what}: {helpers.errname(err)}, not {helpers.errname(expected)}"

    # ------------------------------------------------------------ after a restart

    def reconcile(self, cut):
        """Once a new daemon serves: the tree against the model, and the
        model replaced by the tree."""
        touched = set(self.touched)
        for _ in range(RECONCILE_TRIES):
            self.camp.wait_restarted(cut.generation)
            try:
                seen, problems = observe(self.camp, self.base, self.prefix, self.procs)
                problems += placement_problems(self.camp, seen, self.procs, self.home_cgroup)
                break
            except CutShort as again:
                cut = again
        else:
            raise AssertionError(f"the tree could not be read in {RECONCILE_TRIES} restarts")
        problems = compare(self.model, seen, touched) + problems
        for p in problems:
            self.camp.fail(f"client {self.n} after a restart: {p}")
        self.model = seen
        # Processes listed nowhere are at home (a move undone, or one home
        # that was cut short): of no use any more.
        kept = {m for b in seen.values() for m in b.members}
        for p in list(self.procs):
            if p not in kept:
                self.end_proc(p)

    def end_proc(self, p):
        p.kill()
        p.wait(timeout=5)
        self.procs.remove(p)

    # ------------------------------------------------------------ clean-up

    def clean_up(self):
        """Removes every container of the client's, leaves first."""
        for _ in range(len(self.model) * 2 + 10):
            leaves = sorted(self.model.leaves(), key=lambda p: -p.count("/"))
            if not leaves or not self.attempt("rmdir", self.remove, leaves[0]):
                break
        if self.model:
            self.camp.fail(f"client {self.n}: could not remove {sorted(self.model)}")
        for p in list(self.procs):
            self.end_proc(p)

    def remove(self, path):
        """rmdir; then the container is gone from the listing, its init and
        members are dead."""
        box = self.model[path]
        self.touch(path)
        self.do(f"rmdir {path}", "rmdir", self.p(path))
        assert posixpath.basename(path) not in self.listing(posixpath.dirname(path)), \
            f"{path} still listed after rmdir"
        self.wait_dead(path, box.init, box.members)
        del self.model[path]

    def wait_dead(self, path, init, members):
        deadline = time.monotonic() + 5
        while init and helpers.alive(init) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not (init and helpers.alive(init)), f"{path}: init {init} alive after rmdir"
        for m in list(members):
            try:
                m.wait(timeout=5)
            except Exception:
                raise AssertionError(f"member {m.pid} of {path} alive") from None
            self.procs.remove(m)

    # ------------------------------------------------------------ operations

    def op_mkdir(self):
        m = self.model
        parents = [p for p in self.tops() if not m[p].members and m[p].uts == OWN
                   and not m.sharers(p) and not m.frozen_at(p)]
        name = self.name()
        parent = self.rng.choice(parents) if parents and self.rng.random() < 0.2 else self.base
        path = posixpath.join(parent, name) if parent else name
        self.touch(path)
        self.do(f"mkdir {path}", "mkdir", self.p(path))
        assert name in self.listing(parent), f"{path} not listed after mkdir"
        init = self.init_of(path)
        assert helpers.alive(init), f"{path}: init {init} not alive"
        self.check_new(path, init)
        m[path] = Box(init)

    def check_new(self, path, init):
        """What else a new container of this client's must be."""

    def op_mv(self):
        m = self.model
        cands = [p for p in m.leaves() if m[p].uts != SHARED]
        if not cands:
            return
        old = self.rng.choice(cands)
        parent = posixpath.dirname(old)
        new = posixpath.join(parent, self.name()) if parent else self.name()
        self.touch(old, new)
        self.do(f"mv {old} {new}", "rename", self.p(old), self.p(new))
        listing = self.listing(parent)
        assert posixpath.basename(old) not in listing, f"{old} still listed after mv to {new}"
        assert posixpath.basename(new) in listing, f"{new} not listed after mv"
        assert self.init_of(new) == m[old].init, f"mv {old} {new}: another init"
        m[new] = m.pop(old)

    def op_ln(self):
        m = self.model
        undo = [p for p, b in m.items() if b.uts != OWN and not b.members
                and not m.children(p) and not m.frozen_at(p)]
        if undo and self.rng.random() < 0.4:
            self.fresh_uts(self.rng.choice(undo))
            return
        tops = self.tops()
        cands = [b for b in tops if not m[b].members and m[b].uts != SHARED and not m.children(b)
                 and not m.sharers(b) and not m.frozen_at(b)]
        if not cands:
            return
        b = self.rng.choice(cands)
        targets = [a for a in tops if a != b and m[a].uts == OWN]
        if not targets:
            return
        a = self.rng.choice(targets)
        self.touch(b)
        self.drop_uts(b)
        link = uts_link(b, a)
        self.do(f"ln -s {link} {b}/uts", "symlink", link, self.p(b, "uts"))
        m[b].uts, m[b].shares = SHARED, a
        m[b].init = self.init_of(b)
        c = self.camp
        ia = c.call(f"stat -L {a}/uts", os.stat, self.p(a, "uts")).st_ino
        ib = c.call(f"stat -L {b}/uts", os.stat, self.p(b, "uts")).st_ino
        assert ia == ib, f"{b}/uts -> {link} but inodes {ib} != {ia}"
        assert helpers.proc_ns_ino(m[b].init, "uts") == ia, f"{b}'s init is not in {a}'s uts"
        text = c.call(f"readlink {b}/uts", os.readlink, self.p(b, "uts"))
        assert text == link, f"{b}/uts reads {text!r}, written {link!r}"

    def drop_uts(self, path):
        """rm PATH/uts if there is one: it inherits its parent's again."""
        box = self.model[path]
        if box.uts != INHERITED:
            self.do(f"rm {path}/uts", "unlink", self.p(path, "uts"))
            box.uts, box.shares = INHERITED, None
            box.init = self.init_of(path)
        assert not os.path.lexists(self.p(path, "uts")), f"{path}/uts still there after rm"

    def fresh_uts(self, path):
        """rm (if any), touch: a fresh uts of its own."""
        box = self.model[path]
        self.touch(path)
        self.drop_uts(path)
        self.do(f"touch {path}/uts", "touch", self.p(path, "uts"))
        box.uts = OWN
        box.init = self.init_of(path)
        assert self.camp.call(f"readlink {path}/uts", os.readlink,
                              self.p(path, "uts")) == f"/proc/{box.init}/ns/uts"

    def op_cat(self):
        m = self.model
        targets = list(m) + self.others()
        if not targets:
            return
        path = self.rng.choice(targets)
        own = path in m
        for f in ("tasks", "init", "hostname", "events", "freeze"):
            try:
                self.do(f"cat {path}/{f}", "read", self.p(path, f))
            except FileNotFoundError:
                # Another client's container may go meanwhile; only one
                # with a uts of its own has a hostname file.
                if own and not (f == "hostname" and m[path].uts != OWN):
                    raise
        for ns in ("network", "uts", "pid"):
            try:
                self.do(f"readlink {path}/{ns}", "readlink", self.p(path, ns))
            except FileNotFoundError:
                if own and not (ns == "uts" and m[path].uts == INHERITED):
                    raise

    def others(self):
        """Containers of other clients' this one reads too."""
        return []

    def op_freeze(self):
        m = self.model
        frozen = [p for p in m if m[p].frozen]
        if frozen and self.rng.random() < 0.5:
            self.thaw(self.rng.choice(frozen))
            return
        cands = [p for p in m if not m.frozen_at(p)]
        if not cands:
            return
        path = self.rng.choice(cands)
        self.touch(path)
        self.do(f"echo 1 > {path}/freeze", "write", self.p(path, "freeze"), "1\n")
        m[path].frozen = True
        self.check_events(path, True)
        self.refused_while_frozen(path)
        if self.rng.random() < 0.5:
            self.thaw(path)

    def thaw(self, path):
        m = self.model
        self.touch(path)
        self.do(f"echo 0 > {path}/freeze", "write", self.p(path, "freeze"), "0\n")
        m[path].frozen = False
        self.check_events(path, m.frozen_at(path))

    def refused_while_frozen(self, path):
        """One operation that would start or run code in the frozen
        container: EBUSY, nothing changed."""
        m = self.model
        kinds = ["mkdir"] + (["enter"] if self.may_enter(path) else [])
        if not m[path].members and m[path].uts != INHERITED:
            kinds.append("rm uts")
        if m[path].members and self.may_take_home:
            kinds.append("home")
        kind = self.rng.choice(kinds)
        before = self.container_view(path)
        if kind == "mkdir":
            child = posixpath.join(path, self.name())
            self.refused(f"mkdir {child} (frozen)", errno.EBUSY, "mkdir", self.p(child))
        elif kind == "rm uts":
            self.refused(f"rm {path}/uts (frozen)", errno.EBUSY, "unlink", self.p(path, "uts"))
        elif kind == "enter":
            s = self.spawn_sleep()
            view = helpers.process_view(s.pid)
            self.refused(f"echo {s.pid} > {path}/tasks (frozen)", errno.EBUSY, "write",
                         self.p(path, "tasks"), f"{s.pid}\n")
            helpers.assert_untouched(s.pid, view)
            self.end_proc(s)
        else:
            s = self.rng.choice(sorted(m[path].members, key=lambda x: x.pid))
            view = helpers.process_view(s.pid)
            self.refused(f"echo {s.pid} > /tasks (from frozen {path})", errno.EBUSY, "write",
                         self.p("tasks"), f"{s.pid}\n")
            helpers.assert_untouched(s.pid, view)
        self.assert_unchanged(f"a refused {kind}", path, before)

    def may_enter(self, path):
        """Whether this client's processes can enter path at all."""
        return True

    def op_rmdir(self):
        leaves = self.model.leaves()
        if leaves:
            self.remove(self.rng.choice(leaves))


class RootClient(Client):
    """Root's client: containers x<N>-<seq> at the top (and one level
    below), processes moved in and taken home (echo PID > /tasks)."""

    weights = {"mkdir": 3, "mv": 1, "ln": 2, "tasks": 3, "cat": 4, "freeze": 1, "rmdir": 2}
    may_take_home = True

    def __init__(self, camp, n, seconds):
        super().__init__(camp, n, seconds, f"x{n}-")

    def do(self, what, action, *args):
        return self.camp.call(what, ACTIONS[action], *args)

    def spawn_sleep(self):
        s = self.camp.spawn(["sleep", "1000"])
        self.procs.append(s)
        return s

    def others(self):
        return [x for x in self.listing("") if x.startswith("x")]

    def op_tasks(self):
        m = self.model
        movable = [(p, s) for p, s in m.with_members() if not m.frozen_at(p)]
        if movable and self.rng.random() < 0.3:
            path, s = self.rng.choice(movable)
            self.touch(path)
            self.do(f"echo {s.pid} > /tasks", "write", self.p("tasks"), f"{s.pid}\n")
            m[path].members.discard(s)
            assert s.pid not in read_pids(self.camp, path), \
                f"{s.pid} still in {path}/tasks after going home"
            assert helpers.cgroup_of(s.pid) == self.home_cgroup, \
                f"{s.pid} went home to {helpers.cgroup_of(s.pid)}, came from {self.home_cgroup}"
            self.end_proc(s)
            return
        targets = [p for p in m if not m.frozen_at(p)]
        if not targets:
            return
        path = self.rng.choice(targets)
        s = self.spawn_sleep()
        self.touch(path)
        self.do(f"echo {s.pid} > {path}/tasks", "write", self.p(path, "tasks"), f"{s.pid}\n")
        m[path].members.add(s)
        got = read_pids(self.camp, path)
        missing = [x.pid for x in m[path].members if x.pid not in got]
        assert not missing, f"lost update: {missing} not in {path}/tasks ({sorted(got)})"
