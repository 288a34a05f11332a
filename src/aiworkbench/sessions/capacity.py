"""What the cluster has free now, and when Slurm would start a request: for the form.

The free cores and GPUs of every partition, and which GPUs they are (simulated or
NVIDIA), come from one ``sinfo`` per interval, shared by every form the hub renders
(:class:`CapacityReader`, one per hub, handed to its spawners by
:mod:`aiworkbench.hub.shared`); when a request would start comes from ``sbatch
--test-only`` (nothing is submitted), asked as the user and kept for an interval for
every request of the same shape, so that a class opening the form at once costs
Slurm one question per shape.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiworkbench.core import slurm
from aiworkbench.sessions.reasons import expected_start

# Nodes in these states take no new job (sinfo's compact state, '*': not responding).
UNAVAILABLE = (
    "down",
    "drain",
    "drng",
    "fail",
    "failg",
    "maint",
    "boot",
    "futr",
    "inval",
    "pow_dn",
    "npc",
    "unk",
    "resv",
)


@dataclass
class PartitionFree:
    cores_free: int = 0
    cores: int = 0
    gpus_free: int = 0
    gpus: int = 0
    nodes_up: int = 0
    nodes: int = 0

    def text(self, gpu_label: str = "", gpus: bool = True) -> str:
        """'free now: 3 of 4 GPUs (simulated), 28 of 32 cores' or 'no node is up'
        (``gpus``: whether the partition offers GPUs at all)."""
        if not self.nodes_up:
            return "no node is up"
        cores = f"{self.cores_free} of {self.cores} cores"
        if self.gpus and gpus:
            label = f" ({gpu_label})" if gpu_label else ""
            return f"free now: {self.gpus_free} of {self.gpus} GPUs{label}, {cores}"
        return f"free now: {cores}"


def gpu_count(gres: str) -> int:
    """GPUs in a sinfo GRES field: 'gpu:simulated:4', 'gpu:a100:2(S:0-1),gpu:1',
    'gpu:simulated:1(IDX:0)'; 0 for '(null)'."""
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def gpu_kind_of(text: str) -> str:
    """Which GPUs ``sinfo_capacity_argv``'s answer shows in its nodes' GRES: 'simulated'
    (gpu:simulated:N, the demo's), 'nvidia' (any other gpu), '' (no GPU)."""
    gres = [fields[3] for fields in slurm.split_rows(text, len(slurm.CAPACITY_FIELDS))]
    if any("gpu:simulated" in g for g in gres):
        return "simulated"
    return "nvidia" if any("gpu:" in g for g in gres) else ""


def parse_capacity(text: str) -> dict[str, PartitionFree]:
    """``sinfo_capacity_argv``'s answer, by partition (a node in two partitions counts
    in each)."""
    free: dict[str, PartitionFree] = {}
    for node, partition, cpus, gres, used, state in slurm.split_rows(
        text, len(slurm.CAPACITY_FIELDS)
    ):
        counts = cpus.split("/")
        if not node or len(counts) != 4 or not all(c.isdigit() for c in counts):
            continue
        part = free.setdefault(partition.rstrip("*"), PartitionFree())
        _allocated, idle, _other, total = map(int, counts)
        part.nodes += 1
        part.cores += total
        gpus = gpu_count(gres)
        part.gpus += gpus
        if state.rstrip("*~#!%$@^-") in UNAVAILABLE or state.endswith("*"):
            continue
        part.nodes_up += 1
        part.cores_free += idle
        part.gpus_free += max(gpus - gpu_count(used), 0)
    return free


def test_only_argv(request) -> list[str]:
    """``sbatch --test-only`` for a SessionRequest: its shape, nothing to run."""
    argv = [
        "sbatch",
        "--test-only",
        f"--account={request.project}",
        f"--partition={request.partition}",
        f"--cpus-per-task={request.cpus}",
        f"--mem={request.memory_gb}G",
        f"--time={request.hours}:00:00",
    ]
    if request.gpus:
        argv.append(f"--gres=gpu:{request.gpus}")
    return [*argv, "--wrap=true"]


class CapacityReader:
    """Free capacity at most ``interval`` seconds old, and expected starts by request
    shape, each read at most once per interval whatever the number of readers."""

    def __init__(self, interval: float, run=slurm.run, test_only=slurm.test_only, clock=time.time):
        """``interval``: seconds an answer is kept (the site's hub.accounting_refresh)."""
        self.interval, self._run, self._test_only, self._clock = interval, run, test_only, clock
        self._free: tuple[float, dict[str, PartitionFree]] | None = None
        self._starts: dict[tuple, tuple[float, str | None]] = {}
        # Which GPUs the last answer showed (gpu_kind_of); None before one came.
        self.gpu_kind: str | None = None
        self._lock = asyncio.Lock()
        self.reads = 0  # Slurm questions asked (for tests and benchmarks)

    async def free(self) -> dict[str, PartitionFree]:
        async with self._lock:
            if self._free is None or self._clock() - self._free[0] >= self.interval:
                self.reads += 1
                text = await self._run(slurm.sinfo_capacity_argv())
                self._free = (self._clock(), parse_capacity(text))
                self.gpu_kind = gpu_kind_of(text)
            return self._free[1]

    async def expected_start(self, request, as_user) -> str | None:
        """When Slurm would start ``request`` (ISO time; None: it says nothing), asked
        through ``as_user`` (a function: argv -> argv as the requesting user)."""
        shape = (
            request.project,
            request.partition,
            request.cpus,
            request.memory_gb,
            request.gpus,
            request.hours,
        )
        async with self._lock:
            known = self._starts.get(shape)
            if known is None or self._clock() - known[0] >= self.interval:
                self.reads += 1
                self._starts[shape] = (
                    self._clock(),
                    await self._test_only(as_user(test_only_argv(request))),
                )
            return self._starts[shape][1]


def outlook_text(start, free: dict[str, PartitionFree], now: datetime) -> str:
    """The form's queue line for ``start`` (a SessionRequest and Slurm's expected start,
    or None): 'Slurm would start it now', or when, and which partition has room now."""
    if start is None:
        return ""
    request, when = start
    shape = (
        (f"{request.gpus} GPU{'s' if request.gpus != 1 else ''}, " if request.gpus else "")
        + f"{request.cpus} core{'s' if request.cpus != 1 else ''} for "
        f"{request.hours} h on {request.partition}"
    )
    if when is None:
        return f"For {shape}: Slurm gives no start time now."
    at = datetime.fromisoformat(when)
    if at <= now + timedelta(minutes=2):
        return f"For {shape}: Slurm would start it now."
    text = f"For {shape}: Slurm expects it to start at about {expected_start(when, now)}"
    roomy = [
        name
        for name, part in free.items()
        if name != request.partition
        and part.cores_free >= request.cpus
        and (not request.gpus or part.gpus_free)
    ]
    if roomy:
        text += f"; {', '.join(roomy)} has room now"
    return text + "."
