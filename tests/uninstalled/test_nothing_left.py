"""After `make uninstall YES=1`, nothing of the factory is left on this machine:
processes, listeners, users, groups, files, packages, network. CI runs this right
after its own uninstall (`.ci/run`), before `make test` builds the factory again from
nothing; `make test` itself does not collect it (tests/conftest.py)."""

from __future__ import annotations

import os

from aiworkbench.core import teardown

from ..conftest import SITE_FILE, run


def test_uninstall_would_find_nothing_more_to_remove():
    plan = teardown.make_plan(SITE_FILE)
    named = {
        "programs": plan.programs,
        "units": plan.units,
        "packages": plan.packages,
        "users": plan.users,
        "groups": plan.groups,
        "paths": plan.paths,
        "namespaces": plan.namespaces,
        "bridges": plan.bridges,
    }
    assert {kind: items for kind, items in named.items() if items} == {}
    assert not plan.hosts_block
    assert teardown.leftovers(plan) == []


def test_nothing_left_seen_from_outside(site):
    for user in ("student", "intro-01", site.hub.user, site.dashboards.user, "slurm"):
        assert run(["getent", "passwd", user], check=False).returncode == 2, user
    for path in (
        "/etc/slurm",
        "/etc/aiworkbench",
        "/opt/aiworkbench",
        "/var/lib/aiworkbench",
        "/etc/sudoers.d/aiworkbench",
        "/home/student",
        teardown.RECORD_DIR,
        "/var/mail/admin",
        "/var/spool/exim4",
        "/etc/exim4",
    ):
        assert not os.path.lexists(path), path
    for package in (
        "slurmctld",
        "slurmd",
        "slurmdbd",
        "munge",
        "mariadb-server",
        "supervisor",
        "exim4-daemon-light",
        "exim4-base",
    ):
        shown = run(
            ["dpkg-query", "--show", "--showformat", "${db:Status-Status}", package], check=False
        ).stdout
        assert shown != "installed", f"{package} is still installed"
    assert run(["ip", "link", "show", "aiwb0"], check=False).returncode != 0
    assert "AI Factory Workbench" not in open("/etc/hosts").read()
