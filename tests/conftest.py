"""Shared helpers for the integration and browser tiers.

These tiers run against the real factory that `make up` started. A daemon
that does not answer is a failure, never a skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from aiworkbench.core.site import load_site

from . import parallel_plan, times

REPO = Path(__file__).resolve().parents[1]
SITE_FILE = os.environ.get("SITE", str(REPO / "hub_config" / "site.toml"))


# The quick tiers: every test there gets a short timeout (the slow tiers keep
# pyproject's); the component folder's tests are also marked ``component``.
TIER_TIMEOUTS_S = {"unit": 30, "component": 20}
# The factory's tiers, which run in two passes (tests/parallel_plan.py).
FACTORY_TIERS = ("integration", "browser", "notebooks")


def tier_of(path: str | Path) -> str:
    """The tier of a test file (its folder under tests/)."""
    return times.tier_of(Path(path).resolve().relative_to(REPO).as_posix())


def pytest_addoption(parser):
    parser.addoption(
        "--times-file",
        default=str(REPO / "test-results" / "test-times.tsv"),
        help="where the run writes every test's seconds (tests/times.py)",
    )


def pytest_itemcollected(item):
    """Each test's marks as it is collected (before any hook orders or groups the
    tests: pytest-xdist reads the groups in its own pytest_collection_modifyitems): the
    quick tiers' timeouts, the component tier's mark, and the factory's tiers' places
    in the parallel plan (an ``xdist_group``, or ``alone``)."""
    tier = tier_of(item.path)
    if tier == "component":
        item.add_marker(pytest.mark.component)
    if tier in TIER_TIMEOUTS_S and item.get_closest_marker("timeout") is None:
        item.add_marker(pytest.mark.timeout(TIER_TIMEOUTS_S[tier]))
    if tier in FACTORY_TIERS:
        relative = Path(item.path).resolve().relative_to(REPO / "tests").as_posix()
        where = parallel_plan.place(f"{relative}::{item.name}")
        if where == parallel_plan.ALONE:
            item.add_marker(pytest.mark.alone)
        elif where is not None:
            item.add_marker(pytest.mark.xdist_group(where))


def pytest_collection_modifyitems(items):
    """The tiers in the order of times.TIERS: the quick ones first."""
    rank = {tier: n for n, tier in enumerate(times.TIERS)}
    items.sort(key=lambda item: rank.get(tier_of(item.path), len(times.TIERS)))


# Checks of a machine the factory was just taken from: CI runs them right after its
# `make uninstall` (.ci/run); a run collects them only when they are named.
UNINSTALLED = REPO / "tests" / "uninstalled"


def pytest_ignore_collect(collection_path, config):
    if collection_path == UNINSTALLED:
        named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
        return None if any(p.is_relative_to(UNINSTALLED) for p in named) else True
    return None


class TierClock:
    """Adds each test's phases (setup, call, teardown) to its test; at the end of the
    run, writes every test's seconds (--times-file) and prints each tier's time and the
    slowest tests (tests/times.py)."""

    def __init__(self, path: Path):
        self.path = path
        self.spent: dict[str, float] = {}

    def pytest_runtest_logreport(self, report):
        self.spent[report.nodeid] = self.spent.get(report.nodeid, 0.0) + report.duration

    def pytest_terminal_summary(self, terminalreporter):
        if not self.spent:
            return
        terminalreporter.section("where the time went")
        for line in times.report(self.spent):
            terminalreporter.write_line(line)
        times.write(self.spent, self.path)
        terminalreporter.write_line(f"every test's time: {self.path}")


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # pytest-xdist's workers report to the controller
        config.pluginmanager.register(TierClock(Path(config.getoption("times_file"))), "tier-clock")


@pytest.fixture(scope="session")
def site():
    return load_site(SITE_FILE)


@pytest.fixture(scope="session")
def hub_url(site):
    return f"http://127.0.0.1:{site.hub.port}"


@contextmanager
def held_port():
    """A real listener on a free loopback port, held by this process; yields the port."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def run(argv, *, user=None, input=None, check=True, timeout=120):
    """Run a command (as ``user`` via runuser), as an argument list."""
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} failed ({result.returncode}): {result.stderr}")
    return result


def wait_for(predicate, timeout, interval=1.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def cluster_up():
    """The real cluster answers; fail (not skip) if it does not."""
    ping = run(["scontrol", "ping"], check=False)
    assert ping.returncode == 0 and "UP" in ping.stdout, (
        f"slurmctld does not answer ({ping.stdout}{ping.stderr}); run `make up`"
    )
    dbd = run(["sacctmgr", "--noheader", "show", "cluster"], check=False)
    assert dbd.returncode == 0, f"slurmdbd does not answer: {dbd.stderr}"


@pytest.fixture(scope="session")
def hub_up(hub_url):
    try:
        response = requests.get(f"{hub_url}/hub/api", timeout=10)
    except requests.ConnectionError as err:
        pytest.fail(f"the hub does not answer at {hub_url}: {err}; run `make up`")
    assert response.status_code == 200, response.text


class HubUser:
    """A demo user talking to the hub's REST API with a token got by password."""

    def __init__(self, hub_url: str, name: str, password: str):
        self.hub_url = hub_url
        self.name = name
        response = requests.post(
            f"{hub_url}/hub/api/users/{name}/tokens",
            json={
                "auth": {"username": name, "password": password},
                "expires_in": 3600,
                "note": "workbench tests",
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {response.json()['token']}"

    def web(self, password: str) -> requests.Session:
        """A cookie session logged in through the login form, as a browser would."""
        web = requests.Session()
        web.get(f"{self.hub_url}/hub/login", timeout=30)
        response = web.post(
            f"{self.hub_url}/hub/login",
            timeout=30,
            data={
                "username": self.name,
                "password": password,
                "_xsrf": web.cookies.get("_xsrf", ""),
            },
        )
        assert response.status_code == 200 and "/hub/login" not in response.url, response.url
        return web

    def api(self, method, path, **kwargs):
        return self.session.request(method, f"{self.hub_url}/hub/api{path}", timeout=60, **kwargs)

    def server(self, name=""):
        return self.api("GET", f"/users/{self.name}").json()["servers"].get(name)

    def wait_ready(self, timeout=180):
        def ready():
            server = self.server()
            assert server is not None, "the server disappeared while starting"
            return server if server.get("ready") else None

        return wait_for(ready, timeout, what=f"{self.name}'s server to be ready")

    def stop_server(self):
        response = self.api("DELETE", f"/users/{self.name}/server")
        assert response.status_code in (202, 204, 400), response.text
        wait_for(lambda: self.server() is None, 120, what=f"{self.name}'s server to stop")

    def remove_named_servers(self):
        """Stop and delete every named server (stopped ones still count against the limit)."""
        named = [n for n in self.api("GET", f"/users/{self.name}").json()["servers"] if n]
        named += [
            n
            for n in self.api("GET", f"/users/{self.name}?include_stopped_servers").json()[
                "servers"
            ]
            if n and n not in named
        ]
        for name in named:
            response = self.api(
                "DELETE", f"/users/{self.name}/servers/{name}", json={"remove": True}
            )
            assert response.status_code in (202, 204, 404), response.text
        wait_for(
            lambda: (
                not [
                    n
                    for n in self.api("GET", f"/users/{self.name}?include_stopped_servers").json()[
                        "servers"
                    ]
                    if n
                ]
            ),
            120,
            what=f"{self.name}'s named servers to be removed",
        )


@pytest.fixture
def hub_user(site, hub_url, hub_up):
    """Log in as a demo user; their default server is stopped afterwards."""
    users = []

    def login(name):
        user = HubUser(hub_url, name, site.users[name].password)
        users.append(user)
        if user.server() is not None:  # left over from an earlier run
            user.stop_server()
        user.remove_named_servers()
        return user

    yield login
    for user in users:
        user.stop_server()
        user.remove_named_servers()


def user_jobs(user):
    """The user's Slurm jobs as dicts (id, partition, account, state, reason, cpus,
    time_limit, gres)."""
    out = run(
        ["squeue", "--noheader", "--user", user, "--format", "%i|%P|%a|%T|%r|%C|%l|%b"]
    ).stdout
    keys = ("id", "partition", "account", "state", "reason", "cpus", "time_limit", "gres")
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line]


def hub_api_answers(hub_url) -> bool:
    """Whether the hub's API answers through its proxy now (False while either starts)."""
    try:
        return requests.get(f"{hub_url}/hub/api", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def restart_hub(hub_url):
    """Restart the hub under its supervisor, as after a crash or an upgrade: its config
    (and drop-ins) read again, its managed services started again, sessions kept."""
    run(["supervisorctl", "restart", "jupyterhub"])
    wait_for(lambda: hub_api_answers(hub_url), 60, what="the restarted hub's API")


KERNEL_PYTHON = "/opt/aiworkbench/env/bin/python"


@pytest.fixture
def work():
    """A temporary folder every user may write (workshop accounts' results), removed
    afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="aiwb-work-"))
    folder.chmod(0o777)
    yield folder
    run(["rm", "-rf", str(folder)])


def in_a_session(
    hub_url,
    user,
    password,
    code,
    work,
    *args,
    project="edu-intro",
    timeout=600,
    argv=None,
    cpus=1,
    node=None,
):
    """Run ``code`` (or the command ``argv``) as ``user`` inside a Slurm job of
    ``project`` on partition cpu (as a session's kernel runs: SLURM_* set by Slurm),
    with the user's hub token and the API's address; the sbatch result and the job's
    log file. ``work`` must be writable by ``user``. ``node``: run on that node (its
    network must reach ``hub_url``)."""
    token = HubUser(hub_url, user, password).session.headers["Authorization"].split()[1]
    log = work / f"driver-{user}.log"
    if argv is None:
        script = work / f"driver-{user}.py"
        script.write_text(code)
        script.chmod(0o644)
        argv = [KERNEL_PYTHON, str(script), *args]
    env = (
        f"ALL,HOME=/home/{user},AIWORKBENCH_API_URL={hub_url}/services/workbench/api,"
        f"JUPYTERHUB_API_TOKEN={token},JUPYTERHUB_API_URL={hub_url}/hub/api"
    )
    done = run(
        [
            "sbatch",
            "--wait",
            "--parsable",
            f"--account={project}",
            "--partition=cpu",
            f"--cpus-per-task={cpus}",
            "--mem=4G",
            "--time=20",
            "--chdir=/tmp",
            f"--output={log}",
            f"--export={env}",
            *([f"--nodelist={node}"] if node else []),
            "--wrap",
            " ".join(argv),
        ],
        user=user,
        check=False,
        timeout=timeout,
    )
    return done, log
