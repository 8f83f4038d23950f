"""What a stress client believes about its containers, and how it learns
the truth from the tree after the daemon was killed under it.

A client's containers are the directories below its base ("" for the
host, "D" for the delegated user) whose names start with its prefix, at
any depth. Paths are relative to the mount point.
"""
import errno
import os
import posixpath

import helpers

# A container's uts: its own (a /proc/PID/ns/uts link), inherited (no
# file), or shared with another container (a relative link, `shares`).
OWN, INHERITED, SHARED = "own", "inherited", "shared"


class Box:
    """One container: its init, the run's processes in it (Popen), its uts
    and whether its own freeze file says 1."""

    def __init__(self, init, members=(), uts=OWN, shares=None, frozen=False):
        self.init = init
        self.members = set(members)
        self.uts = uts
        self.shares = shares  # the container whose uts it shares
        self.frozen = frozen

    def view(self):
        return {"init": self.init, "members": sorted(m.pid for m in self.members),
                "uts": self.shares if self.uts == SHARED else self.uts, "frozen": self.frozen}


class Model(dict):
    """path -> Box."""

    def children(self, path):
        return [p for p in self if posixpath.dirname(p) == path]

    def sharers(self, path):
        return [p for p, b in self.items() if b.uts == SHARED and b.shares == path]

    def frozen_at(self, path):
        """Frozen itself, or below a frozen container of the model's."""
        while path:
            if path in self and self[path].frozen:
                return True
            path = posixpath.dirname(path)
        return False

    def with_members(self):
        return [(p, m) for p, b in self.items() for m in b.members]

    def leaves(self):
        """Containers without children or sharers: removable as they are."""
        return [p for p in self if not self.children(p) and not self.sharers(p)]


def uts_link(path, target):
    """The link text that shares target's uts from path: ../a/uts."""
    return posixpath.relpath(target, path) + "/uts"


def read_uts(camp, path):
    """(uts state, shared container) of path, by readlink."""
    try:
        text = camp.call(f"readlink {path}/uts", os.readlink, camp.p(path, "uts"))
    except FileNotFoundError:
        return INHERITED, None
    if text.startswith("/proc/"):
        return OWN, None
    return SHARED, posixpath.dirname(posixpath.normpath(posixpath.join(path, text)))


def read_pids(camp, path):
    text = camp.call(f"cat {path}/tasks", helpers.read_text, camp.p(path, "tasks"))
    return {int(x) for x in text.split()}


def observe(camp, base, prefix, procs):
    """The client's containers as the tree shows them now (read by root):
    a Model, members taken from procs (the client's processes), and the
    problems found (members nobody put there)."""
    model = Model()
    problems = []
    by_pid = {p.pid: p for p in procs if p.poll() is None}

    def walk(rel):
        for name in sorted(camp.call(f"ls {rel or '/'}", os.listdir, camp.p(rel))):
            if not name.startswith(prefix):
                continue
            path = posixpath.join(rel, name) if rel else name
            init = int(camp.call(f"cat {path}/init", helpers.read_text, camp.p(path, "init")))
            pids = read_pids(camp, path)
            uts, shares = read_uts(camp, path)
            frozen = camp.call(f"cat {path}/freeze", helpers.read_text,
                               camp.p(path, "freeze")).strip() == "1"
            stray = sorted(pids - set(by_pid))
            if stray:
                problems.append(f"{path}: members nobody of this client put there: {stray}")
            model[path] = Box(init, [by_pid[x] for x in pids if x in by_pid], uts, shares, frozen)
            walk(path)

    walk(base)
    return model, problems


def compare(believed, seen, touched):
    """Differences between what the client believed and what the tree
    shows, outside the containers the operation cut short was changing."""
    problems = []
    for path in sorted(set(believed) | set(seen)):
        if path in touched:
            continue
        if path not in seen:
            problems.append(f"{path} is gone ({believed[path].view()})")
        elif path not in believed:
            problems.append(f"{path} appeared ({seen[path].view()})")
        elif believed[path].view() != seen[path].view():
            problems.append(f"{path} changed: " + "; ".join(
                helpers.diff(believed[path].view(), seen[path].view())))
    return problems


def placement_problems(camp, model, procs, home_cgroup):
    """Each live process of the client's is wholly in the container that
    lists it (cgroup and network namespace), or wholly at home."""
    problems = []
    where = {m.pid: path for path, b in model.items() for m in b.members}
    for p in procs:
        if p.poll() is not None:
            continue
        try:
            cg = helpers.cgroup_of(p.pid)
            net = helpers.proc_ns_ino(p.pid, "network")
        except (OSError, AssertionError):
            continue  # gone meanwhile
        path = where.get(p.pid)
        if path is None:
            if cg != home_cgroup or net != helpers.proc_ns_ino(os.getpid(), "network"):
                problems.append(f"{p.pid} listed nowhere but in cgroup {cg}, network {net}: "
                                f"half moved")
            continue
        init = model[path].init
        want_cg = posixpath.join(posixpath.dirname(helpers.cgroup_of(init)), "tasks")
        try:
            want_net = camp.call(f"stat -L {path}/network", os.stat,
                                 camp.p(path, "network")).st_ino
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            want_net = helpers.proc_ns_ino(init, "network")
        if cg != want_cg or net != want_net:
            problems.append(f"{p.pid} listed in {path} but in cgroup {cg} (want {want_cg}), "
                            f"network {net} (want {want_net}): half moved")
    return problems
