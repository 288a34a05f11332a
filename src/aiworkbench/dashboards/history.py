"""A realistic Slurm accounting history, for tests and benchmarks of the dashboards.

    python -m aiworkbench.dashboards.history OUT --jobs 1000000 [--seed 1]

Writes what ``sacct --allusers --allocations --parsable2 --noheader
--delimiter=DELIMITER --format=FORMAT`` prints (both below), one job a line, in
submit order:
many projects of different sizes (a few large ones run most jobs), users in
them, the partitions cpu and gpu, job sizes from one core to eight GPUs,
submit times with a working-day rhythm, queue waits that grow with the
partition's load, and jobs that fail, time out, are cancelled (also while
pending), run out of memory or lose their node; a quarter are notebook
sessions (job name ``jupyter-USER``), some of which leave their GPUs idle
(:func:`idle_periods`), and each project has a budget (:func:`budgets`). It is
synthetic, and says so
in nothing but its names (project-NNN, user-NNNN).
"""

from __future__ import annotations

import argparse
import math
import random
from datetime import UTC, datetime, timedelta

from aiworkbench.core.slurm import parse_tres

FORMAT = (
    "JobIDRaw",
    "User",
    "Account",
    "Partition",
    "Submit",
    "Start",
    "End",
    "State",
    "ExitCode",
    "AllocTRES",
    "ElapsedRaw",
    "TimelimitRaw",
    "Reason",
    "JobName",
)
DELIMITER = "\x1f"  # ASCII unit separator: no field, not even a job name, holds it
SESSION_PREFIX = "jupyter-"  # notebook sessions' job name: jupyter-USER (the spawner's)
STATES = (
    ("COMPLETED", 0.78),
    ("FAILED", 0.08),
    ("TIMEOUT", 0.05),
    ("CANCELLED", 0.06),
    ("OUT_OF_MEMORY", 0.02),
    ("NODE_FAIL", 0.01),
)
PENDING_REASONS = (
    "Priority",
    "Resources",
    "QOSMaxGRESPerUser",
    "AssocGrpGRESMinutes",
    "Dependency",
)
STAMP = "%Y-%m-%dT%H:%M:%S"


def _pick(rng: random.Random, weighted) -> str:
    value, total = rng.random(), 0.0
    for item, weight in weighted:
        total += weight
        if value < total:
            return item
    return weighted[-1][0]


def generate(
    jobs: int,
    seed: int = 1,
    projects: int = 200,
    users: int = 2000,
    start: datetime = datetime(2025, 1, 6, tzinfo=UTC),
    days: int = 365,
):
    """Yield ``jobs`` accounting records (dicts keyed by FORMAT), in submit order."""
    rng = random.Random(seed)
    # Project sizes follow a power law; each user belongs to one project.
    weights = [1 / (i + 1) ** 1.1 for i in range(projects)]
    owner = [rng.choices(range(projects), weights)[0] for _ in range(users)]
    active = [u for u in range(users)]
    user_weight = [weights[owner[u]] * rng.uniform(0.2, 1.0) for u in active]
    gpu_project = [rng.random() < 0.6 for _ in range(projects)]
    span = days * 86400
    step = span / jobs
    now = start.timestamp()
    for job in range(jobs):
        # A working-day rhythm: more submits by day and on weekdays.
        now += rng.expovariate(1 / step)
        moment = datetime.fromtimestamp(now, UTC)
        busy = (1.6 if 8 <= moment.hour < 19 else 0.5) * (0.4 if moment.weekday() >= 5 else 1)
        user = rng.choices(active, user_weight)[0]
        project = owner[user]
        gpu = gpu_project[project] and rng.random() < 0.7
        if gpu:
            gpus = rng.choices((1, 2, 4, 8), (0.55, 0.25, 0.12, 0.08))[0]
            cpus, partition = gpus * rng.choice((2, 4, 8)), "gpu"
        else:
            gpus, cpus, partition = (
                0,
                rng.choices((1, 2, 4, 8, 16, 32), (0.3, 0.25, 0.2, 0.12, 0.08, 0.05))[0],
                "cpu",
            )
        session = rng.random() < 0.25
        limit = (
            rng.choice((60, 120, 240, 480))
            if session
            else rng.choice((30, 60, 120, 240, 480, 720, 1440))
        )  # minutes
        state = _pick(rng, STATES)
        load = busy * (2.5 if partition == "gpu" else 1.0) * (1 + gpus / 4)
        wait = int(rng.lognormvariate(math.log(30 * load), 1.3))  # seconds
        submit = moment
        reason = rng.choice(PENDING_REASONS) if wait > 600 else "None"
        if state == "CANCELLED" and rng.random() < 0.3:  # cancelled while pending
            start_at, elapsed = None, 0
            end = submit + timedelta(seconds=wait)
        else:
            start_at = submit + timedelta(seconds=wait)
            if state == "TIMEOUT":
                elapsed = limit * 60
            else:
                elapsed = int(min(limit * 60, rng.lognormvariate(math.log(limit * 20), 1.0)))
                if state in ("FAILED", "NODE_FAIL", "OUT_OF_MEMORY"):
                    elapsed = max(1, elapsed // rng.randint(2, 20))
            end = start_at + timedelta(seconds=elapsed)
        tres = f"billing={cpus},cpu={cpus},mem={cpus * 4}G,node=1"
        if gpus:
            tres += f",gres/gpu={gpus}"
        exit_code = {
            "COMPLETED": "0:0",
            "FAILED": f"{rng.randint(1, 2)}:0",
            "TIMEOUT": "0:15",
            "CANCELLED": "0:15",
            "OUT_OF_MEMORY": "0:125",
            "NODE_FAIL": "0:0",
        }[state]
        yield {
            "JobIDRaw": str(1000 + job),
            "User": f"user-{user:04d}",
            "Account": f"project-{project:03d}",
            "Partition": partition,
            "Submit": submit.strftime(STAMP),
            "Start": start_at.strftime(STAMP) if start_at else "Unknown",
            "End": end.strftime(STAMP),
            "State": state,
            "ExitCode": exit_code,
            "AllocTRES": tres if start_at else "",
            "ElapsedRaw": str(elapsed),
            "TimelimitRaw": str(limit),
            "Reason": reason,
            "JobName": (
                f"{SESSION_PREFIX}user-{user:04d}"
                if session
                else rng.choice(("train", "prep", "eval", "finetune"))
            ),
        }


def idle_periods(records, seed: int = 1):
    """GPU sessions that left their GPUs idle: (job id, user, project, partition, gpus,
    idle since, idle until) for about 40% of the GPU notebook sessions, idle for their
    last 10-90% of their run."""
    rng = random.Random(seed)
    for r in records:
        gpus = parse_tres(r["AllocTRES"]).get("gres/gpu")
        if (
            not r["JobName"].startswith(SESSION_PREFIX)
            or r["Start"] == "Unknown"
            or gpus is None
            or rng.random() >= 0.4
        ):
            continue
        start, end = (datetime.strptime(r[k], STAMP) for k in ("Start", "End"))
        since = end - (end - start) * rng.uniform(0.1, 0.9)
        yield (int(r["JobIDRaw"]), r["User"], r["Account"], r["Partition"], gpus, since, end)


def budgets(records, seed: int = 1):
    """Each project's budget as Slurm would report it: (project, GPU-minutes limit,
    GPU-minutes used, core-minutes limit, core-minutes used); a few projects are over
    80% of their budget, most below."""
    rng = random.Random(seed)
    used: dict[str, list[float]] = {}
    for r in records:
        tres = parse_tres(r["AllocTRES"])
        minutes = int(r["ElapsedRaw"]) / 60
        totals = used.setdefault(r["Account"], [0.0, 0.0])
        totals[0] += minutes * tres.get("gres/gpu", 0)
        totals[1] += minutes * tres.get("cpu", 0)
    for project, (gpu, cpu) in sorted(used.items()):
        share = rng.uniform(1.02, 2.5)
        yield project, int(gpu * share), int(gpu), int(cpu * share), int(cpu)


def line(record: dict) -> str:
    """One record as sacct prints it."""
    return DELIMITER.join(record[k] for k in FORMAT) + "\n"


def write(path: str, jobs: int, seed: int = 1) -> int:
    with open(path, "w", encoding="utf-8") as out:
        for record in generate(jobs, seed):
            out.write(line(record))
    return jobs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aiworkbench.dashboards.history", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    print(write(args.out, args.jobs, args.seed), "jobs written to", args.out)


if __name__ == "__main__":
    main()
