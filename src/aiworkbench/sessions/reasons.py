"""Slurm's job states and pending reasons, in words a notebook user understands."""

from __future__ import annotations

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


def end_reason(state: str, reason: str = "") -> str:
    """Plain words for how a session's job ended."""
    words = END_WORDS.get(state, f"the session's job ended ({state})")
    if state == "CANCELLED" and reason and reason != "None":
        words += f" ({reason})"
    return words
