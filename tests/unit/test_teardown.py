"""make uninstall's pure parts: stop order, the network role's /etc/hosts block, what a
plan says, and the refusal without a terminal (the real uninstall is
CI's own, checked by tests/uninstalled)."""

import io
import re
import sys

import pytest

from aiworkbench.core import teardown
from aiworkbench.core.daemons import DAEMONS, debian_packages, postgresql_package

REPO_ANSIBLE = teardown.Path(__file__).resolve().parents[2] / "ansible"


def test_programs_stop_newest_first_and_unknown_ones_before_all():
    names = [
        "munged",
        "slurmd-vm",
        "jupyterhub",
        "dashboards",
        "slurmd-cn01",
        "mariadb",
        "workbench-api",
        "slurmctld",
        "postgresql",
        "slurmdbd",
        "idle-culler",
        "extra",
    ]
    assert teardown.ordered_programs(names) == [
        "extra",
        "idle-culler",
        "dashboards",
        "workbench-api",
        "jupyterhub",
        "slurmd-cn01",
        "slurmd-vm",
        "slurmctld",
        "slurmdbd",
        "postgresql",
        "mariadb",
        "munged",
    ]


def test_the_hosts_block_names_the_namespace_nodes():
    text = (
        "127.0.0.1 localhost\n# BEGIN AI Factory Workbench namespace nodes\n"
        "10.77.0.11 cn01\n10.77.0.12 cn02\n# END AI Factory Workbench namespace nodes\n"
    )
    assert teardown.hosts_nodes(text) == ["cn01", "cn02"]
    assert teardown.hosts_nodes("127.0.0.1 localhost\n") == []
    # The marker is the network role's.
    tasks = (REPO_ANSIBLE / "roles" / "network" / "tasks" / "main.yml").read_text()
    assert f'marker: "# {{mark}} {teardown.HOSTS_MARK}"' in tasks


def test_every_package_a_role_installs_is_in_the_one_list():
    roles = (REPO_ANSIBLE / "roles").glob("*/tasks/*.yml")
    for tasks in roles:
        for block in re.findall(r"ansible\.builtin\.apt:\n\s+name: (.*)", tasks.read_text()):
            assert "aiwb_packages" in block, f"{tasks}: installs {block} outside packages.json"
    assert postgresql_package() == f"postgresql-{DAEMONS['postgresql']['version']}"
    assert {"slurmctld", "supervisor", "chromium", postgresql_package()} <= set(debian_packages())


def test_a_plan_says_what_it_removes_and_what_it_keeps():
    plan = teardown.Plan(
        keep_data=True,
        programs=["slurmctld"],
        packages=["slurmd"],
        bridges=["aiwb0"],
        hosts_block=True,
        without_record=True,
    )
    text = plan.describe()
    assert "daemons (supervisor programs): slurmctld" in text
    assert "Debian packages: slurmd" in text and "bridges: aiwb0" in text
    assert "kept (--keep-data)" in text and "no install record" in text
    assert teardown.Plan(keep_data=False).describe().strip().startswith("nothing")


def test_without_yes_and_without_a_terminal_it_refuses():
    with pytest.raises(
        teardown.TeardownError,
        match="no terminal to ask: run it with --yes "
        r"\(make uninstall YES=1\)",
    ):
        teardown.confirm(teardown.Plan(keep_data=False), yes=False, stdin=io.StringIO(""))
    teardown.confirm(teardown.Plan(keep_data=False), yes=True, stdin=io.StringIO(""))


def test_the_module_uses_the_standard_library_only():
    source = (teardown.Path(teardown.__file__)).read_text()
    imported = set(re.findall(r"^(?:from|import) ([a-z0-9_.]+)", source, re.M))
    assert imported - set(sys.stdlib_module_names) == {
        "aiworkbench.core",  # its commands, the one runner
        "aiworkbench.core.commands",
        "aiworkbench.core.daemons",
        "aiworkbench.core.preflight",
        "aiworkbench.core.site",
    }
    assert "shell=True" not in source
