"""Work a notebook sends to Slurm beyond its own session (Dask workers, batch jobs),
checked before Slurm sees it: the partition must be open to the project, the job's
size within that partition's limits for the project, and the project's remaining
budget must pay for at least one such job. A refusal says what is allowed.

The rules come from the workbench API (``projects/PROJECT/partitions`` and
``budgets/PROJECT``), the same ones the session form applies; Slurm still enforces
the budget (``GrpTRESMins``, ``safe``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from aiworkbench.core import commands, names
from aiworkbench.core.slurm import parse_duration
from aiworkbench.widgets.api_client import WorkbenchAPIError, api_get


class WorkRefused(ValueError):
    """The request does not fit the project's partitions or budget (the message says
    what is allowed)."""


@dataclass(frozen=True)
class WorkRequest:
    """``jobs`` jobs of ``nodes`` nodes, each node with ``cpus`` cores and ``gpus`` GPUs,
    for at most ``minutes`` minutes, on ``partition``, charged to ``project``."""

    project: str
    partition: str
    cpus: int
    gpus: int
    minutes: int
    nodes: int = 1
    jobs: int = 1

    def cost(self, kind: str) -> int:
        """Minutes of ``kind`` ('cpu' or 'gpu') one job may use: what Slurm holds."""
        per_node = self.cpus if kind == "cpu" else self.gpus
        return per_node * self.nodes * self.minutes


def session_project(environ=None) -> str | None:
    """The project the running session is charged to (its Slurm account)."""
    env = os.environ if environ is None else environ
    return env.get("SLURM_JOB_ACCOUNT") or None


def session_partition(environ=None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("SLURM_JOB_PARTITION") or None


def session_minutes_left(environ=None, run=commands.run) -> int | None:
    """Minutes the running session has left (squeue), or None outside a session.
    ``run``: how commands run (:func:`aiworkbench.core.commands.run`)."""
    env = os.environ if environ is None else environ
    job = env.get("SLURM_JOB_ID", "")
    if not job.isdigit() or not shutil.which("squeue"):
        return None
    out = commands.output(
        ["squeue", "--noheader", "--jobs", job, "--format=%L"], run=run, timeout=30
    )
    return parse_time_left(out)


def parse_time_left(text: str) -> int | None:
    """squeue's time left ([D-]HH:MM:SS, MM:SS, UNLIMITED) in whole minutes, to the
    nearest."""
    seconds = parse_duration(text)
    return None if seconds is None else (seconds + 30) // 60


def _limits_text(partitions: dict) -> str:
    return (
        "; ".join(
            f"{name} (up to {p['max_cpus']} cores"
            + (f", {p['min_gpus']}-{p['max_gpus']} GPUs" if p["max_gpus"] else ", no GPUs")
            + f", {p['max_hours']} h)"
            for name, p in partitions.items()
        )
        or "none"
    )


def affordable(request: WorkRequest, fetch=api_get) -> int:
    """How many of ``request``'s jobs the project may run now (at most ``request.jobs``);
    :class:`WorkRefused` if the request breaks a rule or not even one job fits the
    budget."""
    for name, value, low in (
        ("cpus", request.cpus, 1),
        ("gpus", request.gpus, 0),
        ("minutes", request.minutes, 1),
        ("nodes", request.nodes, 1),
        ("jobs", request.jobs, 1),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise WorkRefused(f"{name} must be a whole number of at least {low}, got {value!r}")
    # Both go into the API's paths and #SBATCH lines.
    for rule, value in ((names.PROJECT, request.project), (names.PARTITION, request.partition)):
        if not rule.ok(value):
            raise WorkRefused(rule.refusal(value))
    try:
        policy = fetch(f"projects/{request.project}/partitions")
    except WorkbenchAPIError as err:
        raise WorkRefused(f"cannot check project {request.project!r}: {err}") from None
    partitions = policy.get("partitions", {})
    part = partitions.get(request.partition)
    if part is None:
        raise WorkRefused(
            f"partition {request.partition!r} is not open to project "
            f"{request.project}; it may use: {_limits_text(partitions)}"
        )
    where = f"on {request.partition} for project {request.project}"
    if request.cpus > part["max_cpus"]:
        raise WorkRefused(
            f"{request.cpus} cores per node is more than the {part['max_cpus']} allowed {where}"
        )
    if not part["min_gpus"] <= request.gpus <= part["max_gpus"]:
        allowed = f"{part['min_gpus']} to {part['max_gpus']}" if part["max_gpus"] else "0"
        raise WorkRefused(f"{request.gpus} GPUs per node is not allowed {where}: {allowed}")
    if request.minutes > part["max_hours"] * 60:
        raise WorkRefused(
            f"{request.minutes} minutes is more than the {part['max_hours']} h allowed {where}"
        )
    try:
        [budget] = fetch(f"budgets/{request.project}")["projects"]
    except (WorkbenchAPIError, KeyError, ValueError) as err:
        raise WorkRefused(f"cannot read project {request.project}'s budget: {err}") from None
    count = request.jobs
    for kind, words in (("cpu", "core-minutes"), ("gpu", "GPU-minutes")):
        cost, usage = request.cost(kind), budget.get(kind, {})
        available = usage.get("available_minutes")
        if not cost or available is None:  # free of this kind, or no limit in Slurm
            continue
        if available < cost:
            raise WorkRefused(
                f"one job needs {cost} {words} ({request.nodes} node(s) x "
                f"{request.cpus if kind == 'cpu' else request.gpus} x {request.minutes} min) "
                f"but project {request.project} has {available} available (limit "
                f"{usage.get('limit_minutes')}, used {usage.get('used_minutes')}, held by "
                f"running jobs {usage.get('held_minutes')}); ask for less or fewer minutes"
            )
        count = min(count, available // cost)
    return count
