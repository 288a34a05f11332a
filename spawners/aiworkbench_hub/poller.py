"""One Slurm reader for the whole hub.

Every session's state comes from one shared ``squeue`` per tick, whatever the
number of sessions: the controller's load does not grow with the class size.
A controller that does not answer makes every job *unknown* (never *gone*), so
a slurmctld restart kills no session.
"""

from __future__ import annotations

import asyncio
import logging
import time

from . import slurm
from .slurm import QueuedJob, SlurmError

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
GONE = "gone"


class SlurmPoller:
    """Shared snapshot of the cluster's active jobs, refreshed while jobs are watched."""

    def __init__(self, interval: float = 5.0, runner=slurm.run):
        self.interval = interval
        self._run = runner
        self.jobs: dict[str, QueuedJob] = {}
        self.snapshot = 0  # number of successful queries so far
        self.reachable = False  # whether the last query succeeded
        self.error = ""
        self.queries = 0  # squeue calls made (controller RPCs)
        self._watched: dict[str, int] = {}  # job id -> first snapshot that must show it
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._updated = asyncio.Condition()

    # --- what spawners use -------------------------------------------------
    def watch(self, job_id: str, *, query_now: bool = True) -> None:
        """Follow ``job_id``; it counts as gone only if a later snapshot misses it.

        If no job was followed, querying starts now, or one interval later with
        ``query_now=False`` (a new session: it usually reports its port before then,
        so an idle hub's spawn costs the controller only its sbatch)."""
        self._watched.setdefault(job_id, self.snapshot + 1)
        if self._task is None or self._task.done():
            first = 0.0 if query_now else self.interval
            self._task = asyncio.get_running_loop().create_task(self._loop(first))

    @property
    def asked(self) -> bool:
        """Whether Slurm was queried yet (else every job is unknown for that reason)."""
        return self.queries > 0

    def unwatch(self, job_id: str) -> None:
        self._watched.pop(job_id, None)

    def status(self, job_id: str) -> QueuedJob | str:
        """The job as last seen, ``GONE`` once a snapshot after watching misses it, or
        ``UNKNOWN`` while Slurm's controller does not answer (or has not yet)."""
        if job_id in self.jobs and self.reachable:
            return self.jobs[job_id]
        if not self.reachable or self.snapshot < self._watched.get(job_id, self.snapshot + 1):
            return UNKNOWN
        return GONE

    def poke(self) -> None:
        """Query soon instead of at the next tick (after a submit or cancel)."""
        self._wake.set()

    async def wait_update(self, timeout: float) -> bool:
        """Wait for the next query (successful or not); False on timeout."""
        async with self._updated:
            try:
                await asyncio.wait_for(self._updated.wait(), timeout)
            except asyncio.TimeoutError:
                return False
        return True

    # --- the single reader ---------------------------------------------------
    async def refresh(self) -> None:
        self.queries += 1
        try:
            out = await self._run(slurm.squeue_argv(), timeout=max(10.0, self.interval * 4))
        except (SlurmError, OSError) as err:
            if self.reachable:
                log.warning("Slurm did not answer; sessions are unknown, not gone: %s", err)
            self.reachable = False
            self.error = str(err)
        else:
            self.jobs = slurm.parse_squeue(out)
            self.snapshot += 1
            self.reachable = True
            self.error = ""
        async with self._updated:
            self._updated.notify_all()

    async def _loop(self, first_wait: float = 0.0) -> None:
        if first_wait:
            try:
                await asyncio.wait_for(self._wake.wait(), first_wait)
            except asyncio.TimeoutError:
                pass
        while self._watched:
            started = time.monotonic()
            self._wake.clear()
            await self.refresh()
            wait = max(0.0, self.interval - (time.monotonic() - started))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass


_pollers: dict[int, SlurmPoller] = {}


def hub_poller(interval: float) -> SlurmPoller:
    """The hub's single poller (one per event loop)."""
    key = id(asyncio.get_running_loop())
    if key not in _pollers:
        _pollers[key] = SlurmPoller(interval)
    return _pollers[key]
