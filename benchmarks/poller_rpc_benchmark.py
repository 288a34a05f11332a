"""Poller benchmark: Slurm controller RPCs a minute with 0, 1, 5 and 20 sessions watched.

    sudo .venv/bin/python benchmarks/poller_rpc_benchmark.py [--window 60] [--site FILE]

Needs the factory up (`make up`) and root. It submits up to 20 small jobs (`sleep`, 10 MB,
charged to Slurm's root account; cancelled at the end) that stand in for running sessions,
and for each number of them watches them for --window seconds three ways:

- stock: batchspawner's recipe, one ``squeue -h -j ID -o '%T %B'`` per session every
  ``hub.poll_interval`` seconds (JupyterHub's poll of each spawner);
- fixed: the hub's poller with one tick (``hub.slurm_poll_interval``), as before it adapted;
- adaptive: the hub's poller as the hub runs it, every session settled (running), so on its
  long tick (``hub.slurm_steady_poll_interval``).

The queries run as ``nobody``, so that ``sdiag``'s RPC count for that user is theirs alone
(the running hub's own queries are the Slurm reader's). Prints one table row per count of
sessions: controller RPCs a minute for each way, and stock / adaptive.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from aiworkbench.core import slurm  # noqa: E402
from aiworkbench.core.site import load_site  # noqa: E402
from aiworkbench.sessions.poller import SlurmPoller  # noqa: E402

AS = ["/usr/sbin/runuser", "-u", "nobody", "--"]
COUNTS = (0, 1, 5, 20)


async def as_nobody(argv: list[str], **kwargs) -> str:
    return await slurm.run([*AS, *argv], **kwargs)


def rpcs_of_nobody() -> int:
    """The controller's count of RPCs from user nobody so far (sdiag)."""
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    by_user = out.split("Remote Procedure Call statistics by user", 1)[1]
    found = re.search(r"^\s*nobody\s*\(\s*\d+\)\s*count:(\d+)", by_user, re.MULTILINE)
    return int(found.group(1)) if found else 0


async def stock(jobs: list[str], window: float, poll: float) -> None:
    """batchspawner: each spawner's poll runs its own squeue for its job."""
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        started = time.monotonic()
        # PrivateData hides root's jobs from nobody ("Invalid job id"): the RPC was made.
        await asyncio.gather(
            *(as_nobody(["squeue", "-h", "-j", job, "-o", "%T %B"]) for job in jobs),
            return_exceptions=True,
        )
        await asyncio.sleep(max(0.0, poll - (time.monotonic() - started)))


async def poller(jobs: list[str], window: float, tick: float, steady: float) -> None:
    watcher = SlurmPoller(tick, as_nobody, steady)
    for job in jobs:
        watcher.watch(job)  # settled: sessions that run
    await asyncio.sleep(window)
    for job in jobs:
        watcher.unwatch(job)


def per_minute(run, window: float) -> float:
    before = rpcs_of_nobody()
    asyncio.run(run)
    return (rpcs_of_nobody() - before) * 60 / window


def submit(n: int) -> list[str]:
    return [
        subprocess.run(
            [
                "sbatch",
                "--parsable",
                "--account=root",
                "--partition=cpu",
                "--time=30",
                "--mem=10M",
                "--cpus-per-task=1",
                "--job-name=aiwb-bench-session",
                "--output=/dev/null",
                "--wrap",
                "sleep 1800",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .split(";")[0]
        for _ in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds per measurement")
    parser.add_argument("--site", default=str(REPO / "hub_config" / "site.toml"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("poller_rpc_benchmark: run it as root (it submits jobs and reads sdiag)")
    hub = load_site(args.site).hub
    jobs = submit(max(COUNTS))
    try:
        time.sleep(5)
        states = subprocess.run(
            ["squeue", "-h", "-j", ",".join(jobs), "-o", "%T"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        print(
            f"# {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}, "
            f"{os.cpu_count()} cores; {args.window:.0f} s per measurement; poll_interval "
            f"{hub.poll_interval} s, slurm_poll_interval {hub.slurm_poll_interval} s, "
            f"slurm_steady_poll_interval {hub.slurm_steady_poll_interval} s; stand-in jobs: "
            f"{states.count('RUNNING')} running, {states.count('PENDING')} pending"
        )
        print(
            "| sessions | stock batchspawner (RPC/min) | fixed tick | adaptive | stock / adaptive |"
        )
        print("| --- | --- | --- | --- | --- |")
        for n in COUNTS:
            watched, w = jobs[:n], args.window
            base = per_minute(stock(watched, w, hub.poll_interval), w)
            fixed = per_minute(
                poller(watched, w, hub.slurm_poll_interval, hub.slurm_poll_interval), w
            )
            adaptive = per_minute(
                poller(watched, w, hub.slurm_poll_interval, hub.slurm_steady_poll_interval), w
            )
            ratio = f"{base / adaptive:.1f}" if adaptive else "-"
            print(f"| {n} | {base:.0f} | {fixed:.0f} | {adaptive:.0f} | {ratio} |", flush=True)
    finally:
        subprocess.run(["scancel", *jobs], check=False)


if __name__ == "__main__":
    main()
