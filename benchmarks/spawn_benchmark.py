"""Spawn benchmark: the workbench spawner against stock batchspawner, same run.

    sudo .venv/bin/python benchmarks/spawn_benchmark.py [--runs 5] [--window 60] [--rush 10,20]

Needs the factory up (`make up`); run it alone (it counts every slurmctld RPC).
It starts a second hub with the stock SlurmSpawner (benchmarks/stock_hub_config.py)
on ports 8100/8101/8181 and, for each hub, measures:

1. time from spawn request to ready (the REST API says ready), one user, idle
   cluster, --runs times, alternating hubs;
2. a class rush: the learners of the site's first class (intro-01, …) all
   request a session at the same moment; p50 and max time to ready, failures;
3. slurmctld RPCs per spawn and per stop, from `sdiag`'s per-user counts (the
   hub's own user plus the session's user), with the message types;
4. steady-state RPCs per minute with 1 and with 2 running sessions.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from aiworkbench.core.site import load_site  # noqa: E402

SITE_FILE = os.environ.get("SITE", REPO / "hub_config" / "site.toml")  # as make up's
ENV = load_site(SITE_FILE).factory.kernel_env  # the kernels' environment: jobs run from it
HUB_ENV = load_site(SITE_FILE).factory.hub_env  # the hub's: the stock hub runs from it too
USER = "trainer"


def sdiag_by_user() -> dict[str, int]:
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    section = out.split("Remote Procedure Call statistics by user", 1)[1]
    section = section.split("Pending RPC statistics", 1)[0]
    counts = {}
    for line in section.splitlines():
        match = re.match(r"\s*(\S+)\s+\(\s*\d+\)\s+count:(\d+)", line)
        if match:
            counts[match.group(1)] = int(match.group(2))
    return counts


def sdiag_by_type() -> dict[str, int]:
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    section = out.split("Remote Procedure Call statistics by message type", 1)[1]
    section = section.split("Remote Procedure Call statistics by user", 1)[0]
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^\s*(\S+)\s+\(\s*\d+\)\s+count:(\d+)", section, re.M)
    }


def rpc_delta(before, after, users):
    return sum(after.get(u, 0) - before.get(u, 0) for u in users)


def type_delta(before, after) -> dict[str, int]:
    """RPCs by message type between two sdiag_by_type() readings (sdiag's own left out)."""
    return {
        t: after[t] - before.get(t, 0)
        for t in after
        if after[t] != before.get(t, 0) and t != "REQUEST_STATS_INFO"
    }


class Hub:
    """One hub's REST API as one user (a token made with the user's password)."""

    def __init__(self, name, url, user, password):
        self.name, self.url, self.user = name, url, user
        response = requests.post(
            f"{url}/hub/api/users/{user}/tokens",
            timeout=120,
            json={"auth": {"username": user, "password": password}, "expires_in": 7200},
        )
        response.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {response.json()['token']}"

    def _path(self, server):
        return (
            f"/hub/api/users/{self.user}/servers/{server}"
            if server
            else f"/hub/api/users/{self.user}/server"
        )

    def servers(self):
        response = self.session.get(f"{self.url}/hub/api/users/{self.user}", timeout=120)
        response.raise_for_status()
        return response.json()["servers"]

    def spawn(self, server="", options=None, timeout=600, poll=0.05) -> float:
        started = time.perf_counter()
        response = self.session.post(
            f"{self.url}{self._path(server)}", json=options or {}, timeout=timeout
        )
        response.raise_for_status()
        while True:
            state = self.servers().get(server)
            if state and state.get("ready"):
                return time.perf_counter() - started
            if state is None:
                raise RuntimeError(f"{self.name}: {self.user}'s server disappeared while starting")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{self.name}: {self.user}'s server not ready after {timeout} s")
            time.sleep(poll)

    def stop(self, server=""):
        # remove: a stopped named server still counts against the hub's limit
        self.session.delete(
            f"{self.url}{self._path(server)}",
            json={"remove": True} if server else None,
            timeout=600,
        )
        while server in self.servers():
            time.sleep(0.2)

    def stop_all(self, servers=("",)):
        for server in servers:
            self.stop(server)
        while user_jobs(self.user):  # every job of the user has left the queue
            time.sleep(0.2)


def user_jobs(*users):
    out = subprocess.run(
        ["squeue", "--noheader", "--user", ",".join(users or (USER,)), "--format", "%i"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def class_rush(hubs: list[Hub], options: dict, timeout: float) -> dict:
    """Every hub in ``hubs`` (one per learner) requests a session at once; the times to
    ready, the failures, and the wall time until all were ready."""
    barrier = time.perf_counter() + 1.0

    def one(hub):
        time.sleep(max(0.0, barrier - time.perf_counter()))
        try:
            return hub.spawn(options=options, timeout=timeout, poll=0.5), ""
        except Exception as err:  # counted as a failure, with its message
            return None, f"{hub.user}: {err}"

    with ThreadPoolExecutor(len(hubs)) as pool:
        results = list(pool.map(one, hubs))
    with ThreadPoolExecutor(len(hubs)) as pool:
        list(pool.map(lambda hub: hub.stop(), hubs))
    while user_jobs(*(hub.user for hub in hubs)):
        time.sleep(0.5)
    return {
        "times": [t for t, _ in results if t is not None],
        "failures": [e for _, e in results if e],
    }


def start_stock_hub(state: Path, users: list[str]) -> subprocess.Popen:
    hub_user = "jupyterhub"
    shutil.chown(state, hub_user, hub_user)
    os.chmod(state, 0o700)
    config = state / "stock_hub_config.py"
    shutil.copy(REPO / "benchmarks" / "stock_hub_config.py", config)
    shutil.chown(config, hub_user, hub_user)
    log = open(state / "stock-hub.log", "w")
    return subprocess.Popen(
        [
            "runuser",
            "-u",
            hub_user,
            "--",
            "env",
            "-i",
            "LANG=C.UTF-8",
            f"HOME={state}",
            f"PATH={HUB_ENV}/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"STOCK_HUB_STATE={state}",
            f"STOCK_HUB_USERS={','.join(users)}",
            f"AIWORKBENCH_ENV={ENV}",
            f"{HUB_ENV}/bin/jupyterhub",
            "--config",
            str(config),
        ],
        cwd=state,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_api(url, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/hub/api", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no hub at {url}")


def pct(values, q):
    """The q-quantile (0..1) of values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--window", type=int, default=60, help="seconds of steady state per measurement"
    )
    parser.add_argument(
        "--rush",
        default="10,20",
        help="class sizes of the class rush, comma-separated ('' for none)",
    )
    parser.add_argument(
        "--rush-timeout",
        type=int,
        default=300,
        help="seconds a rushed session may take before it counts as failed",
    )
    return parser.parse_args()


def measure_spawns(hubs, options, runs, hub_users):
    """1 and 3: time to ready and RPCs per spawn and per stop, alternating hubs."""
    times = {h.name: [] for h in hubs}
    rpcs = {h.name: {"spawn": [], "stop": []} for h in hubs}
    types = {h.name: collections.Counter() for h in hubs}
    for hub in hubs:  # warm-up: first start of JupyterLab, caches
        hub.spawn(options=options[hub.name])
        hub.stop_all()
    for run in range(runs):
        for hub in hubs:
            time.sleep(2)
            before, before_types = sdiag_by_user(), sdiag_by_type()
            times[hub.name].append(hub.spawn(options=options[hub.name]))
            ready, ready_types = sdiag_by_user(), sdiag_by_type()
            hub.stop_all()
            after = sdiag_by_user()
            rpcs[hub.name]["spawn"].append(rpc_delta(before, ready, hub_users))
            rpcs[hub.name]["stop"].append(rpc_delta(ready, after, hub_users))
            types[hub.name].update(type_delta(before_types, ready_types))
            print(
                f"run {run + 1} {hub.name}: ready in {times[hub.name][-1]:.2f} s, "
                f"{rpcs[hub.name]['spawn'][-1]} RPCs to ready, "
                f"{rpcs[hub.name]['stop'][-1]} to stop",
                flush=True,
            )
    return times, rpcs, types


def measure_rushes(site, sizes, urls, learners, options, rush_timeout):
    """2: each class size rushes each hub; times to ready, failures and RPCs."""
    rush = {}
    for size in sizes:
        for name, url in urls.items():
            time.sleep(5)
            clients = [
                Hub(name, url, learner, site.users[learner].password) for learner in learners[:size]
            ]
            before = sdiag_by_user()
            rush[(name, size)] = class_rush(clients, options[name], rush_timeout)
            rush[(name, size)]["rpcs"] = rpc_delta(
                before, sdiag_by_user(), [site.hub.user, *learners[:size]]
            )
            result = rush[(name, size)]
            print(
                f"rush of {size} on {name}: {len(result['times'])} ready, "
                f"{len(result['failures'])} failed; "
                + (
                    f"p50 {statistics.median(result['times']):.1f} s, "
                    f"max {max(result['times']):.1f} s"
                    if result["times"]
                    else ""
                )
                + "".join(f"\n  {failure}" for failure in result["failures"]),
                flush=True,
            )
    return rush


def measure_steady(hubs, options, window, hub_users):
    """4: RPCs per minute with 1 and with 2 sessions running."""
    steady = {}
    for hub in hubs:
        for count in (1, 2):
            names = ["", "second"][:count]
            for name in names:
                hub.spawn(name, options[hub.name])
            time.sleep(5)
            before = sdiag_by_user()
            time.sleep(window)
            per_min = rpc_delta(before, sdiag_by_user(), hub_users) * 60 / window
            steady[(hub.name, count)] = per_min
            print(f"{hub.name}: {count} session(s) running: {per_min:.1f} RPCs/min", flush=True)
            hub.stop_all(names)
    return steady


def row(label, w, s, fmt="{:.2f}"):
    """One line of the comparison table: workbench, stock and their ratio."""
    ratio = f"{w / s:.2f}" if s else "n/a"
    print(f"| {label} | {fmt.format(w)} | {fmt.format(s)} | {ratio} |")


def report(runs, sizes, times, rpcs, types, rush, steady):
    """The comparison table, then the RPCs per spawn by message type."""
    wb, st = times["workbench"], times["stock"]
    print("\n| measure | workbench | stock batchspawner | ratio |")
    print("| --- | --- | --- | --- |")
    row(f"spawn to ready, p50 (s), {runs} runs", statistics.median(wb), statistics.median(st))
    row("spawn to ready, max (s)", max(wb), max(st))
    for size in sizes:
        w, s = rush[("workbench", size)], rush[("stock", size)]
        for label, fn in (("p50", statistics.median), ("max", max)):
            if w["times"] and s["times"]:
                row(f"class rush of {size}, {label} (s)", fn(w["times"]), fn(s["times"]))
        row(f"class rush of {size}, failures", len(w["failures"]), len(s["failures"]), "{:d}")
        row(f"class rush of {size}, slurmctld RPCs", w["rpcs"], s["rpcs"], "{:d}")
    for phase in ("spawn", "stop"):
        row(
            f"slurmctld RPCs per {phase}, p50",
            statistics.median(rpcs["workbench"][phase]),
            statistics.median(rpcs["stock"][phase]),
            "{:.0f}",
        )
    for count in (1, 2):
        row(
            f"steady RPCs/min, {count} session(s)",
            steady[("workbench", count)],
            steady[("stock", count)],
            "{:.1f}",
        )
    for name in ("workbench", "stock"):
        per_spawn = {t: n / runs for t, n in sorted(types[name].items())}
        print(
            f"\n{name}: RPCs per spawn by message type (all users, mean): "
            + ", ".join(f"{t} {n:g}" for t, n in per_spawn.items())
        )


def main():
    args = parse_args()
    site = load_site(SITE_FILE)
    sizes = [int(n) for n in args.rush.split(",") if n]
    klass = next(iter(site.classes), None)
    learners = site.learners_of(klass) if klass else []
    if sizes and max(sizes) > len(learners):
        sys.exit(
            f"the class rush needs {max(sizes)} learners; the site's first class has "
            f"{len(learners)}"
        )
    if user_jobs(USER, *learners):
        sys.exit(f"{USER} or the learners have Slurm jobs; stop them first")
    hub_users = [site.hub.user, USER]
    urls = {"workbench": f"http://127.0.0.1:{site.hub.port}", "stock": "http://127.0.0.1:8100"}
    options = {"workbench": {"profile": "cpu-small", "project": "edu-intro"}, "stock": {}}

    state = Path(tempfile.mkdtemp(prefix="aiwb-stock-hub-"))
    stock_proc = start_stock_hub(state, [USER, *learners])
    try:
        wait_api(urls["stock"])
        hubs = [Hub(name, url, USER, site.users[USER].password) for name, url in urls.items()]
        times, rpcs, types = measure_spawns(hubs, options, args.runs, hub_users)
        rush = measure_rushes(site, sizes, urls, learners, options, args.rush_timeout)
        steady = measure_steady(hubs, options, args.window, hub_users)
    finally:
        stock_proc.terminate()
        stock_proc.wait(timeout=60)

    report(args.runs, sizes, times, rpcs, types, rush, steady)
    print(f"\nstock hub log: {state / 'stock-hub.log'}")


if __name__ == "__main__":
    main()
