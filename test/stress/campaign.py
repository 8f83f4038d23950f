"""The shared state of a stress run: every file system call goes through
Campaign.call, bounded and watched; a restarter thread kills the daemon
with SIGKILL now and then and starts it again.

The gate: a call waits while the daemon is down (bounded), and a restart
waits until no call is in flight any more before it unmounts and starts
the new daemon, so no call ever runs against the bare mount point. A call
the daemon's death cuts short (ENOTCONN, ECONNABORTED while a restart is
under way) raises CutShort: its outcome is unknown, and the client
reconciles what it believes with the tree once the new daemon serves.
"""
import errno
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter

import helpers

# The errnos of a call the daemon's death cut short.
CUT_SHORT = (errno.ENOTCONN, errno.ECONNABORTED)
# A call taking longer than this is logged (still no failure).
SLOW_CALL = 2.0
# How long the daemon may take to come back (kill, reap, start, checks).
RESTART_TIMEOUT = 60.0
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
REAP_INTERVAL = 0.5


def log(msg):
    print(f"stress: {msg}", flush=True)


class Hang(Exception):
    """The run is over: a call hung, or the daemon died unplanned."""


class CutShort(Exception):
    """A call the daemon's death cut short; generation: the daemon's
    generation it was made to."""

    def __init__(self, what, generation):
        super().__init__(what)
        self.generation = generation


class Campaign:
    def __init__(self, daemon, call_timeout, seed):
        self.d = daemon
        self.mnt = daemon.mnt
        self.cgroup = daemon.cgroup
        self.call_timeout = call_timeout
        self.seed = seed
        self.lock = threading.Lock()
        self.failures = []
        self.counts = Counter()
        self.counts_by = Counter()  # who -> operations that ran to their end
        self.max_call = 0.0
        self.slowest = "none"
        self.calls = {}  # thread id -> (what, start)
        self.hung = threading.Event()
        self.stop = threading.Event()
        self.gate = threading.Condition()
        self.down = False       # a restart is under way: no new call starts
        self.generation = 0     # daemons started since the first
        self.in_flight = 0
        self.cut_short = 0
        self.restart_problems = 0
        self.procs = []         # every process the run started (Popen)
        self.procs_lock = threading.Lock()
        self.daemon_pids = {daemon.pid}
        self.local = threading.local()

    # ------------------------------------------------------------ reporting

    def fail(self, msg):
        with self.lock:
            self.failures.append(msg)
        log(f"FAILURE: {msg}")

    def last_call(self):
        """The call this thread made last, and when."""
        what = getattr(self.local, "what", "none")
        generation = getattr(self.local, "generation", 0)
        return (f"{what} (to daemon {generation}; now {self.generation}"
                f"{', restarting' if self.down else ''})")

    def count(self, op, who):
        with self.lock:
            self.counts[op] += 1
            if not op.endswith("cut short"):
                self.counts_by[who] += 1

    def hang(self, msg):
        """Ends the run: kills the daemon by pid, which fails every pending
        request, and wakes every waiter."""
        self.fail(msg)
        self.hung.set()
        self.d.kill(signal.SIGKILL)
        with self.gate:
            self.gate.notify_all()

    # ------------------------------------------------------------ calls

    def p(self, *parts):
        return "/".join([self.mnt, *[x for x in parts if x]])

    def call(self, what, fn, *args):
        """fn(*args), bounded and watched. Raises CutShort for a call the
        daemon's death cut short, Hang once the run is over."""
        with self.gate:
            if not self.gate.wait_for(lambda: not self.down or self.hung.is_set(), RESTART_TIMEOUT):
                self.hang(f"{what}: the daemon was not back within {RESTART_TIMEOUT} s")
            if self.hung.is_set():
                raise Hang(what)
            self.in_flight += 1
            generation = self.generation
        tid = threading.get_ident()
        start = time.monotonic()
        self.calls[tid] = (what, start)
        self.local.what = what
        self.local.generation = generation
        try:
            return fn(*args)
        except OSError as e:
            if e.errno in CUT_SHORT and self.down:
                with self.lock:
                    self.cut_short += 1
                raise CutShort(what, generation) from e
            raise
        finally:
            self.calls.pop(tid, None)
            took = time.monotonic() - start
            with self.lock:
                if took > self.max_call:
                    self.max_call, self.slowest = took, what
            if took > SLOW_CALL:
                log(f"slow call: {what} took {took:.2f} s")
            with self.gate:
                self.in_flight -= 1
                self.gate.notify_all()
            if self.hung.is_set():
                raise Hang(what)

    def wait_restarted(self, generation):
        """Waits (bounded) until a daemon later than `generation` serves."""
        with self.gate:
            ok = self.gate.wait_for(lambda: (self.generation > generation and not self.down)
                                    or self.hung.is_set(), RESTART_TIMEOUT)
        if self.hung.is_set():
            raise Hang("waiting for the daemon")
        if not ok:
            self.hang(f"the daemon was not back within {RESTART_TIMEOUT} s")
            raise Hang("waiting for the daemon")

    # ------------------------------------------------------------ processes

    def spawn(self, cmd):
        """A process of the run's (a sleep), registered for the checks and
        the clean-up."""
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd="/")
        with self.procs_lock:
            self.procs.append(p)
        return p

    def live_procs(self):
        with self.procs_lock:
            procs = list(self.procs)
        return [p for p in procs if p.poll() is None]

    def reap(self):
        """Reaps what came to us and is ours to reap: the run's processes
        through their Popen, and orphaned containerfs processes (inits,
        injectors) of dead daemons by pid -- never another zombie, whose
        pid a Popen or subprocess.run still waits on (pids are reused)."""
        self.live_procs()  # poll() reaps the dead ones
        for pid in helpers.zombie_children(os.getpid()):
            if pid in self.daemon_pids:
                continue
            st = helpers.proc_status(pid)
            if st and st["Name"].startswith("containerfs"):
                helpers.reap(pid)

    def monitor(self):
        """A call running longer than the call timeout is a hang; a daemon
        that dies unplanned ends the run."""
        next_reap = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            for what, start in list(self.calls.values()):
                if now - start > self.call_timeout:
                    self.hang(f"hang: {what} still running after {self.call_timeout} s")
                    return
            with self.gate:
                planned = self.down
            if not planned and not self.d.running():
                self.hang(f"daemon {self.d.pid} died (exit {self.d.proc.returncode}): "
                          f"{self.d.log()[-1500:]}")
                return
            if now >= next_reap:
                self.reap()
                next_reap = now + REAP_INTERVAL
            time.sleep(0.1)

    # ------------------------------------------------------------ restarts

    def restarter(self, every, until):
        """Kills the daemon every ~`every` s (jittered, 0.5-1.5 times) until
        the monotonic time `until`, and starts it again."""
        rng = random.Random(self.seed * 7919 + 1)
        while True:
            pause = every * rng.uniform(0.5, 1.5)
            if time.monotonic() + pause > until:
                return
            if self.stop.wait(pause) or self.hung.is_set():
                return
            self.restart()
            if self.hung.is_set():
                return

    def restart(self):
        """SIGKILL of the daemon in the middle of whatever the clients do,
        then, once every call is back: reap its orphans, wait for its
        injector process to finish, fusermount3 -uz, a new daemon on the
        same cgroup, state and mount point, and the checks of a quiet tree
        before the clients go on."""
        with self.gate:
            self.down = True
        old = self.d
        old.kill(signal.SIGKILL)
        if old.wait_exit(STOP_TIMEOUT) is None:
            self.hang(f"daemon {old.pid} survived SIGKILL")
            return
        with self.gate:
            back = self.gate.wait_for(lambda: self.in_flight == 0, self.call_timeout)
        if not back:
            self.hang(f"calls still running {self.call_timeout} s after the daemon died: "
                      f"{[w for w, _ in self.calls.values()]}")
            return
        helpers.settle_and_reap(self.cgroup, reap=self.reap)
        problems = helpers.injector_left_behind(old.pid, reap=self.reap)
        helpers.run(["fusermount3", "-uz", self.mnt], check=False)
        try:
            self.d.start(wait=False)
            self.daemon_pids.add(self.d.pid)
            self.d.wait_ready(READY_TIMEOUT)
        except AssertionError as e:
            self.hang(f"the daemon did not come back: {e}")
            return
        problems += self.quiet_checks()
        for p in problems:
            self.fail(f"after restart {self.generation + 1}: {p}")
        with self.lock:
            self.restart_problems += len(problems)
        with self.gate:
            self.generation += 1
            self.down = False
            self.gate.notify_all()

    def quiet_checks(self):
        """While nothing changes the tree: it agrees with the cgroups (every
        listed container has its cgroup and a live init, every container
        cgroup a listed container, no orphan init, no stray process), and
        nothing the run started, nor anything below the cgroup, is stopped
        or traced."""
        members = {p.pid for p in self.live_procs()}
        problems = helpers.tree_problems(self.mnt, self.cgroup, members)
        below = helpers.all_cgroup_procs(self.cgroup)
        problems += helpers.stopped_or_traced(sorted(members | set(below)))
        return problems
