"""Reconciliation benchmark: grants into the real Slurm accounting, against the stock recipe.

    sudo .venv/bin/python benchmarks/reconcile_benchmark.py [--projects 500] [--members 20]
                                                            [--stock-projects 50]

Needs the factory's Slurm up (`make up`) and root (a Slurm administrator). Makes, on
an accounting cluster of its own (``aiwb-bench``, beside the factory's), PROJECTS
accounts ``bench-NNN`` with MEMBERS users ``bu-NNN-MM`` each (Slurm users only:
slurmdbd does not need Unix accounts) and times, on the real slurmdbd:

- full pass: from nothing to every account, budget and association;
- no change: a second pass that finds nothing to do;
- one change: one project's budget changed;
- stock: the same first pass for --stock-projects projects the way a plain script (and
  the workbench's earlier ansible module) does it, one ``sacctmgr`` process per change,
  next to ours for the same projects.

Prints each step's seconds and its sacctmgr processes, and the stock/ours ratio. Deletes
its cluster, accounts and users at the end (and before it starts, if an earlier run was
cut short).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from aiworkbench.allocations import reconcile  # noqa: E402
from aiworkbench.core import commands  # noqa: E402

PREFIX, USER_PREFIX = "bench-", "bu-"
CLUSTER = "aiwb-bench"  # an accounting cluster of the benchmark's own


def grants(projects: int, members: int, first: int = 0) -> list[reconcile.Grant]:
    return [
        reconcile.Grant(
            account=f"{PREFIX}{p:03d}",
            description=f"benchmark project {p}",
            gpu_minutes=6000 + p,
            cpu_minutes=60000 + p,
            members=tuple(f"{USER_PREFIX}{p:03d}-{m:02d}" for m in range(members)),
        )
        for p in range(first, first + projects)
    ]


def sacctmgr(*args: str, text: str | None = None) -> str:
    return subprocess.run(
        ["sacctmgr", "--immediate", *args], input=text, capture_output=True, text=True
    ).stdout


def set_up() -> None:
    """The benchmark's own accounting cluster, beside the factory's: its accounts and
    associations never mix with the factory's, and go with it at the end."""
    clean_up()
    sacctmgr("add", "cluster", CLUSTER)


def clean_up() -> None:
    """The benchmark's cluster, accounts and users gone (test data: the reconciler never
    deletes). Deleting the cluster drops its associations at once, where deleting
    thousands of associations one by one takes slurmdbd most of an hour."""
    sacctmgr("delete", "cluster", CLUSTER)
    accounts = [
        a
        for a in sacctmgr("--noheader", "--parsable2", "show", "account", "format=account").split()
        if a.startswith(PREFIX)
    ]
    users = [
        u
        for u in sacctmgr("--noheader", "--parsable2", "show", "user", "format=user").split()
        if u.startswith(USER_PREFIX)
    ]
    lines = [f"delete user {','.join(users[i : i + 500])}" for i in range(0, len(users), 500)]
    lines += [
        f"delete account {','.join(accounts[i : i + 200])}" for i in range(0, len(accounts), 200)
    ]
    if lines:
        sacctmgr(text="\n".join(lines) + "\n")


def timed(step):
    started = time.perf_counter()
    value = step()
    return time.perf_counter() - started, value


def ours(wanted, cluster):
    result = reconcile.reconcile(wanted, cluster)
    if result.refused:
        raise SystemExit(reconcile.describe(result))
    return result


def stock(wanted, cluster) -> int:
    """The plain recipe: read the state once, then one sacctmgr process for each change."""
    changes = reconcile.plan(wanted, reconcile.read_state(cluster), cluster)
    for change in changes:
        commands.run([reconcile.SACCTMGR, "--immediate", *change.args], timeout=60)
    return 3 + len(changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--stock-projects", type=int, default=50)
    args = parser.parse_args()
    if os.getuid() != 0:
        raise SystemExit("run as root: it adds and deletes Slurm accounts")
    cluster = CLUSTER
    print(
        f"# {time.strftime('%Y-%m-%d')} {platform.node()}, {os.cpu_count()} cores; "
        f"{args.projects} projects x {args.members} members",
        flush=True,
    )
    set_up()
    try:
        # Stock and ours on the same number of fresh projects, each its own accounts.
        few = args.stock_projects
        stock_s, stock_calls = timed(lambda: stock(grants(few, args.members, first=900), cluster))
        few_s, few_result = timed(lambda: ours(grants(few, args.members, first=950), cluster))
        print(
            f"first pass, {few} projects: stock {stock_s:.1f} s ({stock_calls} sacctmgr), "
            f"ours {few_s:.1f} s ({few_result.calls} sacctmgr, "
            f"{len(few_result.changes)} changes); stock/ours {stock_s / few_s:.1f}x"
        )

        wanted = grants(args.projects, args.members)
        full_s, full = timed(lambda: ours(wanted, cluster))
        print(
            f"full pass, {args.projects} projects: {full_s:.1f} s, {full.calls} sacctmgr, "
            f"{len(full.changes)} changes",
            flush=True,
        )
        again_s, again = timed(lambda: ours(wanted, cluster))
        print(
            f"no change: {again_s:.1f} s, {again.calls} sacctmgr, {len(again.changes)} changes",
            flush=True,
        )
        changed = [*wanted[:-1], reconcile.Grant(**{**wanted[-1].__dict__, "gpu_minutes": 1})]
        one_s, one = timed(lambda: ours(changed, cluster))
        print(
            f"one change: {one_s:.1f} s, {one.calls} sacctmgr, {len(one.changes)} changes",
            flush=True,
        )
    finally:
        clean_up()
    print(
        "command: sudo .venv/bin/python benchmarks/reconcile_benchmark.py "
        f"--projects {args.projects} --members {args.members} --stock-projects {few}"
    )


if __name__ == "__main__":
    main()
