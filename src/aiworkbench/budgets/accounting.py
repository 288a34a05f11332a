"""Project budgets from Slurm accounting, read once per refresh for everybody.

Slurm is the source of truth: a project is an account with ``GrpTRESMins``
(``cpu`` and ``gres/gpu`` minutes), usage never decays. One refresh runs one
``sshare`` (limits, usage per project and per user, minutes held by running
jobs) and one ``squeue`` (running jobs: what they hold, how long they have run,
how long they have left). :class:`AccountingReader` caches the result for a
refresh interval and shares one refresh among all concurrent callers, so the
number of accounting queries does not grow with the number of users. Each process
that reads budgets makes one reader where it starts and hands it to whatever needs
it: the workbench API through its tornado settings (:mod:`aiworkbench.api.app`), the
hub through its own (:mod:`aiworkbench.hub.shared`).

Minutes are Slurm's TRES-minutes: a GPU held for an hour is 60 GPU-minutes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiworkbench.core import slurm

TRES = {"gpu": "gres/gpu", "cpu": "cpu"}  # budget kind -> Slurm TRES name
UNIT = {"gpu": "GPU-h", "cpu": "core-h"}
# The RBAC scope that lets managers and admins read every project's budget.
READ_ALL = "custom:workbench:budgets:read-all"
WARN_AT = 0.80  # share of a budget used from which users are warned
CRITICAL_AT = 0.95

SSHARE_FIELDS = ("Account", "User", "GrpTRESMins", "GrpTRESRaw", "TRESRunMins")
# The running jobs' query (squeue_running_argv), read into RunningJob; the poller's
# query of every active job is slurm.QUEUE_FIELDS.
RUNNING_FIELDS = ("JobID", "UserName", "Account", "Partition", "tres-alloc", "TimeUsed", "TimeLeft")


def sshare_argv() -> list[str]:
    """Limits and usage of every project and user (one controller RPC)."""
    return [
        "sshare",
        "--all",
        "--long",
        "--noheader",
        "--parsable2",
        f"--format={','.join(SSHARE_FIELDS)}",
    ]


def squeue_running_argv() -> list[str]:
    """Every running job with what it holds and its times (one query)."""
    return [
        "squeue",
        "--all",
        "--noheader",
        f"--states={','.join(slurm.RUNNING_STATES)}",
        "--Format=" + ",".join(f"{name}:|" for name in RUNNING_FIELDS),
    ]


@dataclass(frozen=True)
class Usage:
    """One budget (GPU or CPU minutes) of one project."""

    limit: int | None  # minutes; None: no limit set in Slurm
    used: int  # minutes used so far, running jobs included up to the last calculation
    held: int = 0  # minutes running jobs may still use (their time left)

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)

    @property
    def available(self) -> int | None:
        """Minutes a new job may ask for: what is left minus what running jobs hold
        (Slurm's ``safe`` enforcement starts a job only if its whole request fits)."""
        return None if self.limit is None else max(self.limit - self.used - self.held, 0)

    @property
    def fraction(self) -> float | None:
        if not self.limit:
            return None
        return self.used / self.limit

    @property
    def level(self) -> str:
        """'none' (no such budget), 'unlimited', 'ok', 'warning' (80%), 'critical' (95%)
        or 'exhausted'."""
        if self.limit is None:
            return "unlimited"
        if self.limit == 0:
            return "none"
        if self.used >= self.limit:
            return "exhausted"
        if self.used >= CRITICAL_AT * self.limit:
            return "critical"
        return "warning" if self.used >= WARN_AT * self.limit else "ok"

    def to_json(self) -> dict:
        return {
            "limit_minutes": self.limit,
            "used_minutes": self.used,
            "held_minutes": self.held,
            "left_minutes": self.left,
            "available_minutes": self.available,
            "used_fraction": None if self.fraction is None else round(self.fraction, 4),
            "level": self.level,
        }


@dataclass(frozen=True)
class RunningJob:
    """A running job: what it holds and for how long."""

    job_id: str
    user: str
    project: str
    partition: str
    cpus: int
    gpus: int
    elapsed_s: int
    time_left_s: int | None  # None: no time limit

    def minutes(self, kind: str) -> float:
        """Minutes of ``kind`` ('gpu' or 'cpu') this job has used so far."""
        return self.count(kind) * self.elapsed_s / 60

    def count(self, kind: str) -> int:
        return self.gpus if kind == "gpu" else self.cpus

    def to_json(self) -> dict:
        return {
            "job_id": self.job_id,
            "user": self.user,
            "project": self.project,
            "partition": self.partition,
            "cpus": self.cpus,
            "gpus": self.gpus,
            "elapsed_s": self.elapsed_s,
            "time_left_s": self.time_left_s,
            "gpu_minutes": round(self.minutes("gpu"), 2),
            "cpu_minutes": round(self.minutes("cpu"), 2),
        }


@dataclass(frozen=True)
class ProjectBudget:
    """A project's GPU and CPU budgets, its users' usage and its running jobs."""

    project: str
    budgets: dict[str, Usage]  # "gpu", "cpu"
    user_used: dict[str, dict[str, int]] = field(default_factory=dict)  # user -> kind -> min
    jobs: tuple[RunningJob, ...] = ()

    @property
    def level(self) -> str:
        """The worst level of the project's budgets."""
        order = ("none", "unlimited", "ok", "warning", "critical", "exhausted")
        return max((u.level for u in self.budgets.values()), key=order.index, default="ok")

    def burn(self, kind: str) -> int:
        """GPUs or cores the project's running jobs hold now (minutes used per minute)."""
        return sum(job.count(kind) for job in self.jobs)

    def to_json(self, user: str | None = None) -> dict:
        """The budget as the API serves it; ``user``: whose usage and jobs to include
        (None: every user's)."""
        users = self.user_used if user is None else {user: self.user_used.get(user, {})}
        jobs = [j for j in self.jobs if user is None or j.user == user]
        return {
            "project": self.project,
            "level": self.level,
            **{
                kind: {**usage.to_json(), "in_use": self.burn(kind)}
                for kind, usage in self.budgets.items()
            },
            "users": {
                name: {f"{k}_minutes": v for k, v in used.items()}
                for name, used in sorted(users.items())
            },
            "jobs": [j.to_json() for j in jobs],
        }


def parse_sshare(text: str) -> dict[str, ProjectBudget]:
    """Projects (accounts other than root) from ``sshare`` output (see sshare_argv)."""
    limits, used, held, users = {}, {}, {}, {}
    for fields in slurm.split_rows(text, len(SSHARE_FIELDS)):
        if not fields[0] or fields[0] == "root":
            continue
        account, user, grp_mins, raw, run_mins = fields
        raw_tres = slurm.parse_tres(raw)
        if user:
            users.setdefault(account, {})[user] = {
                kind: raw_tres.get(tres, 0) for kind, tres in TRES.items()
            }
            continue
        limits[account] = slurm.parse_tres(grp_mins)
        used[account], held[account] = raw_tres, slurm.parse_tres(run_mins)
    return {
        account: ProjectBudget(
            project=account,
            budgets={
                kind: Usage(
                    limit=limits[account].get(tres),
                    used=used[account].get(tres, 0),
                    held=held[account].get(tres, 0),
                )
                for kind, tres in TRES.items()
            },
            user_used=users.get(account, {}),
        )
        for account in limits
    }


def parse_running(text: str) -> list[RunningJob]:
    jobs = []
    for fields in slurm.split_rows(text, len(RUNNING_FIELDS)):
        if not fields[0]:
            continue
        job_id, user, account, partition, tres, used, left = fields
        counts = slurm.parse_tres(tres)
        jobs.append(
            RunningJob(
                job_id=job_id,
                user=user,
                project=account,
                partition=partition,
                cpus=counts.get("cpu", 0),
                gpus=counts.get("gres/gpu", 0),
                elapsed_s=slurm.parse_duration(used) or 0,
                time_left_s=slurm.parse_duration(left),
            )
        )
    return jobs


@dataclass(frozen=True)
class Snapshot:
    """Every project's budget at one moment, or why it could not be read."""

    taken_at: float  # time.time() of the query
    projects: dict[str, ProjectBudget]
    error: str = ""  # set when the last refresh failed (projects: the last good ones)

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.taken_at


def build_snapshot(sshare_text: str, squeue_text: str, taken_at: float) -> Snapshot:
    projects = parse_sshare(sshare_text)
    jobs: dict[str, list[RunningJob]] = {}
    for job in parse_running(squeue_text):
        jobs.setdefault(job.project, []).append(job)
    return Snapshot(
        taken_at,
        {
            name: ProjectBudget(p.project, p.budgets, p.user_used, tuple(jobs.get(name, ())))
            for name, p in projects.items()
        },
    )


class AccountingReader:
    """Cached budgets: at most one refresh (one ``sshare`` and one ``squeue``) per
    ``interval`` seconds, however many callers ask; concurrent callers share it.
    When Slurm does not answer, the last good numbers are kept with ``error`` set,
    and the next attempt waits an interval too."""

    def __init__(self, interval: float, run=slurm.run, timeout: float = 30.0, clock=time.time):
        """``interval``: seconds between refreshes (the site's hub.accounting_refresh)."""
        self.interval = interval
        self.timeout = timeout
        self._run = run
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._error = ""
        self._attempted_at: float | None = None
        self._refresh: asyncio.Task | None = None
        self.refreshes = 0  # accounting queries made (for tests and benchmarks)

    def cached(self) -> Snapshot | None:
        """The last snapshot without waiting; starts a refresh if it is due."""
        if self._due():
            self._start_refresh()
        return self._snapshot

    async def snapshot(self) -> Snapshot:
        """A snapshot at most ``interval`` old, or the last one with ``error`` set when
        Slurm did not answer. Raises :class:`slurm.SlurmError` if none was ever read."""
        if self._due():
            await asyncio.shield(self._start_refresh())
        elif self._refresh is not None and not self._refresh.done():
            await asyncio.shield(self._refresh)
        if self._snapshot is None:
            raise slurm.SlurmError(self._error or "Slurm accounting has not answered yet")
        return self._snapshot

    async def wait_refresh(self) -> None:
        """Until the refresh under way, if any, has ended (a process that stops waits
        for it, so that no query outlives it)."""
        if self._refresh is not None and not self._refresh.done():
            await asyncio.shield(self._refresh)

    def _due(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self.interval

    def _start_refresh(self) -> asyncio.Task:
        if self._refresh is None or self._refresh.done():
            self._attempted_at = self._clock()
            self._refresh = asyncio.ensure_future(self._read())
        return self._refresh

    async def _read(self) -> None:
        self.refreshes += 1
        taken_at = self._clock()
        try:
            shares, running = await asyncio.gather(
                self._run(sshare_argv(), timeout=self.timeout),
                self._run(squeue_running_argv(), timeout=self.timeout),
            )
        except (slurm.SlurmError, OSError) as err:
            self._error = str(err)
            if self._snapshot is not None:
                self._snapshot = Snapshot(
                    self._snapshot.taken_at, self._snapshot.projects, self._error
                )
            return
        self._error = ""
        self._snapshot = build_snapshot(shares, running, taken_at)


def hours(minutes: float | None) -> str:
    """Minutes as hours with one decimal (``'no limit'`` for None)."""
    return "no limit" if minutes is None else f"{minutes / 60:.1f}"


def refusal(budget: ProjectBudget, needs: dict[str, int]) -> str | None:
    """Why a request needing ``needs`` minutes ({"gpu": m, "cpu": m}) does not fit the
    project's budget, with the numbers of every kind that falls short ("needs 3.0 GPU-h,
    project p has 2.0 GPU-h left, and 6.0 core-h, it has 1.0 core-h left"); None if it
    fits."""
    short = []
    for kind in ("gpu", "cpu"):
        usage = budget.budgets.get(kind)
        want = needs.get(kind, 0)
        if not want or usage is None or usage.available is None or want <= usage.available:
            continue
        who = f"project {budget.project}" if not short else "it"
        text = f"{hours(want)} {UNIT[kind]}, {who} has {hours(usage.available)} {UNIT[kind]} left"
        if usage.held and usage.left:
            text += (
                f" ({hours(min(usage.held, usage.left))} {UNIT[kind]} of its "
                f"{hours(usage.left)} are held by running jobs)"
            )
        short.append(text)
    return f"needs {', and '.join(short)}" if short else None


def warnings_for(snapshot: Snapshot | None, projects: list[str]) -> list[dict]:
    """Budget warnings (80%, 95%, exhausted) of ``projects``, for the home page:
    [{"project", "kind", "level", "text"}]."""
    out = []
    if snapshot is None:
        return out
    for name in projects:
        budget = snapshot.projects.get(name)
        for kind, usage in budget.budgets.items() if budget else ():
            if usage.level not in ("warning", "critical", "exhausted"):
                continue
            what = "GPU" if kind == "gpu" else "CPU"
            text = (
                f"Project {name} has used {usage.fraction:.0%} of its {what} budget: "
                f"{hours(usage.left)} of {hours(usage.limit)} {UNIT[kind]} left"
            )
            if usage.level == "exhausted":
                text = (
                    f"Project {name} has used all of its {what} budget "
                    f"({hours(usage.limit)} {UNIT[kind]}); new {what} sessions cannot start"
                )
            out.append({"project": name, "kind": kind, "level": usage.level, "text": text})
    return out
