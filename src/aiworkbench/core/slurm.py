"""Slurm for the workbench: its commands as argument lists, one parser per output
format ('|'-separated rows, durations, TRES strings), and its job states.

Commands run through :mod:`.commands`; :func:`run` is the hub's (async) and raises
:class:`SlurmError`. Read-only queries of everyone's jobs and usage (``squeue``,
``sacct``, ``sshare``) run as the Slurm reader (site ``slurm.reader``, AdminLevel
Operator: Slurm's PrivateData hides other users' jobs and usage from everyone else)
through sudo, which the sudoers rule allows for these three commands only; commands
that act for a user (``sbatch``, ``scancel``) run through sudo as that user, which the
sudoers rule allows and nothing else.

Standard library only: the notebook side (batch jobs, Dask workers, the dashboards'
ingestion) reads Slurm with the same parsers and states.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aiworkbench.core import commands
from aiworkbench.core.commands import CommandError
from aiworkbench.core.daemons import DAEMONS

# Job states as squeue and sacct name them: one list each.
PENDING_STATES = ("PENDING", "CONFIGURING", "REQUEUED")
RUNNING_STATES = ("RUNNING", "COMPLETING", "SUSPENDED", "RESIZING")
ENDED_STATES = (
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
)
ACTIVE_STATES = ",".join(PENDING_STATES + RUNNING_STATES)  # for squeue --states=

# The poller's query (squeue_argv): one line per job, fields separated by '|' (no field
# of these contains '|'), read into QueuedJob.
QUEUE_FIELDS = (
    "job_id",
    "user",
    "partition",
    "state",
    "reason",
    "nodes",
    "start",
    "priority",
    "time_limit",
)
QUEUE_FORMAT = "%i|%u|%P|%T|%r|%N|%S|%Q|%l"


# What the services may run as the Slurm reader, by name (the sudoers rule's list).
READER_COMMANDS = {Path(path).name: path for path in DAEMONS["slurm_reader_commands"]}
# The environment of those commands: nothing of the service's (its API token) goes along.
READER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def as_reader(argv: list[str], reader: str) -> list[str]:
    """``argv`` (a read-only query) with the reader's sight: through sudo as ``reader``;
    as it is when ``reader`` is empty (root, or a cluster without PrivateData)."""
    if not reader:
        return list(argv)
    if argv[0] not in READER_COMMANDS:
        raise ValueError(
            f"{argv[0]!r} is not run as the Slurm reader; only {', '.join(READER_COMMANDS)} are"
        )
    return [
        "sudo",
        "--non-interactive",
        "--user",
        reader,
        "--",
        READER_COMMANDS[argv[0]],
        *argv[1:],
    ]


def reader_run(reader: str, runner=None):
    """``runner`` for read-only queries, as the Slurm reader ``reader``: by default
    :func:`run` (the hub's, async); the dashboards' ingestion gives a synchronous one
    (:func:`commands.run`)."""
    runner = runner or run

    def run_as_reader(argv: list[str], **kwargs):
        if reader:
            kwargs.setdefault("env", READER_ENV)
        return runner(as_reader(argv, reader), **kwargs)

    return run_as_reader


class SlurmError(CommandError):
    """A Slurm command failed or did not answer in time (its message says which). When
    Slurm said why, the message is Slurm's own words (``sbatch: error: Batch job
    submission failed: ...``), which the hub shows users as they are."""

    @staticmethod
    def exit_message(argv, returncode: int, stderr: str) -> str:
        return commands.said(stderr) or f"{commands.command_name(argv)} exited {returncode}"


async def run(
    argv: list[str], *, input: str | None = None, env: dict | None = None, timeout: float = 60
) -> str:
    """Run ``argv`` (no shell) in the hub's event loop; return stdout, or raise
    :class:`SlurmError`."""
    return await commands.run_async(argv, input=input, env=env, timeout=timeout, error=SlurmError)


async def test_only(argv: list[str], timeout: float = 30) -> str | None:
    """When Slurm would start the job ``argv`` (an ``sbatch --test-only`` command line,
    perhaps behind sudo) submits nothing: its expected start (ISO time), or None when
    Slurm names none."""
    said = await commands.run_async(
        argv, input="", timeout=timeout, error=SlurmError, merge_stderr=True
    )
    return parse_test_only(said)


# --- parsers: one per format ------------------------------------------------------------


def split_rows(text: str, width: int) -> list[list[str]]:
    """The lines of Slurm's '|'-separated output that have ``width`` fields, each field
    stripped: ``squeue --format=%i|%T``, ``squeue --Format=JobID:|,...`` (each field
    closed by a '|'), ``sacct`` and ``sshare --parsable2``. Other lines are left out."""
    rows = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == width + 1 and not fields[-1]:
            fields.pop()  # --Format's closing '|'
        if len(fields) == width:
            rows.append(fields)
    return rows


def parse_duration(text: str) -> int | None:
    """Slurm's ``[D-][[H:]M:]S`` as seconds; None for UNLIMITED, NOT_SET, N/A or garbage."""
    text = text.strip()
    days = 0
    if "-" in text:
        head, _, text = text.partition("-")
        if not head.isdigit():
            return None
        days = int(head)
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return days * 86400 + seconds


def parse_tres(text: str) -> dict[str, int]:
    """``cpu=2,mem=4G,gres/gpu=1`` -> {"cpu": 2, "gres/gpu": 1} (numbers only)."""
    out = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if value.isdigit():
            out[name.strip()] = int(value)
    return out


@dataclass(frozen=True)
class QueuedJob:
    """One job as ``squeue`` shows it."""

    job_id: str
    user: str
    partition: str
    state: str
    reason: str
    nodes: str
    start: str  # expected start for pending jobs, actual start for running ones (ISO time)
    priority: int
    time_limit: str = ""  # [days-]hours:minutes:seconds, or UNLIMITED

    @property
    def limit_minutes(self) -> int | None:
        return limit_minutes(self.time_limit)

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES


_LIMIT = re.compile(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d\d)")


def limit_minutes(text: str) -> int | None:
    """A Slurm time limit ("1:30:00", "2-00:00:00", "45:00") in whole minutes; None when
    unlimited or not a time."""
    match = _LIMIT.fullmatch(text.strip())
    if not match:
        return None
    days, hours, minutes, _seconds = (int(g or 0) for g in match.groups())
    return days * 1440 + hours * 60 + minutes


_TEST_ONLY = re.compile(r"to start at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")


def parse_test_only(text: str) -> str | None:
    """The start in "sbatch: Job 17 to start at 2026-12-03T15:46:39 using 2 processors on
    nodes vm in partition gpu"; None when there is none."""
    match = _TEST_ONLY.search(text)
    return match[1] if match else None


CAPACITY_FIELDS = ("NodeList", "Partition", "CPUsState", "Gres", "GresUsed", "StateCompact")


def sinfo_capacity_argv() -> list[str]:
    """Every node of every partition with its cores (allocated/idle/other/total), its
    GPUs and those in use, and its state: one controller RPC."""
    return [
        "sinfo",
        "--noheader",
        "--Node",
        "--Format=" + ",".join(f"{name}:|" for name in CAPACITY_FIELDS),
    ]


def squeue_argv() -> list[str]:
    """One query for every active job of the cluster (one controller RPC)."""
    return [
        "squeue",
        "--all",
        "--noheader",
        f"--states={ACTIVE_STATES}",
        f"--format={QUEUE_FORMAT}",
    ]


def parse_squeue(text: str) -> dict[str, QueuedJob]:
    jobs = {}
    for fields in split_rows(text, len(QUEUE_FIELDS)):
        values = dict(zip(QUEUE_FIELDS, fields))
        values["priority"] = int(values["priority"]) if values["priority"].isdigit() else 0
        jobs[values["job_id"]] = QueuedJob(**values)
    return jobs


def queue_position(jobs: dict[str, QueuedJob], job_id: str) -> tuple[int, int] | None:
    """(position, pending jobs) of a pending job in its partition, by priority then age."""
    job = jobs.get(job_id)
    if job is None or not job.pending:
        return None
    queue = sorted(
        (j for j in jobs.values() if j.pending and j.partition == job.partition),
        key=lambda j: (-j.priority, int(j.job_id) if j.job_id.isdigit() else 0),
    )
    return [j.job_id for j in queue].index(job_id) + 1, len(queue)


def sacct_argv(job_id: str) -> list[str]:
    return [
        "sacct",
        "--noheader",
        "--parsable2",
        "--allocations",
        f"--jobs={job_id}",
        "--format=JobID,State,Reason,ExitCode,NodeList",
    ]


@dataclass(frozen=True)
class FinishedJob:
    job_id: str
    state: str  # e.g. COMPLETED, TIMEOUT, CANCELLED, NODE_FAIL, FAILED, OUT_OF_MEMORY
    reason: str
    exit_code: str
    nodes: str
    cancelled_by: str = ""  # the uid sacct names in "CANCELLED by UID"


def parse_sacct(text: str, job_id: str) -> FinishedJob | None:
    for fields in split_rows(text, 5):
        if fields[0] == job_id:
            words = fields[1].split()
            state = words[0] if words else "UNKNOWN"
            by = words[2] if len(words) == 3 and words[1] == "by" else ""
            return FinishedJob(job_id, state, fields[2], fields[3], fields[4], by)
    return None
