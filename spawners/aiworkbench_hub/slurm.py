"""Slurm access for the hub: commands as argument lists, and parsers of their output.

Read-only queries of everyone's jobs and usage (``squeue``, ``sacct``, ``sshare``) run
as the Slurm reader (site ``slurm.reader``, AdminLevel Operator: Slurm's PrivateData
hides other users' jobs and usage from everyone else) through sudo, which the sudoers
rule allows for these three commands only; commands that act for a user (``sbatch``,
``scancel``) run through sudo as that user, which the sudoers rule allows and nothing
else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from .daemons import DAEMONS

# One line per job, fields separated by '|' (no field of these contains '|').
SQUEUE_FIELDS = ("job_id", "user", "partition", "state", "reason", "nodes", "start", "priority")
SQUEUE_FORMAT = "%i|%u|%P|%T|%r|%N|%S|%Q"
ACTIVE_STATES = "PENDING,CONFIGURING,RUNNING,COMPLETING,SUSPENDED,REQUEUED,RESIZING"
PENDING_STATES = {"PENDING", "CONFIGURING", "REQUEUED"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "SUSPENDED", "RESIZING"}


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
        raise ValueError(f"{argv[0]!r} is not run as the Slurm reader; only "
                         f"{', '.join(READER_COMMANDS)} are")
    return ["sudo", "--non-interactive", "--user", reader, "--",
            READER_COMMANDS[argv[0]], *argv[1:]]


def reader_run(reader: str):
    """:func:`run` for read-only queries, as the Slurm reader ``reader``."""
    async def run_as_reader(argv: list[str], **kwargs) -> str:
        if reader:
            kwargs.setdefault("env", READER_ENV)
        return await run(as_reader(argv, reader), **kwargs)
    return run_as_reader


class SlurmError(RuntimeError):
    """A Slurm command failed or did not answer in time (its message says which)."""


async def run(argv: list[str], *, input: str | None = None, env: dict | None = None,
              timeout: float = 60) -> str:
    """Run ``argv`` (no shell); return stdout, or raise :class:`SlurmError`."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SlurmError(f"{argv[0]} did not answer within {timeout:.0f}s") from None
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip() or f"{argv[0]} exited {proc.returncode}"
        raise SlurmError(message)
    return out.decode(errors="replace")


@dataclass(frozen=True)
class QueuedJob:
    """One job as ``squeue`` shows it."""

    job_id: str
    user: str
    partition: str
    state: str
    reason: str
    nodes: str
    start: str  # expected start for pending jobs (ISO time), or "N/A"
    priority: int

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES


def squeue_argv() -> list[str]:
    """One query for every active job of the cluster (one controller RPC)."""
    return ["squeue", "--all", "--noheader", f"--states={ACTIVE_STATES}",
            f"--format={SQUEUE_FORMAT}"]


def parse_squeue(text: str) -> dict[str, QueuedJob]:
    jobs = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != len(SQUEUE_FIELDS):
            continue
        values = dict(zip(SQUEUE_FIELDS, fields))
        values["priority"] = int(values["priority"]) if values["priority"].isdigit() else 0
        jobs[values["job_id"]] = QueuedJob(**values)
    return jobs


def queue_position(jobs: dict[str, QueuedJob], job_id: str) -> tuple[int, int] | None:
    """(position, pending jobs) of a pending job in its partition, by priority then age."""
    job = jobs.get(job_id)
    if job is None or not job.pending:
        return None
    queue = sorted((j for j in jobs.values() if j.pending and j.partition == job.partition),
                   key=lambda j: (-j.priority, int(j.job_id) if j.job_id.isdigit() else 0))
    return [j.job_id for j in queue].index(job_id) + 1, len(queue)


def sacct_argv(job_id: str) -> list[str]:
    return ["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={job_id}",
            "--format=JobID,State,Reason,ExitCode,NodeList"]


@dataclass(frozen=True)
class FinishedJob:
    job_id: str
    state: str  # e.g. COMPLETED, TIMEOUT, CANCELLED, NODE_FAIL, FAILED, OUT_OF_MEMORY
    reason: str
    exit_code: str
    nodes: str


def parse_sacct(text: str, job_id: str) -> FinishedJob | None:
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) == 5 and fields[0] == job_id:
            state = fields[1].split()[0] if fields[1] else "UNKNOWN"
            return FinishedJob(job_id, state, fields[2], fields[3], fields[4])
    return None
