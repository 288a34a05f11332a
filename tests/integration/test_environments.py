"""Two Python environments: the hub and its services run from the hub's, sessions and
the dashboards from the kernels'. A kernels' environment broken past starting any
Python (as a bad package installed there for users could) leaves the hub, its proxy
and the workbench API answering, and the hub's environment holds none of the kernels'
packages.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
import requests

from aiworkbench.core.daemons import program

from ..conftest import hub_api_answers, restart_hub, run, wait_for

pytestmark = pytest.mark.integration


def supervised_cmdline(name: str) -> list[str]:
    """The command line of daemon ``name``'s process (a service: what
    aiworkbench-service exec'd)."""
    pid = run(["supervisorctl", "pid", program(name)]).stdout.strip()
    assert pid.isdigit() and pid != "0", f"{name} does not run"
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_the_hub_and_its_services_run_from_the_hubs_environment(site, hub_up):
    hub_env, kernel_env = site.factory.hub_env, site.factory.kernel_env
    assert hub_env != kernel_env
    hub = supervised_cmdline("hub")
    assert any(arg.startswith(f"{hub_env}/bin/") for arg in hub[:2]), hub
    api = supervised_cmdline("workbench_api")
    assert any(arg.startswith(f"{hub_env}/bin/") for arg in api[:2]), api
    dashboards = supervised_cmdline("dashboards")
    assert any(arg.startswith(f"{kernel_env}/bin/") for arg in dashboards[:2]), dashboards
    # The hub's environment has none of what users import; the kernels' has it.
    probe = "import importlib.util as u; print([m for m in {} if u.find_spec(m)])"
    kernel_only = ["torch", "jupyterlab", "ipywidgets", "dask_jobqueue", "duckdb"]
    found = run([f"{hub_env}/bin/python", "-c", probe.format(kernel_only)]).stdout.strip()
    assert found == "[]", f"the hub's environment holds {found}"
    found = run([f"{kernel_env}/bin/python", "-c", probe.format(kernel_only)]).stdout.strip()
    assert found == str(kernel_only)


def kernel_site_packages(site) -> Path:
    python = f"python{sysconfig.get_python_version()}"
    folder = Path(site.factory.kernel_env, "lib", python, "site-packages")
    assert folder.is_dir(), folder
    return folder


def test_a_broken_kernel_environment_does_not_take_the_hub_down(site, hub_url, hub_up):
    # A .pth line that starts with "import" runs at every start of that Python: this one
    # makes every program of the kernels' environment fail before it does anything.
    broken = kernel_site_packages(site) / "zz-aiwb-test-broken.pth"
    broken.write_text('import sys; sys.exit("the kernels\' environment is broken (test)")\n')
    try:
        probe = run([f"{site.factory.kernel_env}/bin/python", "-c", "print('ok')"], check=False)
        assert probe.returncode != 0 and "broken (test)" in probe.stderr  # it is broken
        restart_hub(hub_url)  # the hub and its proxy start again, from their environment
        # The workbench API (the hub's environment) answers through the proxy: it asks
        # for a login, in its own words.
        api = requests.get(f"{hub_url}/services/workbench/api/catalog", timeout=30)
        assert api.status_code == 401, api.text
        assert api.json()["message"].startswith("log in to the hub")
    finally:
        broken.unlink(missing_ok=True)
        run(["supervisorctl", "restart", program("dashboards")], check=False, timeout=180)
    wait_for(lambda: hub_api_answers(hub_url), 60, what="the hub's API")
