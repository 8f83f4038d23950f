"""Fixtures and pytest hooks of the integration tests (the helpers they use
are in helpers.py).

`cfs`: a real containerfs mounted in a temp directory, per test. Each test
gets its own cgroup directory (<cgroup2 mount>/cfs-test-<random>), state
directory and mount point, and a daemon started in the foreground as a
child of pytest. Teardown always runs: lazy unmount, stop the daemon by
pid, kill the test's processes by pid, cgroup.kill the test's cgroup, wait
until it is empty, remove the cgroup directories bottom-up, remove the temp
directories. Every wait is bounded.
"""
import os
import secrets
import signal
import tempfile
import threading

import pytest

import helpers


def pytest_configure(config):
    # Orphans (inits of a SIGKILLed daemon, test processes) come to us, not to
    # PID 1, which does not reap on this machine; teardown reaps them.
    helpers.set_child_subreaper()
    config.addinivalue_line("markers", "namespaces(list): the daemon's -o namespaces=")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the daemon logs to the report of a failing test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        shown = set()
        for c in getattr(item, "containerfs_instances", []):
            for d in c.daemons:
                log = d.log()
                if log and d.log_path not in shown:
                    shown.add(d.log_path)
                    report.sections.append((f"containerfs log {d.log_path}", log))


def pytest_report_header(config):
    return f"containerfs daemon: {helpers.DAEMON}"


def pytest_terminal_summary(terminalreporter, config):
    """The total of injected faults survived, when the crash tests ran."""
    survived = config.stash.get(helpers.FAULTS_SURVIVED, {})
    if survived:
        terminalreporter.write_line(
            f"crash: {sum(survived.values())} injected faults survived ({survived})")


@pytest.fixture
def faults_survived(request):
    """{kind of operation: faults survived}: what a crash test fills in for
    the terminal summary."""
    return request.config.stash.setdefault(helpers.FAULTS_SURVIVED, {})


@pytest.fixture(scope="session")
def program(tmp_path_factory):
    """program(NAME): test/integration/programs/NAME.c compiled with cc,
    once per run; the path of the executable."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = helpers.compile_program(name, tmp_path_factory.mktemp(f"program-{name}"))
        return built[name]
    return get


@pytest.fixture
def procs():
    """The test's processes and clean-ups (helpers.Procs), killed by pid and
    run at the end."""
    p = helpers.Procs()
    try:
        yield p
    finally:
        problems = p.kill_all()
        if problems:
            pytest.fail("teardown problems:\n" + "\n".join(problems))


@pytest.fixture
def delegated(cfs_factory):
    """A containerfs mounted with allow_other, with the container `users`
    delegated to the plain user (helpers.USER_ID)."""
    c = cfs_factory(["allow_other"])
    helpers.open_up_to(c.mnt)  # temp dirs are 0700
    c.start()
    c.mkdir("users")
    helpers.run(["chown", "-R", f"{helpers.USER_ID}:{helpers.USER_ID}", c.path("users")])
    return c


@pytest.fixture
def busybox_root(tmp_path):
    """A root file system of busybox-static (helpers.make_busybox_root),
    removed with the test's temp directory."""
    return helpers.make_busybox_root(tmp_path / "root")


@pytest.fixture
def user():
    """A real user account, (name, uid, gid), removed afterwards with
    whatever still runs as it."""
    name, uid, gid = helpers.add_user()
    try:
        yield name, uid, gid
    finally:
        problems = helpers.remove_user(name, uid)
        if problems:
            pytest.fail("teardown problems:\n" + "\n".join(problems))


@pytest.fixture
def cfs_factory(request, procs):
    """Makes a Containerfs (not started) with its cgroup dir and temp dirs;
    tears everything down after the test."""
    if os.geteuid() != 0:
        pytest.skip("containerfs integration tests run as root")
    if not helpers.DAEMON.exists():
        pytest.fail(f"no daemon at {helpers.DAEMON}: build first (ninja -C build)")
    root = helpers.find_cgroup2_mount()
    if not root:
        pytest.skip("no cgroup v2 mount")
    made = []
    request.node.containerfs_instances = made

    def make(options=()):
        tmp = tempfile.mkdtemp(prefix="cfs-test-")
        cgroup = os.path.join(root, f"cfs-test-{secrets.token_hex(6)}")
        c = helpers.Containerfs(tmp, cgroup, options, procs)
        made.append(c)
        return c

    # Watchdog: if a file system call hangs, kill the daemons by pid so the
    # test fails (ENOTCONN) instead of hanging the suite.
    def fire():
        for c in made:
            for d in c.daemons:
                d.kill(signal.SIGKILL)
    timer = threading.Timer(helpers.WATCHDOG_SECONDS, fire)
    timer.daemon = True
    timer.start()
    try:
        yield make
    finally:
        timer.cancel()
        problems = []
        for c in made:
            problems += c.teardown()
        if problems:
            pytest.fail("teardown problems:\n" + "\n".join(problems))


@pytest.fixture
def cfs(cfs_factory, request):
    """A mounted containerfs. Options via @pytest.mark.namespaces("uts")."""
    options = []
    marker = request.node.get_closest_marker("namespaces")
    if marker:
        options.append(f"namespaces={marker.args[0]}")
    c = cfs_factory(options)
    c.start()
    return c


@pytest.fixture
def outer_cgroup(cfs_factory):
    """A containerfs whose cgroup directory sits inside another cgroup the
    test owns (`outer`), which the daemon does not watch."""
    c = cfs_factory()
    outer = c.cgroup
    os.mkdir(outer)
    c.cgroup = os.path.join(outer, "daemon")
    try:
        yield c, outer
    finally:
        try:
            with open(os.path.join(outer, "cgroup.freeze"), "w") as f:
                f.write("0")
        except OSError:
            pass
        c.teardown()
        helpers.retry_while_busy(lambda: os.rmdir(outer), 5.0)
