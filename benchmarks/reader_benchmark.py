"""Slurm reader benchmark: the services' queries through the reader, against the stock recipe.

    sudo .venv/bin/python benchmarks/reader_benchmark.py [--runs 30] [--site hub_config/site.toml]

Needs the factory up (`make up`), and root (it becomes the hub's user). For each
query the hub and the dashboards make (the poller's `squeue`, the budgets' `sshare`,
the ingestion's `sacct` over the last day), --runs times in turn:

- stock: the hub's user runs the command itself, as before Slurm's PrivateData
  (with PrivateData on, it now sees only its own jobs: the rows column shows it);
- reader: the hub's user runs it as the Slurm reader, through sudo, as
  ``aiworkbench.core.slurm.as_reader`` does (and sees every row).

Both start through `runuser`, so that cost is in both. Prints one row per query:
median and 95th percentile in ms, the reader/stock ratio of the medians, and the
rows each saw on the last run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from aiworkbench.budgets import accounting  # noqa: E402
from aiworkbench.core import slurm  # noqa: E402
from aiworkbench.core.site import load_site  # noqa: E402

QUERIES = {
    "squeue (poller)": slurm.squeue_argv(),
    "sshare (budgets)": accounting.sshare_argv(),
    "sacct, last day (dashboards)": [
        "sacct",
        "--allusers",
        "--allocations",
        "--noheader",
        "--parsable2",
        "--starttime=now-1days",
        "--format=JobID,User,Account,State",
    ],
}


def timed(argv: list[str]) -> tuple[float, int]:
    """Milliseconds one run took, and the lines it printed."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env=slurm.READER_ENV)
    return (time.perf_counter() - started) * 1000, len(done.stdout.splitlines())


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--site", default=str(REPO / "hub_config" / "site.toml"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("reader_benchmark: run it as root (it becomes the hub's user)")
    site = load_site(args.site)
    hub = ["/usr/sbin/runuser", "-u", site.hub.user, "--"]
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}, {os.cpu_count()} "
        f"cores; hub user {site.hub.user}, reader {site.slurm.reader}, PrivateData="
        f"{','.join(site.slurm.private_data)}; {args.runs} runs each"
    )
    print(
        "| query | stock p50 (ms) | reader p50 (ms) | stock p95 | reader p95 | "
        "ratio p50 | rows stock / reader |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, argv in QUERIES.items():
        stock, reader = [], []
        for _ in range(args.runs):  # in turn, so that drift hits both alike
            ms, stock_rows = timed([*hub, *argv])
            stock.append(ms)
            ms, reader_rows = timed([*hub, *slurm.as_reader(argv, site.slurm.reader)])
            reader.append(ms)
        s50, r50 = statistics.median(stock), statistics.median(reader)
        print(
            f"| {name} | {s50:.1f} | {r50:.1f} | {p95(stock):.1f} | {p95(reader):.1f} | "
            f"{r50 / s50:.2f} | {stock_rows} / {reader_rows} |"
        )


if __name__ == "__main__":
    main()
