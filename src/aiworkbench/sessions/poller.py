"""One Slurm reader for the whole hub.

Every session's state comes from one shared ``squeue`` per tick, whatever the
number of sessions: the controller's load does not grow with the class size.
The tick adapts: short while a session is starting (its queue position and the
moment it runs are shown live), long once every watched session runs (an ended
one is then noticed within the long tick). A controller that does not answer
makes every job *unknown* (never *gone*), so a slurmctld restart kills no session.

The hub makes its one :class:`SlurmPoller` where it starts and hands it to every
spawner (:mod:`aiworkbench.hub.shared`); making one queries nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiworkbench.core import slurm
from aiworkbench.core.slurm import QueuedJob, SlurmError

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
GONE = "gone"


class SlurmPoller:
    """Shared snapshot of the cluster's active jobs, refreshed while jobs are watched."""

    def __init__(self, interval: float, runner=slurm.run, steady_interval: float | None = None):
        """``interval``, ``steady_interval``: the short and long ticks (the site's
        hub.slurm_poll_interval and hub.slurm_steady_poll_interval)."""
        self.interval = interval  # while a session is starting
        self.steady_interval = max(steady_interval or interval, interval)  # none starting
        self._run = runner
        self.jobs: dict[str, QueuedJob] = {}
        self.snapshot = 0  # number of successful queries so far
        self.reachable = False  # whether the last query succeeded
        self.error = ""
        self.queries = 0  # squeue calls made (controller RPCs)
        self._watched: dict[str, int] = {}  # job id -> first snapshot that must show it
        self._starting: set[str] = set()  # watched jobs whose session is starting
        self._task: asyncio.Task | None = None
        self._poked = False
        self._wake = asyncio.Event()  # a poke, or a change of tick
        self._updated = asyncio.Condition()

    # --- what spawners use -------------------------------------------------
    def watch(self, job_id: str, *, query_now: bool = True, starting: bool = False) -> None:
        """Follow ``job_id``; it counts as gone only if a later snapshot misses it.

        If no job was followed, querying starts now, or one interval later with
        ``query_now=False`` (a new session: it usually reports its port before then,
        so an idle hub's spawn costs the controller only its sbatch). A ``starting``
        job keeps the short tick until :meth:`settle`."""
        self._watched.setdefault(job_id, self.snapshot + 1)
        if starting and job_id not in self._starting:
            self._starting.add(job_id)
            self._wake.set()  # a long wait in progress becomes a short one
        if self._task is None or self._task.done():
            first = 0.0 if query_now else self.interval
            self._task = asyncio.get_running_loop().create_task(self._loop(first))

    def settle(self, job_id: str) -> None:
        """``job_id``'s session has started: it no longer needs the short tick."""
        self._starting.discard(job_id)

    @property
    def tick(self) -> float:
        """Seconds between queries now: short while a session starts, else long."""
        return self.interval if self._starting else self.steady_interval

    @property
    def asked(self) -> bool:
        """Whether Slurm was queried yet (else every job is unknown for that reason)."""
        return self.queries > 0

    def unwatch(self, job_id: str) -> None:
        self._watched.pop(job_id, None)
        self._starting.discard(job_id)

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
        self._poked = True
        self._wake.set()

    async def wait_update(self, timeout: float) -> bool:
        """Wait for the next query (successful or not); False on timeout."""
        async with self._updated:
            try:
                await asyncio.wait_for(self._updated.wait(), timeout)
            except TimeoutError:
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
            await self._sleep(time.monotonic(), lambda: first_wait)
        while self._watched:
            started = time.monotonic()
            self._poked = False
            await self.refresh()
            await self._sleep(started, lambda: self.tick)

    async def _sleep(self, started: float, length) -> None:
        """Until ``length()`` seconds after ``started`` (re-read when the tick changes),
        or a poke."""
        while not self._poked and (wait := length() - (time.monotonic() - started)) > 0:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
