"""What this notebook session is: its Slurm job, node, partition, project, cores,
memory, GPUs and, shown in a notebook, the time it has left (from the workbench API:
Slurm 22.05 gives jobs no end time in their environment)."""

from __future__ import annotations

import glob
import os
import time
import urllib.parse
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SessionInfo:
    job_id: str | None
    node: str | None
    partition: str | None
    project: str | None
    cpus: int | None
    gpus: tuple[str, ...]
    gpu_kind: str  # "nvidia", "simulated" or "none"
    memory_mb: int | None = None
    fetch: object = field(default=None, repr=False, compare=False)  # api_get, for tests

    def time_left(self) -> int | None:
        """Seconds this session has left, as the workbench API last read Slurm; None
        when it cannot say (not a workbench session, the API does not answer)."""
        if not self.job_id or not self.project:
            return None
        fetch = self.fetch
        if fetch is None:
            from aiworkbench.widgets.api_client import api_get as fetch
        try:
            answer = fetch(f"budgets/{urllib.parse.quote(self.project, safe='')}", timeout=5)
        except Exception:  # noqa: BLE001 (the card says it does not know)
            return None
        for project in answer.get("projects", []) if isinstance(answer, dict) else []:
            for job in project.get("jobs", []):
                if job.get("job_id") == self.job_id and job.get("time_left_s") is not None:
                    return int(job["time_left_s"])
        return None

    def _repr_html_(self) -> str:
        from aiworkbench.core.units import hours_text
        from aiworkbench.widgets.templating import render

        if not self.job_id:
            return render("session_card.html", rows=[], note=str(self))
        gpus = "none"
        if self.gpus:
            label = " (simulated)" if self.gpu_kind == "simulated" else ""
            gpus = f"{len(self.gpus)}{label}"
        left = self.time_left()
        ends = "" if left is None else time.strftime("%H:%M", time.localtime(time.time() + left))
        rows = [
            ("Job", self.job_id),
            ("Node", self.node),
            ("Partition", self.partition),
            ("Project", self.project),
            ("Cores", self.cpus),
            # Slurm counts memory in MiB; the form asked for G (GiB), shown as "GB".
            ("Memory", f"{self.memory_mb / 1024:g} GB" if self.memory_mb else "—"),
            ("GPUs", gpus),
            (
                "Time left",
                "unknown: see the status bar"
                if left is None
                else f"{hours_text(left // 60)} (until {ends})",
            ),
        ]
        return render("session_card.html", rows=rows, note="")

    def __str__(self) -> str:
        if not self.job_id:
            return "Not running as a Slurm job."
        gpus = f"{len(self.gpus)} {self.gpu_kind} GPU(s)" if self.gpus else "no GPU"
        return (
            f"Slurm job {self.job_id} on {self.node} (partition {self.partition}, "
            f"project {self.project}): {self.cpus} CPU(s), {gpus}"
        )


def _gpu_kind(gpus: tuple[str, ...]) -> str:
    if not gpus:
        return "none"
    return "nvidia" if glob.glob("/dev/nvidia[0-9]*") else "simulated"


def session_info(environ: dict[str, str] | None = None) -> SessionInfo:
    """Describe the current session from its Slurm environment."""
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES", "")
    gpus = tuple(g for g in visible.split(",") if g)
    cpus = env.get("SLURM_CPUS_PER_TASK") or env.get("SLURM_CPUS_ON_NODE")
    memory = env.get("SLURM_MEM_PER_NODE", "")
    return SessionInfo(
        job_id=env.get("SLURM_JOB_ID"),
        node=env.get("SLURMD_NODENAME"),
        partition=env.get("SLURM_JOB_PARTITION"),
        project=env.get("SLURM_JOB_ACCOUNT"),
        cpus=int(cpus) if cpus and cpus.isdigit() else None,
        gpus=gpus,
        gpu_kind=_gpu_kind(gpus),
        memory_mb=int(memory) if memory.isdigit() else None,
    )
