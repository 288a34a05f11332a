"""Slurm's job states and pending reasons, in words a notebook user understands."""

from __future__ import annotations

import pwd
from datetime import datetime

from aiworkbench.core.units import duration_text

# One text for the CPU-minutes budget reasons below.
CPU_BUDGET_EXHAUSTED = "project budget exhausted: not enough CPU-hours left for this request"

PENDING_REASONS = {
    "Resources": "waiting for free resources on the partition",
    "Priority": "waiting behind jobs with higher priority",
    "None": "about to be scheduled",
    "BeginTime": "waiting for its start time",
    "Dependency": "waiting for another job to finish",
    "JobHeldUser": "held by you",
    "JobHeldAdmin": "held by an administrator",
    "ReqNodeNotAvail": "the nodes it needs are not available (maintenance or failure)",
    "NodeDown": "a node it needs is down",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "PartitionTimeLimit": "the requested hours exceed the partition's limit",
    "PartitionNodeLimit": "the request exceeds the partition's node limit",
    "AssocGrpGRESMinutes": "project budget exhausted: not enough GPU-hours left for this request",
    "AssocGrpCPUMinutesLimit": CPU_BUDGET_EXHAUSTED,
    "AssocGrpCpuMinutes": CPU_BUDGET_EXHAUSTED,
    "AssocGrpCPUMinutes": CPU_BUDGET_EXHAUSTED,
    "AssocGrpBillingMinutes": "project budget exhausted",
    "AssocGrpGRES": "the project is using all the GPUs it may use at once",
    "AssocGrpCpuLimit": "the project is using all the CPUs it may use at once",
    "AssocGrpJobsLimit": "the project is running as many jobs as it may",
    "AssocMaxJobsLimit": "you are running as many jobs as you may",
    "QOSMaxGRESPerUser": "you are using all the GPUs you may use at once",
    "InvalidAccount": "the project is not valid for you; ask an admin",
    "InvalidQOS": "the quality of service is not valid for you; ask an admin",
}

GPU_RESOURCE_HINT = "waiting for a free GPU"

# How a session's job ended, by its end state (slurm.ENDED_STATES, every one of them).
END_WORDS = {
    "COMPLETED": "the session ended",
    "TIMEOUT": "the session reached its time limit",
    "CANCELLED": "the session's job was cancelled",
    "NODE_FAIL": "the node running the session failed",
    "FAILED": "the session's job failed",
    "OUT_OF_MEMORY": "the session ran out of memory",
    "PREEMPTED": "the session was preempted by higher-priority work",
    "BOOT_FAIL": "the node could not boot for the session",
    "DEADLINE": "the session reached its deadline",
}


def pending_reason(reason: str, wants_gpus: bool = False) -> str:
    """Plain words for a Slurm pending reason (the code itself if it is not known)."""
    if reason == "Resources" and wants_gpus:
        return GPU_RESOURCE_HINT
    return PENDING_REASONS.get(reason, f"waiting ({reason})")


def end_reason(
    state: str,
    reason: str = "",
    exit_code: str = "",
    cancelled_by: str = "",
    owner_uid: int | None = None,
) -> str:
    """Plain words for how a session's job ended: who cancelled it (``cancelled_by``, the
    uid sacct names; ``owner_uid``: the session's user) and a failed job's exit code."""
    words = END_WORDS.get(state, f"the session's job ended ({state})")
    if state == "CANCELLED":
        who = _canceller(cancelled_by, owner_uid)
        if who:
            words = words.replace("was cancelled", f"was cancelled by {who}")
        if reason and reason != "None":
            words += f" ({reason})"
    code, _, signal = exit_code.partition(":")
    if state == "FAILED" and code not in ("", "0"):
        words += f" (exit code {code})"
    elif state == "FAILED" and signal not in ("", "0"):
        words += f" (killed by signal {signal})"
    return words


def _canceller(uid: str, owner_uid: int | None) -> str:
    if not uid.isdigit():
        return ""
    if owner_uid is not None and int(uid) == owner_uid:
        return "you"
    if int(uid) == 0:
        return "an administrator"
    try:
        return f"user {pwd.getpwuid(int(uid)).pw_name}"
    except KeyError:
        return f"user {uid}"


def queue_gave_up(
    waited_s: float, job_id: str, reason: str, start: str, suggestions: list[str]
) -> str:
    """Why a queued session was given up, and what to try: "was still queued after 2 h
    (waiting for a free GPU), so job 4 was cancelled; Slurm expected it to start at about
    21:06. Try the cpu partition, fewer GPUs, or later"."""
    words = (
        f"was still queued after {duration_text(waited_s)} ({reason}), so job {job_id} "
        f"was cancelled"
    )
    if start:
        words += f"; Slurm expected it to start at about {start}"
    tries = [*suggestions, "later"]
    listed = tries[0] if len(tries) == 1 else f"{', '.join(tries[:-1])}, or {tries[-1]}"
    return f"{words}. Try {listed}"


def expected_start(start: str, now: datetime) -> str:
    """Slurm's expected start (``squeue`` %S, ISO) as "21:06", or "5 Dec 21:06" on another
    day; empty when Slurm gives none."""
    try:
        when = datetime.fromisoformat(start)
    except ValueError:
        return ""
    if when.date() == now.date():
        return when.strftime("%H:%M")
    return f"{when.day} {when.strftime('%b %H:%M')}"


BUDGET_REASONS = (
    "AssocGrpGRESMinutes",
    "AssocGrpCPUMinutesLimit",
    "AssocGrpCpuMinutes",
    "AssocGrpCPUMinutes",
    "AssocGrpBillingMinutes",
)


def sooner(site, request, reason: str, user: str) -> list[str]:
    """What would start sooner than ``user``'s ``request`` (a SessionRequest), queued
    for Slurm pending ``reason``: another of their projects, or more budget, when the
    budget holds it back; else a partition without GPUs, fewer GPUs, a smaller preset,
    fewer hours."""
    if request is None:
        return []
    if reason in BUDGET_REASONS:
        others = [p for p in site.projects_of(user) if p != request.project]
        tries = [f"project {', '.join(others)}"] if others else []
        return [*tries, "asking for more budget for project " + request.project]
    tries = []
    usable = site.usable_partitions(request.project)
    if request.gpus:
        tries += [
            f"the {name} partition (no GPUs)"
            for name, lim in usable.items()
            if name != request.partition and lim.min_gpus == 0 and not site.partitions[name].gpus
        ]
        if request.gpus > 1:
            tries.append("fewer GPUs")
    lim = usable.get(request.partition)
    if lim is not None:
        smaller = [p for p in lim.presets if site.presets[p].cpus < request.cpus]
        if smaller:
            tries.append("a smaller preset")
    if request.hours > 1:
        tries.append("fewer hours")
    return tries
