"""From notebook to batch job: submit a training script to Slurm, follow it, cancel it.

    import aiworkbench
    job = aiworkbench.submit_batch("train.py", "--epochs", "3", nodes=2,
                                   gpus_per_node=4, torchrun=True, minutes=60)
    job            # in a notebook: its state, elapsed time and log, live; Cancel button
    job.wait()     # until it ends; job.state, job.exit_code, job.log()

The job is charged to the session's project on the session's partition unless told
otherwise, and checked first like every job a notebook sends (:mod:`.slurm_work`):
partition open to the project, size within its limits, budget enough. With
``torchrun=True`` the script runs under ``torchrun`` started by ``srun`` on every
node (one torchrun per node, ``processes_per_node`` processes each, rendezvous on
the first node), so torch's DDP sees ``nodes x processes_per_node`` ranks. The
script's arguments are passed quoted, never through a shell unquoted; the job
script is built from validated values only.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from aiworkbench.core import commands, names
from aiworkbench.core.commands import CommandError
from aiworkbench.core.slurm import ENDED_STATES, split_rows
from aiworkbench.scaleout.slurm_work import (
    WorkRefused,
    WorkRequest,
    affordable,
    session_partition,
    session_project,
)
from aiworkbench.widgets.base import Shown
from aiworkbench.widgets.templating import render

JOB_NAME = "aiwb-batch"
SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+-]+")  # goes into #SBATCH lines (fullmatch)
# torchrun's rendezvous port on the head node: base + job id mod span, so that two jobs
# sharing a head node (the cpu partition shares nodes) never meet on one port
RDZV_PORT_BASE, RDZV_PORT_SPAN = 20000, 10000


@dataclass(frozen=True)
class BatchSpec:
    """A validated batch job: what :func:`job_script` renders."""

    script: Path
    args: tuple[str, ...]
    project: str
    partition: str
    nodes: int
    cpus_per_node: int
    gpus_per_node: int
    minutes: int
    memory_gb: int
    torchrun: bool
    processes_per_node: int
    name: str
    log: Path
    python: str

    def request(self) -> WorkRequest:
        return WorkRequest(
            project=self.project,
            partition=self.partition,
            cpus=self.cpus_per_node,
            gpus=self.gpus_per_node,
            minutes=self.minutes,
            nodes=self.nodes,
        )


def job_script(spec: BatchSpec) -> str:
    """The batch script: #SBATCH lines from validated numbers and names, the program's
    arguments quoted."""
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={JOB_NAME}-{spec.name}",
        f"#SBATCH --account={spec.project}",
        f"#SBATCH --partition={spec.partition}",
        f"#SBATCH --nodes={spec.nodes}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --cpus-per-task={spec.cpus_per_node}",
        f"#SBATCH --mem={spec.memory_gb}G",
        f"#SBATCH --time={spec.minutes}",
        f"#SBATCH --output={spec.log}",
        f"#SBATCH --chdir={spec.script.parent}",
    ]
    if spec.gpus_per_node:
        lines.append(f"#SBATCH --gres=gpu:{spec.gpus_per_node}")
    lines += [
        "set -euo pipefail",
        'echo "job $SLURM_JOB_ID on $SLURM_JOB_NODELIST ($SLURM_NNODES node(s))"',
    ]
    program = " ".join(q(a) for a in (str(spec.script), *spec.args))
    if spec.torchrun:
        torchrun = str(Path(spec.python).parent / "torchrun")
        lines += [
            'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            f"port=$(( {RDZV_PORT_BASE} + SLURM_JOB_ID % {RDZV_PORT_SPAN} ))",
            # Each node's processes listen on its interface towards the head.
            f"srun --kill-on-bad-exit=1 {q(spec.python)} "
            f'-m aiworkbench.scaleout.netif "$head" '
            f'{q(torchrun)} --nnodes="$SLURM_NNODES" '
            f"--nproc-per-node={spec.processes_per_node} --rdzv-backend=c10d "
            '--rdzv-endpoint="$head:$port" --rdzv-id="$SLURM_JOB_ID" '
            f"{program}",
        ]
    else:
        lines.append(f"srun --kill-on-bad-exit=1 {q(spec.python)} {program}")
    return "\n".join(lines) + "\n"


def _count(name: str, value, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise WorkRefused(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def prepare(
    script,
    *args,
    nodes: int = 1,
    cpus_per_node: int = 2,
    gpus_per_node: int = 0,
    minutes: int = 30,
    memory_gb: int = 4,
    torchrun: bool = False,
    processes_per_node: int | None = None,
    partition: str | None = None,
    project: str | None = None,
    name: str | None = None,
    environ=None,
) -> BatchSpec:
    """Validate a batch request into a :class:`BatchSpec` (no Slurm, no API)."""
    env = os.environ if environ is None else environ
    path = Path(script).expanduser().resolve()
    if not path.is_file():
        raise WorkRefused(f"no script {str(script)!r}: give the path of a file to run")
    if not SAFE_PATH.fullmatch(str(path)):
        raise WorkRefused(
            f"the script's path {str(path)!r} holds characters a batch script "
            f"cannot carry; use letters, digits, '/', '.', '_', '+' and '-'"
        )
    if not all(isinstance(a, str) and "\x00" not in a for a in args):
        raise WorkRefused("the script's arguments must be text, e.g. '--epochs', '3'")
    project = project or session_project(env)
    partition = partition or session_partition(env)
    if not project or not partition:
        raise WorkRefused(
            "no project or partition: run this in a workbench session, or "
            "give project= and partition="
        )
    name = name or path.stem
    if not names.BATCH_JOB.ok(name):
        raise WorkRefused(names.BATCH_JOB.refusal(name))
    per_node = processes_per_node if processes_per_node is not None else max(gpus_per_node, 1)
    return BatchSpec(
        script=path,
        args=tuple(args),
        project=project,
        partition=partition,
        nodes=_count("nodes", nodes, 1, 64),
        cpus_per_node=_count("cpus_per_node", cpus_per_node, 1, 4096),
        gpus_per_node=_count("gpus_per_node", gpus_per_node, 0, 64),
        minutes=_count("minutes", minutes, 1, 7 * 24 * 60),
        memory_gb=_count("memory_gb", memory_gb, 1, 4096),
        torchrun=bool(torchrun),
        processes_per_node=_count("processes_per_node", per_node, 1, 64),
        name=name,
        log=path.parent / f"{name}-%j.log",
        python=sys.executable,
    )


def submit_batch(script, *args, check=affordable, run=commands.run, **options) -> BatchJob:
    """Check and submit ``script`` (with ``args``) as a batch job; its :class:`BatchJob`.
    Options: see :func:`prepare`. ``run``: how commands run (:func:`commands.run`)."""
    spec = prepare(script, *args, **options)
    check(spec.request())
    try:
        out = run(["sbatch", "--parsable"], input=job_script(spec), timeout=60)
    except CommandError as err:
        if not err.exited:
            raise
        raise WorkRefused(f"Slurm refused the job: {err.stderr.strip()[:500]}") from None
    job_id = out.strip().split(";")[0]
    return BatchJob(job_id, Path(str(spec.log).replace("%j", job_id)), spec, run=run)


def _exit_code(text: str) -> int | None:
    """The exit status in Slurm's ``status:signal`` (e.g. ``0:0``); None when not given."""
    code = text.split(":")[0]
    return int(code) if code.isdigit() else None


class BatchJob(Shown):
    """A submitted job: ``state``, ``exit_code``, ``log()``, ``cancel()``, ``wait()``; in a
    notebook, a live view of its state and log with a Cancel button."""

    def __init__(self, job_id: str, log: Path, spec: BatchSpec | None = None, run=commands.run):
        self.job_id, self.log_path, self.spec, self._run = job_id, log, spec, run
        self.state, self.exit_code, self.elapsed, self.reason = "PENDING", None, "", ""
        self._widget = None

    def __repr__(self) -> str:
        return f"<batch job {self.job_id}: {self.state}{self._exit_text()}>"

    def _exit_text(self) -> str:
        return f", exit code {self.exit_code}" if self.exit_code is not None else ""

    def refresh(self) -> str:
        """Read the job's state from Slurm: squeue while queued or running; once it ended,
        scontrol while the controller still holds it (its exit code), then sacct."""
        rows = split_rows(
            self._ask(["squeue", "--noheader", "--jobs", self.job_id, "--format=%T|%M|%r"]), 3
        )
        if rows:
            self.state, self.elapsed, self.reason = rows[0]
            if self.state not in ENDED_STATES or self._read_controller():
                return self.state
        self._read_accounting()
        return self.state

    def _ask(self, argv: list[str]) -> str:
        """Run a Slurm command about this job; its output, also when it exits non-zero
        (squeue and scontrol do for a job they no longer hold, scancel for one that
        ended)."""
        return commands.output(argv, run=self._run, timeout=30)

    def _read_controller(self) -> bool:
        """The ended job's state and exit code from ``scontrol show job``; False when the
        controller no longer knows it."""
        out = self._ask(["scontrol", "show", "job", "--oneliner", self.job_id])
        fields = dict(re.findall(r"(?:^|\s)(JobState|ExitCode|RunTime)=(\S+)", out))
        if "JobState" not in fields or "ExitCode" not in fields:
            return False
        self.state, self.elapsed = fields["JobState"], fields.get("RunTime", self.elapsed)
        self.exit_code = _exit_code(fields["ExitCode"])
        return True

    def _read_accounting(self) -> None:
        rows = split_rows(
            self._ask(
                [
                    "sacct",
                    "--noheader",
                    "--parsable2",
                    "--allocations",
                    "--jobs",
                    self.job_id,
                    "--format=State,ExitCode,Elapsed",
                ]
            ),
            3,
        )
        if rows:
            state, code, elapsed = rows[0]
            self.state, self.elapsed, self.reason = state.split(" ")[0], elapsed, ""
            self.exit_code = _exit_code(code)

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES

    def log(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the job's output (empty until it starts)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(f.tell() - 256 * 1024, 0))
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cancel(self) -> None:
        self._ask(["scancel", self.job_id])  # a job that ended meanwhile: nothing to cancel
        self.refresh()

    def wait(self, timeout: float = 3600, every: float = 2.0) -> str:
        """Wait until the job ends (or ``timeout`` seconds); its final state."""
        deadline = time.monotonic() + timeout
        while self.refresh() not in ENDED_STATES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.job_id} still {self.state} after {timeout:.0f} s")
            time.sleep(every)
        return self.state

    def close(self) -> None:
        """Stop following the job and close its view (the job itself keeps running)."""
        FOLLOWER.unfollow(self)
        if self._widget is not None:
            super().close()

    # --- the live view ----------------------------------------------------------------
    @property
    def widget(self):
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self):
        import ipywidgets as w

        self._status = w.HTML()
        self._log = w.Textarea(layout={"width": "100%", "height": "220px"}, disabled=True)
        self._cancel = w.Button(description="Cancel job", button_style="danger", icon="stop")
        self._cancel.on_click(lambda _b: self.cancel() or self._render())
        box = w.VBox([self._status, self._log, self._cancel])
        box.add_class("aiwb-batch")
        self.refresh()
        self._render()
        if not self.ended:
            FOLLOWER.follow(self)
        return box

    def status_html(self) -> str:
        """The job's state, Slurm's reason, exit code and elapsed time (batch_status.html)."""
        return render(
            "batch_status.html",
            job_id=self.job_id,
            state=self.state,
            reason="" if self.reason == "None" else self.reason,
            exit_text=self._exit_text(),
            elapsed=self.elapsed,
        )

    def _render(self) -> None:
        self._status.value = self.status_html()
        self._log.value = self.log()
        self._cancel.disabled = self.ended


class Follower:
    """One thread for every job shown in this kernel: each tick, one ``squeue`` for all
    of them (an ended one is then read once more for its exit code); the thread ends
    when no shown job is left running or queued."""

    def __init__(self, every: float = 5.0):
        self.every = every
        self._jobs: dict[str, BatchJob] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def follow(self, job: BatchJob) -> None:
        with self._lock:
            self._jobs[job.job_id] = job
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, daemon=True, name="aiworkbench-batch-follower"
                )
                self._thread.start()

    def unfollow(self, job: BatchJob) -> None:
        with self._lock:
            self._jobs.pop(job.job_id, None)

    @property
    def following(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def _loop(self) -> None:
        while True:
            time.sleep(self.every)
            with self._lock:
                jobs = list(self._jobs.values())
                if not jobs:
                    self._thread = None
                    return
            self.tick(jobs)

    def tick(self, jobs: list[BatchJob]) -> None:
        """Read and show the state of ``jobs`` (one squeue for all)."""
        out = jobs[0]._ask(
            [
                "squeue",
                "--noheader",
                "--jobs",
                ",".join(j.job_id for j in jobs),
                "--format=%i|%T|%M|%r",
            ]
        )
        seen = {fields[0]: fields[1:] for fields in split_rows(out, 4)}
        for job in jobs:
            if job.job_id in seen and seen[job.job_id][0] not in ENDED_STATES:
                job.state, job.elapsed, job.reason = seen[job.job_id]
            else:
                job.refresh()  # ended (or gone from the queue): its exit code
            if job.ended:
                self.unfollow(job)
            if job._widget is not None:
                job._render()


FOLLOWER = Follower()
