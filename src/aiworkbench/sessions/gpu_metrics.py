"""GPU utilisation, measured in the session and reported to the hub.

``aiworkbench-singleuser`` runs :func:`report_gpu_activity` in a thread when its
session holds GPUs. The source is pluggable: NVML where GPUs are real, a file
per job where they are simulated (tests, the demo box). The hub judges the
reports (:mod:`aiworkbench.sessions.gpu_idle`). Light imports only: this runs in
every GPU session's start.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import requests

REPORT_PATH = "aiworkbench/gpu-activity"


class MetricsSource:
    """Utilisation (percent, one per GPU of this job) now, or None when unknown."""

    name = "none"

    def sample(self) -> list[float] | None:
        return None


class SimulatedSource(MetricsSource):
    """Simulated GPUs: percentages written (whitespace-separated) to ``DIR/<job id>``
    by whoever plays the workload (tests, demos). No file: nothing is known."""

    name = "simulated"

    def __init__(self, directory: str, job_id: str):
        self.path = os.path.join(directory, job_id)

    def sample(self) -> list[float] | None:
        try:
            with open(self.path) as f:
                values = [float(v) for v in f.read().split()]
        except (OSError, ValueError):
            return None
        return [min(max(v, 0.0), 100.0) for v in values] or None


class NvmlSource(MetricsSource):
    """Real NVIDIA GPUs through NVML (``nvidia-ml-py``): the devices of this job."""

    name = "nvml"

    def __init__(self, indices: list[int]):
        import pynvml  # noqa: PLC0415 (only where GPUs are real)

        pynvml.nvmlInit()
        self._nvml = pynvml
        count = pynvml.nvmlDeviceGetCount()
        self._handles = [
            pynvml.nvmlDeviceGetHandleByIndex(i) for i in (indices or range(count)) if i < count
        ]

    def sample(self) -> list[float] | None:
        try:
            return [
                float(self._nvml.nvmlDeviceGetUtilizationRates(h).gpu) for h in self._handles
            ] or None
        except self._nvml.NVMLError:
            return None


def source_from_env(environ=os.environ) -> MetricsSource:
    """The source named by ``AIWORKBENCH_GPU_METRICS``: ``nvml``, ``simulated:DIR`` or
    nothing (no GPUs in this session, or nothing to measure them with)."""
    spec = environ.get("AIWORKBENCH_GPU_METRICS", "")
    job_id = environ.get("SLURM_JOB_ID", "")
    if spec.startswith("simulated:") and job_id.isdigit():
        return SimulatedSource(spec.split(":", 1)[1], job_id)
    if spec == "nvml":
        indices = [int(i) for i in environ.get("SLURM_JOB_GPUS", "").split(",") if i.isdigit()]
        try:
            return NvmlSource(indices)
        except Exception as err:  # no driver, no library: say so once, measure nothing
            print(
                f"aiworkbench-singleuser: NVML unavailable ({err}); GPU idle time is not measured",
                file=sys.stderr,
            )
    return MetricsSource()


# The hub's last answer to this session's reports: its idle-GPU warning, if any, and
# when it came (the session's status bar shows it: aiworkbench.jobserver.status).
_LATEST = {"notice": "", "at": 0.0}


def latest_notice(max_age: float, now: float | None = None) -> str:
    """The hub's idle-GPU warning of its last answer, if that came within ``max_age``
    seconds; '' otherwise."""
    now = time.time() if now is None else now
    return _LATEST["notice"] if now - _LATEST["at"] <= max_age else ""


def report_gpu_activity(
    source: MetricsSource, interval: float, stop: threading.Event | None = None
) -> None:
    """Every ``interval`` seconds, report the source's sample to the hub (the loop of
    the session's reporting thread) until ``stop`` is set; the hub's warnings go to
    the session log."""
    url = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/" + REPORT_PATH
    headers = {"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"}
    stop = stop or threading.Event()
    said = ""
    while not stop.wait(interval):
        sample = source.sample()
        if sample is None:
            continue
        try:
            response = requests.post(url, json={"utilisation": sample}, headers=headers, timeout=30)
            notice = response.json().get("notice", "") if response.ok else response.text
            if response.ok:
                _LATEST.update(notice=notice, at=time.time())
        except (requests.RequestException, ValueError) as err:
            notice = f"reporting GPU utilisation failed: {err}"
        if notice and notice != said:
            print(f"aiworkbench-singleuser: {notice}", file=sys.stderr)
        said = notice
