"""The home page's session cards: one per session, in words, from the hub's own state.

A card says what the session is doing (queued, with Slurm's reason, its position,
its expected start and how long the hub will wait; starting; running, with the
walltime left; ended, with why), its job, project, partition, node, cores, memory
and GPUs (simulated ones labelled), their utilisation from the session's last GPU
report, what it costs so far and at most, and which buttons apply. Everything comes
from the spawner and the hub's shared poller: a card costs Slurm nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from aiworkbench.core import slurm
from aiworkbench.core.units import duration_text, hours_text
from aiworkbench.sessions.poller import GONE, UNKNOWN
from aiworkbench.sessions.reasons import expected_start, pending_reason


@dataclass
class Card:
    name: str  # the server's name; '' for the default session
    title: str
    state: str  # queued, starting, running, stopping, ended or new
    state_text: str
    job_id: str = ""
    details: list[tuple[str, str]] = field(default_factory=list)  # (label, value) rows
    ends_at: float | None = None  # epoch seconds of the walltime's end, while running
    ready: bool = False
    active: bool = False
    notice: str = ""  # the idle-GPU warning, if any
    has_log: bool = False  # a job ran or runs: its log can be read
    awaiting: bool = False  # Slurm's details come with the hub's next reading of the queue


def session_cards(user, now: float | None = None) -> list[Card]:
    """The cards of ``user``'s sessions (JupyterHub's User): active ones first, then
    those that ended with a reason; the default session always has one."""
    if user is None:
        return []
    now = time.time() if now is None else now
    # all_spawners() gives a stopped server the hub has not loaded since it started as
    # its database row: the spawner itself (loaded from that row) has its end reason.
    spawners = [
        s if hasattr(s, "ended_reason") else user.spawners[s.name] for s in user.all_spawners()
    ]
    cards = [
        card(spawner, now)
        for spawner in spawners
        if spawner.active or spawner.ended_reason or not spawner.name
    ]
    return sorted(cards, key=lambda c: (not c.active, c.name))


def card(spawner, now: float) -> Card:
    """One session's card (``spawner``: a WorkbenchSpawner)."""
    title = f"Session “{spawner.name}”" if spawner.name else "Default session"
    base = {
        "name": spawner.name,
        "title": title,
        "active": spawner.active,
        "ready": spawner.ready,
        "notice": spawner.gpu_notice if spawner.active else "",
        "has_log": bool(spawner.job_id or getattr(spawner, "last_job_id", "")),
    }
    if not spawner.active:
        if spawner.ended_reason:
            return Card(**base, state="ended", state_text=f"Ended: {spawner.ended_reason}.")
        return Card(**base, state="new", state_text="Not running.")
    request = requested(spawner)
    job_id = spawner.job_id or ""
    job = spawner.poller.status(job_id) if job_id else UNKNOWN
    details = request_details(request, spawner.known_gpu_kind) if request else []
    if spawner.pending == "stop":
        return Card(
            **base, state="stopping", state_text="Stopping…", job_id=job_id, details=details
        )
    if job not in (UNKNOWN, GONE) and job.running:
        started = job_started(job.start)
        # Slurm's time limit, which Extend raises; the request's until Slurm says.
        limit = job.limit_minutes or (request.hours * 60 if request else None)
        details = [
            ("Node", job.nodes),
            *(request_details(request, spawner.known_gpu_kind, limit) if request else []),
        ]
        ends_at = started + limit * 60 if started and limit else None
        if started and request:
            details.append(("Cost", spent_text(request, now - started)))
        if used := gpu_utilisation_text(spawner):
            details.append(("GPU utilisation", used))
        state = "running" if spawner.ready else "starting"
        text = f"Running on {job.nodes}" if spawner.ready else f"Starting JupyterLab on {job.nodes}"
        if started:
            text += f" since {datetime.fromtimestamp(started).strftime('%H:%M')}"
        return Card(
            **base,
            state=state,
            state_text=text + ".",
            job_id=job_id,
            details=details,
            ends_at=ends_at,
        )
    if job not in (UNKNOWN, GONE) and not spawner.ready:
        return Card(
            **base,
            state="queued",
            state_text=queued_text(spawner, job, request, now),
            job_id=job_id,
            details=details,
        )
    if spawner.ready:  # started since the hub's last reading of the queue (every 30 s)
        return Card(
            **base,
            state="running",
            job_id=job_id,
            details=details,
            awaiting=True,
            state_text="Running; its node and time left come with the hub's next "
            "reading of Slurm's queue.",
        )
    text = "Submitting to Slurm…" if not job_id else f"Job {job_id} submitted to Slurm."
    if job_id and spawner.poller.asked and not spawner.poller.reachable:
        text = f"Job {job_id}: Slurm's controller is not answering; the session is kept."
    return Card(**base, state="starting", state_text=text, job_id=job_id, details=details)


def requested(spawner):
    """The session's validated request (kept in memory, or parsed again from its
    stored options after a hub restart); None if they no longer pass."""
    if getattr(spawner, "request", None) is not None:
        return spawner.request
    try:
        return spawner.validated_request()
    except Exception:  # noqa: BLE001 (the site changed since: show what Slurm says)
        return None


def request_details(request, gpu_kind: str, minutes: int | None = None) -> list[tuple[str, str]]:
    """The session's resources, its walltime (``minutes``: Slurm's limit, else the
    request's hours) and what it costs at most in that time."""
    minutes = minutes or request.hours * 60
    gpus = "none"
    if request.gpus:
        gpus = f"{request.gpus}" + (" (simulated)" if gpu_kind == "simulated" else "")
    return [
        ("Project", request.project),
        ("Partition", request.partition),
        ("Cores", str(request.cpus)),
        ("Memory", f"{request.memory_gb} GB"),
        ("GPUs", gpus),
        ("Walltime", hours_text(minutes)),
        ("At most", f"{hours_cost(request, minutes / 60)} from {request.project}"),
    ]


def hours_cost(request, hours: float) -> str:
    """'3 GPU-h and 6 core-h' ('6 core-h' without GPUs) for ``hours`` of the session."""
    core = f"{request.cpus * hours:.3g} core-h"
    return f"{request.gpus * hours:.3g} GPU-h and {core}" if request.gpus else core


def spent_text(request, seconds: float) -> str:
    """What the session has cost so far: '0.4 GPU-h and 0.8 core-h so far'."""
    hours = max(seconds, 0) / 3600
    core = f"{request.cpus * hours:.1f} core-h"
    if request.gpus:
        return f"{request.gpus * hours:.1f} GPU-h and {core} so far"
    return f"{core} so far"


def gpu_utilisation_text(spawner) -> str:
    """'37% at 10:42' (one GPU) or '37% at 10:42 (60%, 14%)', from the session's last
    GPU report; '' where none came (no GPUs, or no report yet)."""
    tracker = getattr(spawner, "gpu_tracker", None)
    if tracker is None or not tracker.last_utilisation or tracker.last_report is None:
        return ""
    values = tracker.last_utilisation
    text = (
        f"{sum(values) / len(values):.0f}% at "
        f"{datetime.fromtimestamp(tracker.last_report).strftime('%H:%M')}"
    )
    if len(values) > 1:
        text += " (" + ", ".join(f"{v:.0f}%" for v in values) + ")"
    return text


def job_started(start: str) -> float | None:
    """A running job's start (squeue %S, local ISO time) in epoch seconds."""
    try:
        return datetime.fromisoformat(start).timestamp()
    except ValueError:
        return None


def queued_text(spawner, job, request, now: float) -> str:
    """'Queued on gpu: waiting for a free GPU; position 1 of 2; expected start about
    21:06; the hub waits until 17:40, then cancels it.'"""
    reason = pending_reason(job.reason, bool(request and request.gpus))
    text = f"Queued on {job.partition}: {reason}"
    position = slurm.queue_position(spawner.poller.jobs, job.job_id)
    if position:
        text += f"; position {position[0]} of {position[1]}"
    today = datetime.fromtimestamp(now)
    start = expected_start(job.start, today)
    if start:
        text += f"; expected start about {start}"
    if spawner.submitted_at:
        until = spawner.submitted_at + spawner.queue_timeout
        at = expected_start(datetime.fromtimestamp(until).isoformat(), today)
        text += (
            f"; the hub waits until {at} ({duration_text(max(until - now, 0))} from "
            f"now), then cancels it"
        )
    return text + "."
