"""Spawn benchmark: the workbench spawner against stock batchspawner, same run.

    sudo .venv/bin/python benchmarks/spawn_benchmark.py [--runs 5] [--window 60]

Needs the factory up (`make up`); run it alone (it counts every slurmctld RPC).
It starts a second hub with the stock SlurmSpawner (benchmarks/stock_hub_config.py)
on ports 8100/8101/8181 and, for each hub, measures:

1. time from spawn request to ready (the REST API says ready), one user, idle
   cluster, --runs times, alternating hubs;
2. slurmctld RPCs per spawn-and-stop cycle, from `sdiag`'s per-user counts
   (the hub's own user plus the session's user; the latter includes the RPCs
   of the job's own `srun` step, the same for both spawners);
3. steady-state RPCs per minute with 1 and with 2 running sessions.

The class rush (10 and 20 users at once) is not measured yet: the demo site
has 5 users.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "spawners"))
from aiworkbench_hub.site import load_site  # noqa: E402

ENV = "/opt/aiworkbench/env"
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


def rpc_delta(before, after, users):
    return sum(after.get(u, 0) - before.get(u, 0) for u in users)


class Hub:
    def __init__(self, name, url, password):
        self.name, self.url = name, url
        response = requests.post(f"{url}/hub/api/users/{USER}/tokens", timeout=60, json={
            "auth": {"username": USER, "password": password}, "expires_in": 7200})
        response.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {response.json()['token']}"

    def servers(self):
        return self.session.get(f"{self.url}/hub/api/users/{USER}", timeout=60).json()["servers"]

    def spawn(self, server="", options=None) -> float:
        path = f"/hub/api/users/{USER}/servers/{server}" if server else \
            f"/hub/api/users/{USER}/server"
        started = time.perf_counter()
        response = self.session.post(f"{self.url}{path}", json=options or {}, timeout=600)
        response.raise_for_status()
        while True:
            state = self.servers().get(server)
            if state and state.get("ready"):
                return time.perf_counter() - started
            if state is None:
                raise RuntimeError(f"{self.name}: the server disappeared while starting")
            if time.perf_counter() - started > 600:
                raise RuntimeError(f"{self.name}: not ready after 600 s")
            time.sleep(0.05)

    def stop(self, server=""):
        path = f"/hub/api/users/{USER}/servers/{server}" if server else \
            f"/hub/api/users/{USER}/server"
        # remove: a stopped named server still counts against the hub's limit
        self.session.delete(f"{self.url}{path}", json={"remove": True} if server else None,
                            timeout=600)
        while server in self.servers():
            time.sleep(0.2)

    def stop_all(self, servers=("",)):
        for server in servers:
            self.stop(server)
        while user_jobs():  # every job of the user has left the queue
            time.sleep(0.2)


def user_jobs():
    out = subprocess.run(["squeue", "--noheader", "--user", USER, "--format", "%i"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def start_stock_hub(state: Path) -> subprocess.Popen:
    hub_user = "jupyterhub"
    shutil.chown(state, hub_user, hub_user)
    os.chmod(state, 0o700)
    config = state / "stock_hub_config.py"
    shutil.copy(REPO / "benchmarks" / "stock_hub_config.py", config)
    shutil.chown(config, hub_user, hub_user)
    log = open(state / "stock-hub.log", "w")
    return subprocess.Popen(
        ["runuser", "-u", hub_user, "--", "env", "-i", "LANG=C.UTF-8", f"HOME={state}",
         f"PATH={ENV}/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         f"STOCK_HUB_STATE={state}", f"STOCK_HUB_USERS={USER}",
         f"{ENV}/bin/jupyterhub", "--config", str(config)],
        cwd=state, stdout=log, stderr=subprocess.STDOUT)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--window", type=int, default=60,
                        help="seconds of steady state per measurement")
    args = parser.parse_args()
    site = load_site(os.environ.get("SITE", REPO / "hub_config" / "site.toml"))
    password = site.users[USER].password
    hub_users = [site.hub.user, USER]
    if user_jobs():
        sys.exit(f"{USER} has Slurm jobs; stop them first")

    state = Path(tempfile.mkdtemp(prefix="aiwb-stock-hub-"))
    stock_proc = start_stock_hub(state)
    try:
        wait_api("http://127.0.0.1:8100")
        hubs = [Hub("workbench", f"http://127.0.0.1:{site.hub.port}", password),
                Hub("stock", "http://127.0.0.1:8100", password)]
        options = {"workbench": {"profile": "cpu-small", "project": "edu-intro"}, "stock": {}}
        times = {h.name: [] for h in hubs}
        rpcs = {h.name: [] for h in hubs}
        for hub in hubs:  # warm-up: first start of JupyterLab, caches
            hub.spawn(options=options[hub.name])
            hub.stop_all()
        for run in range(args.runs):
            for hub in hubs:
                time.sleep(2)
                before = sdiag_by_user()
                times[hub.name].append(hub.spawn(options=options[hub.name]))
                hub.stop_all()
                rpcs[hub.name].append(rpc_delta(before, sdiag_by_user(), hub_users))
                print(f"run {run + 1} {hub.name}: ready in {times[hub.name][-1]:.2f} s, "
                      f"{rpcs[hub.name][-1]} RPCs for spawn+stop", flush=True)
        steady = {}
        for hub in hubs:
            for count in (1, 2):
                names = ["", "second"][:count]
                for name in names:
                    hub.spawn(name, options[hub.name])
                time.sleep(5)
                before = sdiag_by_user()
                time.sleep(args.window)
                per_min = rpc_delta(before, sdiag_by_user(), hub_users) * 60 / args.window
                steady[(hub.name, count)] = per_min
                print(f"{hub.name}: {count} session(s) running: {per_min:.1f} RPCs/min",
                      flush=True)
                hub.stop_all(names)
    finally:
        stock_proc.terminate()
        stock_proc.wait(timeout=60)

    wb, st = times["workbench"], times["stock"]
    print("\n| measure | workbench | stock batchspawner | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| spawn to ready, p50 (s), {args.runs} runs | {statistics.median(wb):.2f} | "
          f"{statistics.median(st):.2f} | {statistics.median(wb) / statistics.median(st):.2f} |")
    print(f"| spawn to ready, max (s) | {max(wb):.2f} | {max(st):.2f} | "
          f"{max(wb) / max(st):.2f} |")
    rw, rs = statistics.median(rpcs["workbench"]), statistics.median(rpcs["stock"])
    print(f"| slurmctld RPCs per spawn+stop, p50 | {rw:.0f} | {rs:.0f} | {rw / rs:.2f} |")
    for count in (1, 2):
        w, s = steady[("workbench", count)], steady[("stock", count)]
        print(f"| steady RPCs/min, {count} session(s) | {w:.1f} | {s:.1f} | "
              f"{w / s if s else float('nan'):.2f} |")
    print(f"\nstock hub log: {state / 'stock-hub.log'}")


if __name__ == "__main__":
    main()
