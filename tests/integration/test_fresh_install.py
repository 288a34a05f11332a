"""From nothing, on this machine: `make uninstall --yes` leaves nothing of the factory
(processes, listeners, users, groups, files, packages, network), and `make up` then builds
it again with no manual step (that a second converge changes nothing is
tests/integration/test_setup.py's). It takes the whole factory away and back, so it runs
after every other test (tests/conftest.py)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from aiworkbench.core import teardown

from ..conftest import REPO, SITE_FILE, run

pytestmark = [pytest.mark.integration, pytest.mark.fresh_install]
FACTORY = str(REPO / "scripts" / "factory")


def factory(*args, timeout=1800, stdin=None):
    return subprocess.run([FACTORY, *args], env=dict(os.environ, SITE=SITE_FILE),
                          capture_output=True, text=True, timeout=timeout, stdin=stdin)


def test_uninstall_without_yes_and_no_terminal_changes_nothing(site):
    plan = teardown.make_plan(SITE_FILE)
    refused = factory("uninstall", stdin=subprocess.DEVNULL, timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "no terminal to ask: run it with --yes (make uninstall YES=1)" in refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert "make uninstall removes:" in refused.stdout and "slurmctld" in refused.stdout
    assert teardown.make_plan(SITE_FILE) == plan
    assert "UP" in run(["scontrol", "ping"]).stdout


@pytest.mark.timeout(3000)  # a whole install from nothing: packages, environments, daemons
def test_uninstall_leaves_nothing_then_up_from_nothing(site):
    plan = teardown.make_plan(SITE_FILE)
    assert {"slurmctld", "jupyterhub", "mariadb"} <= set(plan.programs)
    assert {"slurmctld", "slurmd", "mariadb-server", "supervisor"} <= set(plan.packages)
    assert {"student", site.hub.user, "slurm"} <= set(plan.users)
    assert plan.namespaces == ["cn01", "cn02"] and plan.bridges == ["aiwb0"]

    removed = factory("uninstall", "--yes")
    assert removed.returncode == 0, removed.stdout[-4000:] + removed.stderr[-4000:]
    assert "nothing of the factory is left on this machine" in removed.stdout
    assert teardown.leftovers(plan) == []
    # The same, seen from outside the module.
    for user in ("student", "intro-01", site.hub.user, site.dashboards.user, "slurm"):
        assert run(["getent", "passwd", user], check=False).returncode == 2, user
    for path in ("/etc/slurm", "/etc/aiworkbench", "/opt/aiworkbench", "/var/lib/aiworkbench",
                 "/etc/sudoers.d/aiworkbench", "/home/student", teardown.RECORD_DIR,
                 "/var/mail/admin", "/var/spool/exim4", "/etc/exim4"):
        assert not os.path.lexists(path), path
    for package in ("slurmctld", "slurmd", "slurmdbd", "munge", "mariadb-server", "supervisor",
                    "exim4-daemon-light", "exim4-base"):
        shown = run(["dpkg-query", "--show", "--showformat", "${db:Status-Status}", package],
                    check=False).stdout
        assert shown != "installed", f"{package} is still installed"
    assert run(["ip", "link", "show", "aiwb0"], check=False).returncode != 0
    assert "AI Factory Workbench" not in open("/etc/hosts").read()

    up = factory("up")
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    assert "is running: http://" in up.stdout
    # A newcomer's first minutes: a welcome notebook in the new home, the shipped courses
    # published to the demo's class.
    welcome = Path("/home/student/Welcome.ipynb")
    assert welcome.is_file() and welcome.stat().st_uid == pwd.getpwnam("student").pw_uid
    assert json.loads(welcome.read_text())["cells"][0]["source"][0].startswith("# Welcome")
    assert Path("/home/student/.bashrc").is_file()  # the system's skeleton too
    shipped = sorted(p.name for p in Path(site.courses.root, "intro").iterdir()
                     if not p.name.startswith("."))
    assert shipped == ["dask-on-slurm", "first-steps", "notebook-to-batch",
                       "torch-image-classifier"]

