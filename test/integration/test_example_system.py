"""examples/system.sh runs as documented: two busybox systems, a veth pair
between them, httpd started through `run`, a page fetched from one to the
other, the consoles shown; and it leaves nothing behind."""
import os
import shutil

import pytest

from helpers import REPO, container_paths, run


def test_the_system_example_fetches_a_page_and_leaves_nothing(cfs):
    for tool in ("busybox", "ip", "nsenter"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    r = run(["sh", str(REPO / "examples" / "system.sh")], env={**os.environ, "CONTAINERS": cfs.mnt},
            timeout=60, check=False)
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "<h1>hello from web</h1>" in r.stdout
    assert "httpd-starting" in r.stdout  # web's console, shown
    assert r.stdout.rstrip().endswith("system.sh: the page went from web to client")
    work = r.stdout.splitlines()[0]
    assert work.startswith("/tmp/containerfs-system.") and work.endswith("/web")
    assert not os.path.exists(os.path.dirname(work))
    assert container_paths(cfs.mnt) == []
