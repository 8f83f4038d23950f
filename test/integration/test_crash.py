"""Crash safety of every mutating operation: a daemon killed with SIGKILL
in the middle of any of them leaves a tree that a new daemon shows whole.

For each kind of operation (mkdir, nested mkdir, rmdir, mv, ln -s, rm and
touch of a namespace file, echo PID > tasks into a container and back home,
freeze, thaw, and one refused because the container is frozen) a test
loops: set up the operation's precondition, start the operation in a
thread, SIGKILL the daemon after a random delay (0 to a little more than
the operation takes, at least 0-3 ms), start a new daemon on the same
cgroup/state/mount point, and check that the tree is consistent:

- every container listed has a live init in its cgroup's init leaf, and its
  cgroup directory carries a valid record (xattr trusted.containerfs) with
  that name and init;
- every container cgroup (c<N>) below the test's cgroup belongs to a listed
  container (the daemon cleans unexplained ones at start-up);
- no orphan containerfs-init: each one below the test cgroup, or orphaned to
  us (the tests are the subreaper), is a listed container's init;
- no other process below the test cgroup but the members the test put there;
- the operation happened completely or not at all (per kind, below);
- the process under injection is alive, neither stopped (T/t) nor traced,
  still running (it keeps beating, its interrupted sleep undisturbed), and
  wholly in the container or wholly at home: cgroup and every namespace --
  also when it is the writer of its own pid (`echo 0 > tasks`);
- the dead daemon's injector process finishes and exits by itself, and is
  the only one left of it;
- a container is wholly frozen or wholly thawed: its freeze file and events
  agree with the kernel's cgroup.freeze and frozen, and its member beats
  exactly when it is thawed.

Every test keeps under the fixture's 120 s watchdog; CRASH_ITERATIONS
(default 40 per kind, 13 kinds: 520 faults in all) changes the count. Each
test prints its numbers (pytest -s shows them) and records the faults its
kind survived (the faults_survived fixture); conftest.py's terminal summary
prints their total.
"""
import errno
import os
import random
import select
import signal
import subprocess
import threading
import time

import pytest

import helpers
from helpers import PY, proc_ns_inos, wait_until, write_once

ITERATIONS = int(os.environ.get("CRASH_ITERATIONS", "40"))
OP_TIMEOUT = 10.0   # a FUSE call must return (ENOTCONN at worst) once the daemon is dead
TEST_BUDGET = helpers.WATCHDOG_SECONDS - 20  # seconds per test, under the fixture's watchdog
HOME_NS = ("network", "uts", "ipc", "mount", "cgroup")  # what a move changes and we compare

HEARTBEAT = r"""
import os, select, time
n = 0
while True:
    n += 1
    os.write(1, b"b%d\n" % n)
    if select.select([0], [], [], 0)[0]:  # a command: write my own pid there
        path = os.read(0, 4096).decode().strip()
        if not path:
            break
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0\n")
            finally:
                os.close(fd)
            err = 0
        except OSError as e:
            err = e.errno
        os.write(1, b"r%d\n" % err)
    time.sleep(0.01)
"""


# ---------------------------------------------------------------- the victim

class Victim:
    """A single-threaded python process that beats every 10 ms on a pipe
    (its sleeps are what an injection interrupts): the process moved in and
    out of containers by the tasks tests. Told a path on stdin, it writes
    its own pid there (0) and answers with the errno."""

    def __init__(self, cfs, procs):
        self.err_path = os.path.join(cfs.tmp, f"victim-{time.monotonic_ns()}.err")
        with open(self.err_path, "w") as err:
            self.p = procs.popen([PY, "-c", HEARTBEAT], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=err)
        self.pid = self.p.pid
        self.home_cgroup = helpers.cgroup_of(self.pid)
        self.home_ns = proc_ns_inos(self.pid, HOME_NS)
        assert self.beats(), "the victim does not beat"

    def beats(self, timeout=2.0):
        """True if a new beat comes within timeout (after draining the old)."""
        fd = self.p.stdout.fileno()
        while select.select([fd], [], [], 0)[0]:  # drain what is there
            if not os.read(fd, 65536):
                return False  # EOF: dead
        r, _, _ = select.select([fd], [], [], timeout)
        return bool(r) and bool(os.read(fd, 65536))

    def write_own_pid(self, path):
        """The victim writes "0" to path itself; raises OSError with the
        errno it got (EPIPE if it is dead)."""
        os.write(self.p.stdin.fileno(), path.encode() + b"\n")
        fd = self.p.stdout.fileno()
        deadline = time.monotonic() + OP_TIMEOUT
        pending = b""
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.1)[0]:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise OSError(errno.EPIPE, "the victim died")
            pending += chunk
            for line in pending.split(b"\n")[:-1]:
                if line.startswith(b"r"):
                    err = int(line[1:])
                    if err:
                        raise OSError(err, os.strerror(err))
                    return
            pending = pending.rsplit(b"\n", 1)[-1]
        raise OSError(errno.ETIMEDOUT, "the victim did not answer")


# ---------------------------------------------------------------- checks

def check_consistent(cfs, allowed_members=()):
    """Problems found in the restarted tree (an empty list if none)."""
    return helpers.tree_problems(cfs.mnt, cfs.cgroup, allowed_members)


# ---------------------------------------------------------------- fault injection

class Injector:
    """Kills the daemon in the middle of one kind of operation, again and
    again, and collects the problems the checks find."""

    def __init__(self, cfs, kind, faults_survived):
        self.cfs = cfs
        self.kind = kind
        self.faults_survived = faults_survived
        self.rng = random.Random(f"{kind}-{os.getpid()}-{time.time_ns()}")
        self.typical = 0.003
        self.faults = 0
        self.outcomes = {}
        self.problems = []
        self.clean = 0      # faults after which every check held
        self._mark = None

    def measure(self, op):
        """Runs op once with the daemon alive: its duration sets the range
        of the kill delay."""
        t0 = time.monotonic()
        op()
        self.typical = max(0.003, time.monotonic() - t0)

    def _tally(self):
        """Counts the previous fault as survived if it added no problem."""
        if self._mark is not None and self._mark == self._count():
            self.clean += 1
        self._mark = None

    def _count(self):
        return len(self.problems)

    def inject(self, op):
        """Runs op in a thread, SIGKILLs the daemon after a random delay,
        restarts it. Returns the errno the op got (0: success)."""
        self._tally()
        result = {}

        def target():
            try:
                op()
                result["err"] = 0
            except OSError as e:
                result["err"] = e.errno

        delay = self.rng.uniform(0, self.typical * 1.2)
        th = threading.Thread(target=target, daemon=True)
        th.start()
        time.sleep(delay)
        self.cfs.daemon.kill(signal.SIGKILL)
        th.join(OP_TIMEOUT)
        if th.is_alive():
            # The connection is still held open somewhere: abort it so the
            # test can go on, and count the hang.
            self.problems.append(f"{self.kind}: the operation hung after the daemon died")
            abort_connection(self.cfs.mnt)
            th.join(OP_TIMEOUT)
            assert not th.is_alive(), "operation still hung after aborting the connection"
        # As an init system would: the dead daemon's orphans (inits killed by
        # an interrupted rmdir) are reaped before the daemon starts again.
        # (Without this the new daemon loads a zombie init as alive: see
        # test_zombie_init_at_start_up_is_not_a_container.)
        dead = self.cfs.daemon
        dead.wait_exit()
        helpers.settle_and_reap(self.cfs.cgroup)
        self.cfs.restart()
        self.check("injector process", helpers.injector_left_behind(dead.pid))
        self.faults += 1
        self._mark = self._count()
        err = result.get("err", -1)
        name = helpers.errname(err) if err >= 0 else "?"
        self.outcomes[name] = self.outcomes.get(name, 0) + 1
        return err

    def rounds(self):
        """0, 1, ... ITERATIONS - 1, for as long as the test's time budget
        lasts."""
        start = time.monotonic()
        for i in range(ITERATIONS):
            if time.monotonic() - start >= TEST_BUDGET:
                return
            yield i

    def check(self, what, problems):
        for p in problems:
            self.problems.append(f"{self.kind} #{self.faults}: {what}: {p}")
        return not problems

    def report(self):
        self._tally()
        self.faults_survived[self.kind] = self.clean
        print(f"\ncrash[{self.kind}]: {self.faults} faults injected, {self.clean} survived with "
              f"every check, op outcomes {self.outcomes}, "
              f"kill delay 0-{self.typical * 1.2 * 1000:.1f} ms, {len(self.problems)} problems")
        assert not self.problems, "\n".join(self.problems[:30])


def abort_connection(mnt):
    try:
        dev = os.stat(mnt).st_dev
    except OSError:
        return
    path = f"/sys/fs/fuse/connections/{os.minor(dev)}/abort"
    try:
        with open(path, "w") as f:
            f.write("1")
    except OSError:
        pass


# ---------------------------------------------------------------- mkdir

@pytest.mark.parametrize("nested", [False, True], ids=["top", "nested"])
def test_crash_during_mkdir(cfs, faults_survived, nested):
    inj = Injector(cfs, "mkdir-nested" if nested else "mkdir", faults_survived)
    parent = "p" if nested else ""
    if nested:
        cfs.mkdir("p")
    inj.measure(lambda: os.mkdir(cfs.path(parent, "warm")))
    os.rmdir(cfs.path(parent, "warm"))
    for i in inj.rounds():
        name = f"m{i}"
        before = set(helpers.container_cgroups(cfs.cgroup))
        inj.inject(lambda: os.mkdir(cfs.path(parent, name)))
        inj.check("tree", check_consistent(cfs))
        listed = name in os.listdir(cfs.path(parent))
        new = set(helpers.container_cgroups(cfs.cgroup)) - before
        if listed:
            if not helpers.alive(cfs.init_pid(os.path.join(parent, name))):
                inj.check("mkdir", [f"{name} listed without a live init"])
            if len(new) != 1:
                inj.check("mkdir", [f"{name} listed, new cgroups {sorted(new)}"])
            os.rmdir(cfs.path(parent, name))
        elif new:
            inj.check("mkdir", [f"{name} not listed but new cgroups {sorted(new)}"])
        if nested and "p" not in os.listdir(cfs.mnt):
            inj.check("mkdir", ["the parent p went away"])
            break
    inj.report()


# ---------------------------------------------------------------- rmdir

def test_crash_during_rmdir(cfs, procs, faults_survived):
    inj = Injector(cfs, "rmdir", faults_survived)
    cfs.mkdir("warm")
    inj.measure(lambda: os.rmdir(cfs.path("warm")))
    for i in inj.rounds():
        name = f"r{i}"
        cfs.mkdir(name)
        member = procs.sleep(1000)
        cfs.enter(name, member.pid)
        init = cfs.init_pid(name)
        cg = cfs.cgroup_dir_of(name)
        inj.inject(lambda: os.rmdir(cfs.path(name)))
        if name in os.listdir(cfs.mnt):
            # Not removed: all of it is still there, member included.
            ok = helpers.alive(init) and cfs.init_pid(name) == init and helpers.alive(member.pid)
            inj.check("tree", check_consistent(cfs, allowed_members=[member.pid]))
            if not ok:
                inj.check("rmdir", [f"{name} still listed but init/member dead"])
            os.rmdir(cfs.path(name))
        else:
            inj.check("tree", check_consistent(cfs))
            gone = lambda: not helpers.alive(init) and not helpers.alive(member.pid)  # noqa: E731
            try:
                wait_until(gone, 5, what="init and member to die")
            except AssertionError:
                inj.check("rmdir", [f"{name} gone but init/member alive"])
            if os.path.exists(cg):
                inj.check("rmdir", [f"{name} gone but its cgroup {cg} is left"])
        try:
            member.wait(timeout=5)
        except subprocess.TimeoutExpired:
            inj.check("rmdir", [f"member {member.pid} survived rmdir"])
    inj.report()


# ---------------------------------------------------------------- mv

def test_crash_during_mv(cfs, faults_survived):
    inj = Injector(cfs, "mv", faults_survived)
    cfs.mkdir("a")
    inj.measure(lambda: os.rename(cfs.path("a"), cfs.path("b")))
    names = ["b", "a"]
    for i in inj.rounds():
        old, new = names[i % 2], names[(i + 1) % 2]
        if old not in os.listdir(cfs.mnt):
            old, new = new, old
        init = cfs.init_pid(old)
        inj.inject(lambda: os.rename(cfs.path(old), cfs.path(new)))
        inj.check("tree", check_consistent(cfs))
        present = [n for n in ("a", "b") if n in os.listdir(cfs.mnt)]
        if len(present) != 1:
            inj.check("mv", [f"after mv {old} {new}: listed {present}"])
            break
        if cfs.init_pid(present[0]) != init:
            inj.check("mv", [f"{present[0]} has another init"])
    inj.report()


# ---------------------------------------------------------------- ln -s, rm, touch

def uts_state(cfs, c):
    """(link text or None, the init's uts inode)."""
    p = cfs.path(c, "uts")
    text = os.readlink(p) if os.path.lexists(p) else None
    return text, helpers.proc_ns_ino(cfs.init_pid(c), "uts")


@pytest.mark.parametrize("kind", ["ln", "rm", "touch"])
def test_crash_during_namespace_change(cfs, faults_survived, kind):
    inj = Injector(cfs, kind, faults_survived)
    cfs.mkdir("src", "dst")
    host_uts = helpers.proc_ns_ino(cfs.daemon.pid, "uts")
    src_uts = helpers.proc_ns_ino(cfs.init_pid("src"), "uts")
    dst = cfs.path("dst", "uts")

    def prepare():
        """The precondition of the operation, with the daemon alive."""
        present = os.path.lexists(dst)
        if kind in ("ln", "touch") and present:
            os.unlink(dst)
        if kind == "rm" and not present:
            os.symlink("../src/uts", dst)

    ops = {
        "ln": lambda: os.symlink("../src/uts", dst),
        "rm": lambda: os.unlink(dst),
        "touch": lambda: helpers.touch(dst),
    }
    prepare()
    inj.measure(ops[kind])
    for i in inj.rounds():
        prepare()
        init_before = cfs.init_pid("dst")
        inj.inject(ops[kind])
        inj.check("tree", check_consistent(cfs))
        text, ino = uts_state(cfs, "dst")
        # Either state is whole: the link and the init agree.
        if text is None:
            ok = ino == host_uts  # inherited from the host
        elif text == "../src/uts":
            ok = ino == src_uts and os.stat(dst).st_ino == src_uts
        elif text.startswith("/proc/"):
            ok = ino not in (host_uts, src_uts) and os.stat(dst).st_ino == ino
        else:
            ok = False
        if not ok:
            inj.check(kind, [f"dst/uts {text!r} but its init has uts {ino} "
                             f"(host {host_uts}, src {src_uts})"])
        if not helpers.alive(cfs.init_pid("dst")):
            inj.check(kind, ["dst's init is dead"])
        if helpers.alive(init_before) and cfs.init_pid("dst") != init_before:
            inj.check(kind, [f"dst's old init {init_before} survived its replacement"])
    inj.report()


# ---------------------------------------------------------------- tasks

def victim_problems(cfs, v, container):
    """What is wrong with the process under injection after a fault."""
    st = helpers.proc_status(v.pid)
    if st is None or st["State"][0] in "ZX":
        try:
            with open(v.err_path) as f:
                said = f.read()[-600:]
        except OSError:
            said = ""
        return [f"victim {v.pid} died; its stderr: {said!r}"]
    problems = []
    if st["State"][0] in "Tt":
        problems.append(f"victim left stopped ({st['State']})")
    if st["TracerPid"] != "0":
        problems.append(f"victim left traced by {st['TracerPid']}")
    if not v.beats():
        problems.append("victim alive but does not beat any more")
    cg = helpers.cgroup_of(v.pid)
    ns = proc_ns_inos(v.pid, HOME_NS)
    init = cfs.init_pid(container)
    inside_cg = os.path.join(os.path.dirname(helpers.cgroup_of(init)), "tasks")
    if cg == inside_cg:
        if ns != proc_ns_inos(init, HOME_NS):
            problems.append(f"half moved: in {container}'s cgroup with namespaces {ns}, "
                            f"the container's are {proc_ns_inos(init, HOME_NS)}")
    elif cg != v.home_cgroup or ns != v.home_ns:
        problems.append(f"half moved: in cgroup {cg} (home {v.home_cgroup}) with namespaces "
                        f"{ns}, home's are {v.home_ns}")
    return problems


@pytest.mark.parametrize("direction", ["in", "home", "self"])
def test_crash_during_tasks_write(cfs, procs, faults_survived, direction):
    """in/home: the test writes the victim's pid; self: the victim writes
    its own (0, as `echo 0 > tasks` does) into the container's tasks file,
    and is seized while its write is still pending."""
    inj = Injector(cfs, f"tasks-{direction}", faults_survived)
    cfs.mkdir("c")
    v = Victim(cfs, procs)
    victims = [v]
    into = cfs.path("c", "tasks")
    home = cfs.path("tasks")

    def inside():
        return v.pid in cfs.task_pids("c")

    def prepare():
        if direction in ("in", "self") and inside():
            write_once(home, f"{v.pid}\n")
        if direction == "home" and not inside():
            write_once(into, f"{v.pid}\n")

    ops = {
        "in": lambda: write_once(into, f"{v.pid}\n"),
        "home": lambda: write_once(home, f"{v.pid}\n"),
        "self": lambda: v.write_own_pid(into),
    }
    prepare()
    inj.measure(ops[direction])
    for i in inj.rounds():
        prepare()
        inj.inject(ops[direction])
        inj.check("tree", check_consistent(cfs, allowed_members=[x.pid for x in victims]))
        problems = victim_problems(cfs, v, "c")
        inj.check("victim", problems)
        if problems:
            # A new victim, so that one problem is counted once.
            if helpers.alive(v.pid):
                helpers.kill_pid(v.pid, signal.SIGKILL)
            v = Victim(cfs, procs)
            victims.append(v)
    inj.report()


# ---------------------------------------------------------------- freeze

def freeze_state(cfs, name, timeout=5.0):
    """{freeze file, events' frozen, the kernel's cgroup.freeze and frozen}
    of a container, once the kernel's frozen agrees with cgroup.freeze
    (bounded: the state as it is then)."""
    cg = cfs.cgroup_dir_of(name)

    def read():
        return {"file": helpers.read_text(cfs.path(name, "freeze")).strip(),
                "events": helpers.read_keyed(cfs.path(name, "events"))["frozen"],
                "cgroup.freeze": helpers.read_text(os.path.join(cg, "cgroup.freeze")).strip(),
                "frozen": helpers.read_keyed(os.path.join(cg, "cgroup.events"))["frozen"]}

    deadline = time.monotonic() + timeout
    state = read()
    while state["cgroup.freeze"] != state["frozen"] and time.monotonic() < deadline:
        time.sleep(0.01)
        state = read()
    return state


def freeze_problems(cfs, name, v, want=None):
    """The container is wholly frozen or wholly thawed (want: which one it
    must be, None: either), and its member v runs exactly when thawed,
    stopped by the freezer only (not T, not traced)."""
    state = freeze_state(cfs, name)
    problems = []
    if len(set(state.values())) != 1:
        problems.append(f"{name} half frozen: {state}")
    if want is not None and state["cgroup.freeze"] != want:
        problems.append(f"{name}: cgroup.freeze {state['cgroup.freeze']}, a completed write "
                        f"asked for {want}")
    problems += helpers.stopped_or_traced([v.pid])
    beats = v.beats(0.5)
    if state["frozen"] == "1" and beats:
        problems.append(f"member {v.pid} runs in frozen {name}")
    if state["frozen"] == "0" and not beats:
        problems.append(f"member {v.pid} does not run in thawed {name}")
    if v.pid not in cfs.task_pids(name):
        problems.append(f"member {v.pid} is no longer in {name}/tasks")
    return problems


@pytest.mark.parametrize("kind", ["freeze", "thaw", "frozen-refused"])
def test_crash_during_freeze(cfs, procs, faults_survived, kind):
    """freeze, thaw: killed while it writes cgroup.freeze or waits for the
    kernel, the container comes back wholly frozen or wholly thawed (as
    asked, if the write completed). frozen-refused: killed while it refuses,
    because the container is frozen, a child (mkdir), a move in, or a
    member's move home: EBUSY or cut short, nothing changed, still frozen."""
    inj = Injector(cfs, kind, faults_survived)
    cfs.mkdir("f")
    v = Victim(cfs, procs)
    cfs.enter("f", v.pid)
    outsider = procs.sleep()
    freeze = cfs.path("f", "freeze")

    def set_frozen(on):
        write_once(freeze, "1\n" if on else "0\n")

    def prepare():
        """The precondition, with the daemon alive: thawed to freeze, frozen
        otherwise."""
        set_frozen(kind != "freeze")

    refused = [
        ("mkdir", lambda: os.mkdir(cfs.path("f", "child"))),
        ("enter", lambda: write_once(cfs.path("f", "tasks"), f"{outsider.pid}\n")),
        ("home", lambda: write_once(cfs.path("tasks"), f"{v.pid}\n")),
    ]
    ops = {"freeze": lambda: set_frozen(True), "thaw": lambda: set_frozen(False)}
    try:
        prepare()
        inj.measure(ops.get(kind) or (lambda: helpers.errno_of(refused[0][1])))
        for i in inj.rounds():
            prepare()
            if kind != "frozen-refused":
                err = inj.inject(ops[kind])
                inj.check("tree", check_consistent(cfs, allowed_members=[v.pid]))
                want = None if err else ("1" if kind == "freeze" else "0")
                inj.check(kind, freeze_problems(cfs, "f", v, want))
                continue
            what, op = refused[i % len(refused)]
            before = (os.listdir(cfs.path("f")), helpers.container_cgroups(cfs.cgroup),
                      cfs.init_pid("f"))
            view = helpers.process_view(outsider.pid)
            err = inj.inject(op)
            if err not in (errno.EBUSY, errno.ENOTCONN, errno.ECONNABORTED):
                inj.check(what, [f"refused while frozen: {helpers.errname(err)}, not EBUSY"])
            inj.check("tree", check_consistent(cfs, allowed_members=[v.pid]))
            after = (os.listdir(cfs.path("f")), helpers.container_cgroups(cfs.cgroup),
                     cfs.init_pid("f"))
            if after != before:
                inj.check(what, [f"a refused {what} changed f: {helpers.diff(before, after)}"])
            try:
                helpers.assert_untouched(outsider.pid, view)
            except AssertionError as e:
                inj.check(what, [f"the process outside: {e}"])
            inj.check(what, freeze_problems(cfs, "f", v, "1"))
    finally:
        if "f" in os.listdir(cfs.mnt):
            set_frozen(False)  # teardown's kill is not slowed by the freezer
    inj.report()


# ---------------------------------------------------------------- orphans

def test_zombie_init_at_start_up_is_not_a_container(cfs):
    """An init that died while no daemon ran and is not reaped yet (a
    zombie, as after a daemon killed during rmdir) ends its container at
    start-up: the pid and start time still match, the process is gone."""
    cfs.mkdir("r", "k")
    init = cfs.init_pid("r")
    cfs.kill_daemon()
    os.kill(init, signal.SIGKILL)  # reparented to us, not reaped: a zombie
    wait_until(lambda: (helpers.proc_status(init) or {}).get("State", "Z")[0] == "Z", 5,
               what="the init to be a zombie")
    cfs.restart()
    try:
        assert sorted(c for c in os.listdir(cfs.mnt) if c in ("r", "k")) == ["k"]
        assert helpers.container_cgroups(cfs.cgroup) == [os.path.relpath(
            cfs.cgroup_dir_of("k"), cfs.cgroup)]
    finally:
        helpers.reap_zombie_children()


def test_init_killed_from_outside_ends_its_container(cfs):
    """An init killed from outside while the daemon runs ends its container."""
    cfs.mkdir("k")
    init = cfs.init_pid("k")
    os.kill(init, signal.SIGKILL)
    helpers.wait_dead(init)
    helpers.reap_zombie_children()
    wait_until(lambda: "k" not in os.listdir(cfs.mnt), 3, what="k to go from the tree")

