"""What this notebook session is: its Slurm job, node, partition, project, GPUs."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class SessionInfo:
    job_id: str | None
    node: str | None
    partition: str | None
    project: str | None
    cpus: int | None
    gpus: tuple[str, ...]
    gpu_kind: str  # "nvidia", "simulated" or "none"

    def __str__(self) -> str:
        if not self.job_id:
            return "Not running as a Slurm job."
        gpus = f"{len(self.gpus)} {self.gpu_kind} GPU(s)" if self.gpus else "no GPU"
        return (f"Slurm job {self.job_id} on {self.node} (partition {self.partition}, "
                f"project {self.project}): {self.cpus} CPU(s), {gpus}")


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
    return SessionInfo(
        job_id=env.get("SLURM_JOB_ID"),
        node=env.get("SLURMD_NODENAME"),
        partition=env.get("SLURM_JOB_PARTITION"),
        project=env.get("SLURM_JOB_ACCOUNT"),
        cpus=int(cpus) if cpus and cpus.isdigit() else None,
        gpus=gpus,
        gpu_kind=_gpu_kind(gpus),
    )
