"""The workbench spawner: notebook sessions as Slurm jobs.

A batchspawner ``SlurmSpawner`` subclass (entry point ``workbench``) that fixes
what batchspawner's users complain about:

* user options go through :func:`parse_user_options`; only the validated
  request reaches the batch script (stock batchspawner merges raw
  ``user_options`` into the template);
* commands run as argument lists, never through a shell;
* job state comes from the hub's single :class:`SlurmPoller` (one ``squeue``
  per tick for all sessions), never one query per session; a controller that
  does not answer means *unknown*, never *gone*;
* the job reports its port once JupyterLab is listening
  (``aiworkbench-singleuser`` → :mod:`port_callback`), so the hub learns the
  server is ready when it is, and a spawn costs one controller RPC (sbatch);
* progress tells the pending reason in plain words, the queue position and
  the expected start; how a session ended (time limit, cancel, node failure,
  idle culling, idle GPUs) is kept and shown on the home page;
* a request whose cost exceeds its project's remaining budget is refused
  with the numbers (:mod:`accounting`), before anything reaches Slurm;
* a session whose GPUs stay idle is warned, then stopped (:mod:`gpu_idle`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import pwd
import shlex
import sys
import time
from datetime import UTC, datetime

from batchspawner import JobStatus, SlurmSpawner
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jupyterhub.spawner import SpawnException
from sqlalchemy.orm import object_session
from traitlets import Any, Bool, Float, Integer, List, Unicode, default

from aiworkbench.budgets import accounting
from aiworkbench.budgets.accounting import AccountingReader
from aiworkbench.core import slurm
from aiworkbench.core.site import FactorySettings, HubSettings, IdleSettings, SlurmSettings
from aiworkbench.core.units import duration_text, hours_text
from aiworkbench.hub.shared import HubShared, hub_shared
from aiworkbench.sessions import TEMPLATES
from aiworkbench.sessions.capacity import CapacityReader, outlook_text
from aiworkbench.sessions.gpu_idle import GpuIdleTracker
from aiworkbench.sessions.poller import GONE, UNKNOWN, SlurmPoller
from aiworkbench.sessions.reasons import (
    end_reason,
    expected_start,
    pending_reason,
    queue_gave_up,
    sooner,
)
from aiworkbench.sessions.request import (
    ALLOWED_KEYS,
    FormChoices,
    RequestError,
    SessionRequest,
    cost_text,
    is_count,
    parse_user_options,
)

_FORM = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True)
).get_template("session_form.html")

START_BACKSTOP_S = 60  # JupyterHub's start_timeout: the spawner's own limits plus this
# Stop: how long to wait for Slurm to end a cancelled job, and how often to look again
# meanwhile (a cancelled session's job is usually gone within a second or two).
STOP_WAIT_S = 30
STOP_RECHECK_S = 1.0
SIMULATED_GPU_DIR = "/var/lib/aiworkbench-gpu-sim"  # made by the kernel_env role


def gpu_metrics_for(gpu_kind: str) -> str:
    """How a GPU session measures its GPUs (its AIWORKBENCH_GPU_METRICS): NVML for
    NVIDIA's, the files the simulation writes otherwise."""
    return "nvml" if gpu_kind == "nvidia" else f"simulated:{SIMULATED_GPU_DIR}"


def site_settings(
    factory: FactorySettings, hub: HubSettings, idle: IdleSettings, slurm_site: SlurmSettings
) -> dict:
    """The spawner's traits that the site file owns, by trait name, in the traits' units:
    what apply_site sets from a site and, from the schema's own defaults
    (:data:`SCHEMA_DEFAULTS`), the traits' defaults. Each keeps one owner, the site
    schema (core/site.py); ``poll_interval`` and ``start_timeout`` are JupyterHub's."""
    queue_timeout = hub.queue_wait_hours * 3600
    return {
        "req_env_dir": factory.kernel_env,
        "poll_interval": hub.poll_interval,
        "max_sessions": hub.max_sessions_per_user,
        "queue_timeout": queue_timeout,
        "lab_timeout": float(hub.start_timeout),
        # JupyterHub's own limit, above the spawner's two, whose words are then met.
        "start_timeout": int(queue_timeout + hub.start_timeout + START_BACKSTOP_S),
        "slurm_reader": slurm_site.reader,
        "cull_idle_timeout": float(idle.cull_minutes * 60),
        "gpu_idle_threshold": float(idle.gpu_threshold_percent),
        "gpu_idle_warn": float(idle.gpu_warn_minutes * 60),
        "gpu_idle_stop": float(idle.gpu_stop_minutes * 60),
        "gpu_report_interval": float(idle.gpu_report_seconds),
    }


# The traits' defaults: the site schema's defaults, converted (no second literal).
SCHEMA_DEFAULTS = site_settings(FactorySettings(), HubSettings(), IdleSettings(), SlurmSettings())


class SessionFailed(SpawnException):
    """A spawn refused or failed, in words for the user: the spawn page and the REST
    answer show the message alone (JupyterHub 6 would put the status and the exception's
    name before it). ``ended``: how the home page says the session ended, if it did."""

    def __init__(self, message: str, *, ended: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.ended = ended

    @property
    def jupyterhub_message(self) -> str:
        return self.message

    def __str__(self) -> str:  # wherever JupyterHub shows str(exception): the words alone
        return self.message


BATCH_SCRIPT = """#!/bin/bash
#SBATCH --job-name=jupyter-{{username}}
#SBATCH --output={{homedir}}/.jupyter-session-%j.log
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
#SBATCH --partition={{partition}}
#SBATCH --account={{account}}
#SBATCH --time={{runtime}}
#SBATCH --cpus-per-task={{nprocs}}
#SBATCH --mem={{memory}}
#SBATCH --signal=B:USR1@300
{% if gres %}#SBATCH --gres={{gres}}
{% endif %}
set -euo pipefail
export PATH={{env_dir}}/bin:$PATH
exec {{cmd}}
"""
# --signal: five minutes before the time limit Slurm sends SIGUSR1 to the batch step,
# which is the server itself (exec): the workbench's server extension records it and
# JupyterLab saves every open document (aiworkbench.jobserver.status).
# No srun: the server runs in the batch step itself. A job step would cost the
# controller more RPCs per session and hold the allocation's resources, so that
# the user's own srun (Dask workers, torchrun) inside the session would wait.


class WorkbenchSpawner(SlurmSpawner):
    """Notebook sessions as Slurm jobs, from validated site profiles."""

    _resuming = False  # a queued job of before a hub restart is being waited for

    site = Any(help="The validated site (aiworkbench.core.site.Site); set by apply_site.").tag(
        config=True
    )
    req_env_dir = Unicode(
        SCHEMA_DEFAULTS["req_env_dir"],
        help="Python environment of notebook sessions; its bin/ goes first on PATH in the "
        "job (site factory.prefix: PREFIX/env).",
    ).tag(config=True)
    gpu_kind = Unicode(
        "",
        help="'nvidia' or 'simulated': how GPUs are labelled (the form, the home page) "
        "and measured (gpu_metrics). Empty: as Slurm's GRES say (gpu:simulated: "
        "simulated), from the hub's capacity reader, whose sinfo is read when the first "
        "form or GPU session needs it (never while the configuration loads).",
    ).tag(config=True)
    slurm_reader = Unicode(
        SCHEMA_DEFAULTS["slurm_reader"],
        help="User whose sight the spawner borrows (through sudo) to ask sacct how its "
        "job ended when Slurm's PrivateData hides it (site slurm.reader); empty: the "
        "hub's own. The hub's poller and budget reader, which every spawner shares, "
        "are made with the site's slurm.reader where the hub starts.",
    ).tag(config=True)

    queue_timeout = Float(
        SCHEMA_DEFAULTS["queue_timeout"],
        help="Seconds a session's job may wait in Slurm's queue before the spawn gives up, "
        "cancels it and says why (site hub.queue_wait_hours).",
    ).tag(config=True)
    lab_timeout = Float(
        SCHEMA_DEFAULTS["lab_timeout"],
        help="Seconds JupyterLab may take to report its port once the job runs (site "
        "hub.start_timeout). JupyterHub's own start_timeout is set above both, so "
        "that the spawner's limits, with their words, are the ones met.",
    ).tag(config=True)

    extend_helper = List(
        Unicode(),
        ["sudo", "-n", sys.executable, "-I", "-m", "aiworkbench.sessions.extend"],
        help="The privileged helper that adds time to a running session (its own sudoers "
        "line; it checks the job, the limits and the budget itself), as an argument "
        "list; --user, --job and --minutes are added.",
    ).tag(config=True)

    max_sessions = Integer(
        SCHEMA_DEFAULTS["max_sessions"],
        help="Sessions one user may run at once (default and named servers together; "
        "site hub.max_sessions_per_user).",
    ).tag(config=True)

    api_url = Unicode(
        "",
        help="URL of the workbench API as sessions reach it (through the proxy), given to "
        "them as AIWORKBENCH_API_URL; empty: not given.",
    ).tag(config=True)
    check_budget = Bool(
        True,
        help="Refuse a request whose cost (GPUs or cores times hours) exceeds what its "
        "project has left, before submitting it. Slurm enforces budgets either way; "
        "this says so at once, with the numbers, instead of a job that never starts.",
    ).tag(config=True)
    cull_idle_timeout = Float(
        SCHEMA_DEFAULTS["cull_idle_timeout"],
        help="Seconds without activity after which the idle culler stops sessions (site "
        "idle.cull_minutes; 0: no culler); a session stopped after that long idle is "
        "said to be culled.",
    ).tag(config=True)
    gpu_metrics = Unicode(
        None,
        allow_none=True,
        help="How GPU sessions measure their GPUs' utilisation: 'nvml' (real GPUs) or "
        "'simulated:DIR' (percentages in DIR/<job id>); empty: not measured. Unset: by "
        "the GPU kind, 'nvml' for nvidia, else simulated:" + SIMULATED_GPU_DIR + ".",
    ).tag(config=True)
    gpu_report_interval = Float(
        SCHEMA_DEFAULTS["gpu_report_interval"],
        help="Seconds between a GPU session's utilisation reports (site idle.gpu_report_seconds).",
    ).tag(config=True)
    gpu_idle_threshold = Float(
        SCHEMA_DEFAULTS["gpu_idle_threshold"],
        help="GPUs are idle while their mean utilisation (percent) is below this (site "
        "idle.gpu_threshold_percent).",
    ).tag(config=True)
    gpu_idle_warn = Float(
        SCHEMA_DEFAULTS["gpu_idle_warn"],
        help="Seconds of idle GPUs after which the user is warned (site idle.gpu_warn_minutes).",
    ).tag(config=True)
    gpu_idle_stop = Float(
        SCHEMA_DEFAULTS["gpu_idle_stop"],
        help="Seconds of idle GPUs after which the session is stopped (site "
        "idle.gpu_stop_minutes; 0: never).",
    ).tag(config=True)

    batch_script = Unicode(BATCH_SCRIPT, help="Template of the session's batch script.").tag(
        config=True
    )
    exec_prefix = Unicode(
        "sudo -u {username}",
        help="Prefix of the commands that act as the user (sbatch, scancel): sudo as the "
        "user. The job's environment passes through sudoers' env_keep, not sudo -E.",
    ).tag(config=True)
    batchspawner_singleuser_cmd = Unicode(
        "aiworkbench-singleuser",
        help="Wrapper that starts the single-user server in the job and reports its port "
        "to the hub once it is listening.",
    ).tag(config=True)

    # JupyterHub's own settings, with the site schema's defaults.
    @default("poll_interval")
    def _poll_interval_default(self):
        return SCHEMA_DEFAULTS["poll_interval"]

    @default("start_timeout")
    def _start_timeout_default(self):
        return SCHEMA_DEFAULTS["start_timeout"]

    request: SessionRequest | None = None
    gpu_tracker: GpuIdleTracker | None = None  # while a GPU session runs
    gpu_notice = ""  # the idle-GPU warning, shown on the home page
    # Kept in the spawner's state (the hub database), so that a hub restart loses nothing:
    ended_reason = ""  # how the last session ended, in plain words
    token_sha256 = ""  # hash of the server's API token, to check its port report
    job_ip = ""  # where the job's server listens, once reported
    job_port = 0
    submitted_at = 0.0  # when the job was submitted (epoch seconds): the queue wait's start
    last_job_id = ""  # the latest job, also after it ended: its log stays readable

    # --- user options: one road ---------------------------------------------
    @default("options_form")
    def _options_form_default(self):
        async def form(spawner):
            snapshot = None
            if self.check_budget:
                try:
                    snapshot = await self.budgets.snapshot()
                except slurm.SlurmError as err:
                    self.log.warning("The form shows no budgets: %s", err)
            free, start = await self.queue_outlook()
            return self.render_form(snapshot=snapshot, free=free, start=start)

        return form

    async def queue_outlook(self):
        """What each partition has free now, and when Slurm would start the form's
        first choice (its shape, its expected start), from the hub's shared reader;
        ({}, None) when Slurm does not say."""
        reader = self.capacity
        try:
            free = await reader.free()
            request = parse_user_options(
                self._form_choices(
                    {
                        p: self.site.usable_partitions(p)
                        for p in self.site.projects_of(self.user.name)
                    },
                ),
                self.site,
                self.user.name,
            )
            return free, (
                request,
                await reader.expected_start(request, lambda argv: self.user_argv(*argv)),
            )
        except (slurm.SlurmError, RequestError) as err:
            self.log.warning("The form shows no queue outlook: %s", err)
            return {}, None

    def render_form(self, spawner=None, snapshot=None, free=None, start=None) -> str:
        """The session form: profile, project, partition, preset, GPUs, hours, the cost
        and what each project has left (from ``snapshot``, an accounting Snapshot).
        After a refusal it shows the user's last choices again (nothing is lost)."""
        site, user = self.site, self.user.name
        usable = {project: site.usable_partitions(project) for project in site.projects_of(user)}
        chosen = self._form_choices(usable)
        lim = usable[chosen["project"]].get(chosen["partition"])
        data = {
            "profiles": {
                name: {
                    "partition": p.partition,
                    "preset": p.preset,
                    "gpus": p.gpus,
                    "hours": p.hours,
                }
                for name, p in site.profiles.items()
            },
            "presets": {name: {"cpus": p.cpus} for name, p in site.presets.items()},
            "limits": {
                project: {
                    part: {**dataclasses.asdict(lim), "text": lim.text(project, part)}
                    for part, lim in parts.items()
                }
                for project, parts in usable.items()
            },
            "budgets": {},
        }
        budgets = snapshot.projects if snapshot is not None else {}
        for project in usable:
            if project in budgets:
                data["budgets"][project] = {
                    kind: usage.available for kind, usage in budgets[project].budgets.items()
                }
        cost = limits_text = over_budget = ""
        if lim is not None:
            limits_text = lim.text(chosen["project"], chosen["partition"])
            cpus, gpus, hrs = (
                site.presets[chosen["preset"]].cpus,
                int(chosen["gpus"]),
                int(chosen["hours"]),
            )
            cost = cost_text(gpus, cpus, hrs, chosen["project"])
            if chosen["project"] in budgets:
                why = accounting.refusal(
                    budgets[chosen["project"]], {"gpu": gpus * hrs * 60, "cpu": cpus * hrs * 60}
                )
                over_budget = f"— {why}" if why else ""

        def project_text(name):
            text = site.projects[name].description
            if name in budgets:
                left = budgets[name].budgets
                text += (
                    f" — left: {accounting.hours(left['gpu'].available)} GPU-h, "
                    f"{accounting.hours(left['cpu'].available)} core-h"
                )
            return text

        def size(p):
            text = f"{p.cpus} core{'' if p.cpus == 1 else 's'}, {p.memory_gb} GB"
            return f"{text} ({p.description})" if p.description else text

        label = "simulated" if self.known_gpu_kind == "simulated" else ""
        free = free or {}

        def partition_text(name, partition):
            if name in free:
                return f"{partition.description} — {free[name].text(label, partition.gpus)}"
            return partition.description

        return _FORM.render(
            profiles=[(n, p.description) for n, p in site.profiles.items()],
            projects=[(n, project_text(n)) for n in usable],
            partitions=[(n, partition_text(n, p)) for n, p in site.partitions.items()],
            queue_text=outlook_text(start, free, datetime.now()),
            presets=[(n, size(p)) for n, p in site.presets.items()],
            chosen=chosen,
            cost=cost,
            limits_text=limits_text,
            over_budget=over_budget,
            max_gpus=max(p.max_gpus for p in site.partitions.values()),
            max_hours=max(p.max_hours for p in site.partitions.values()),
            gpu_note=label,
            data_json=json.dumps(data).replace("<", "\\u003c"),
        )

    def _form_choices(self, usable: dict) -> dict[str, str]:
        """The first profile's values, overlaid with the user's last choices where they
        are offered values; numbers are kept as typed when they are digits."""
        site, user = self.site, self.user.name
        first = parse_user_options({}, site, user)
        chosen = {key: str(getattr(first, key)) for key in ALLOWED_KEYS}
        # The hub's store, not this spawner's: after a refusal JupyterHub renders the
        # form of the user's default server, whichever server was asked for.
        last = self.form_choices.last(user)
        offered = {
            "profile": site.profiles,
            "project": usable,
            "partition": site.partitions,
            "preset": site.presets,
        }
        for key, allowed in offered.items():
            if isinstance(last.get(key), str) and last[key] in allowed:
                chosen[key] = last[key]
        for key in ("gpus", "hours"):
            value = last.get(key)
            if is_count(value):
                chosen[key] = value
        return chosen

    def options_from_form(self, formdata):
        options = {key: values[0] for key, values in formdata.items() if values}
        self.form_choices.remember(self.user.name, options)
        return options

    @default("apply_user_options")
    def _apply_user_options_default(self):
        # JupyterHub >= 5.3 calls this before start(): refusals become HTTP 400
        # with their message, for the form and the REST API alike.
        async def apply(spawner, options):
            spawner.check_session_limit()
            request = spawner.validated_request(options)
            await spawner.check_request_budget(request)
            spawner.apply_request(request)

        return apply

    def check_session_limit(self) -> None:
        running = [s for s in self.user.spawners.values() if s is not self and s.active]
        if len(running) >= self.max_sessions:
            names = ", ".join(repr(s.name or "default") for s in running)
            raise SessionFailed(
                f"you already run {len(running)} session(s) ({names}), the most allowed "
                f"is {self.max_sessions}: stop one first",
                reason="session-limit",
            )

    def validated_request(self, options=None) -> SessionRequest:
        options = self.user_options if options is None else options
        try:
            return parse_user_options(options or {}, self.site, self.user.name)
        except RequestError as err:
            raise SessionFailed(str(err), reason="invalid-options") from None

    async def check_request_budget(self, request: SessionRequest) -> None:
        """Refuse a request its project's budget cannot pay for, with the numbers.
        When accounting cannot be read, Slurm's own enforcement decides."""
        if not self.check_budget:
            return
        try:
            snapshot = await self.budgets.snapshot()
        except slurm.SlurmError as err:
            self.log.warning("Budget check skipped for %s: %s", self.user.name, err)
            return
        budget = snapshot.projects.get(request.project)
        why = budget and accounting.refusal(
            budget, {"gpu": request.gpu_hours * 60, "cpu": request.core_hours * 60}
        )
        if why:
            raise SessionFailed(
                f"Not enough budget: this session {why}. Ask for fewer "
                f"GPUs, cores or hours, or another project.",
                reason="budget",
            )

    @staticmethod
    def script_values(request: SessionRequest) -> dict[str, str]:
        """The batch script's values (batchspawner's ``req_*`` traits) of a request."""
        return {
            "partition": request.partition,
            "account": request.project,
            "nprocs": str(request.cpus),
            "memory": f"{request.memory_gb}G",
            "runtime": f"{request.hours}:00:00",
            "gres": f"gpu:{request.gpus}" if request.gpus else "",
        }

    def apply_request(self, request: SessionRequest) -> None:
        """Set the batch script's values from a validated request (and only from it)."""
        self.request = request
        for key, value in self.script_values(request).items():
            setattr(self, f"req_{key}", value)

    def get_env(self):
        return {**super().get_env(), **self.workbench_env()}

    def workbench_env(self) -> dict[str, str]:
        """What the session gets from the workbench: the API's URL and, for GPU sessions,
        how to measure and report their GPUs' utilisation."""
        env = {}
        if self.api_url:
            env["AIWORKBENCH_API_URL"] = self.api_url
        metrics = (
            self.gpu_metrics
            if self.gpu_metrics is not None
            else gpu_metrics_for(self.known_gpu_kind)
        )
        if self.request is not None and self.request.gpus and metrics:
            env["AIWORKBENCH_GPU_METRICS"] = metrics
            env["AIWORKBENCH_GPU_REPORT_SECONDS"] = f"{self.gpu_report_interval:g}"
        return env

    @property
    def known_gpu_kind(self) -> str:
        """'nvidia' or 'simulated': the gpu_kind setting, else what Slurm's GRES showed
        the hub's capacity reader last ('simulated' when they show no GPU); '' while
        the hub has not read them."""
        if self.gpu_kind:
            return self.gpu_kind
        seen = self.capacity.gpu_kind
        return "" if seen is None else (seen or "simulated")

    async def read_gpu_kind(self) -> str:
        """:attr:`known_gpu_kind`, asking Slurm first (the capacity reader's sinfo) if
        the hub has not read it yet; 'simulated' while Slurm does not answer."""
        if not self.known_gpu_kind:
            try:
                await self.capacity.free()
            except slurm.SlurmError as err:
                self.log.warning("Slurm did not say which GPUs it has: %s", err)
        return self.known_gpu_kind or "simulated"

    # --- idle protection ----------------------------------------------------------
    def gpu_report(self, utilisation: list[float], now: float) -> str:
        """A utilisation report of this session's GPUs: 'busy', 'idle', 'warn' or 'stop'
        (then the caller stops the session; the reason is kept for the home page)."""
        if self.gpu_tracker is None:
            self.gpu_tracker = GpuIdleTracker(
                self.gpu_idle_threshold, self.gpu_idle_warn, self.gpu_idle_stop
            )
        verdict = self.gpu_tracker.report(utilisation, now)
        self.gpu_notice = self.gpu_tracker.warning(now) if verdict == "warn" else ""
        if verdict == "stop":
            self.ended_reason = self.gpu_tracker.stop_reason(now)
            self.log.info(
                "Stopping %s's session %r: %s", self.user.name, self.name, self.ended_reason
            )
        return verdict

    def idle_reason(self) -> str:
        """Why the session is stopped, when it had no activity for the culler's timeout
        (the culler stops through the ordinary API, which carries no reason)."""
        orm_spawner = getattr(self, "orm_spawner", None)
        last = getattr(orm_spawner, "last_activity", None)
        if not self.cull_idle_timeout or last is None:
            return ""
        idle = (datetime.now(UTC).replace(tzinfo=None) - last).total_seconds()
        if idle < self.cull_idle_timeout:
            return ""
        return (
            f"it had no activity for {duration_text(idle)} (sessions without activity "
            f"are stopped after {duration_text(self.cull_idle_timeout)})"
        )

    # --- commands --------------------------------------------------------------
    def user_argv(self, *argv: str) -> list[str]:
        """``argv`` run as the session's user through the exec prefix (sudo)."""
        prefix = self.exec_prefix.format(username=self.user.name)
        return [*shlex.split(prefix), *argv]

    def cmd_formatted_for_batch(self):
        return shlex.join([self.batchspawner_singleuser_cmd, *self.cmd, *self.get_args()])

    async def run_command(self, cmd, input=None, env=None):
        """batchspawner's hook, as an argument list (never through a shell)."""
        return (await slurm.run(shlex.split(cmd), input=input, env=env)).strip()

    async def job_script(self, options: dict | None = None) -> str:
        """The batch script this session submits, or would for ``options`` (validated
        like a spawn; the session itself is left as it is): what an admin would submit."""
        if options is not None:
            request = self.validated_request(options)
        else:
            request = self.request or self.validated_request()
        subvars = self.get_req_subvars()
        subvars.update(self.script_values(request))
        subvars["cmd"] = self.cmd_formatted_for_batch()
        return await self._get_batch_script(**subvars)

    async def submit_batch_script(self):
        """Submit with validated values only (no raw user_options in the template)."""
        script = await self.job_script()
        self.log.info(
            "Submitting session job for %s: %s on %s, %s",
            self.user.name,
            self.request.preset,
            self.req_partition,
            self.request.cost_text(),
        )
        try:
            out = await slurm.run(
                self.user_argv("sbatch", "--parsable"), input=script, env=self.get_env()
            )
        except slurm.SlurmError as err:
            raise SessionFailed(
                f"Slurm did not take the session's job: {err}", reason="slurm", status_code=502
            ) from None
        self.job_id = self.parse_job_id(out.strip())
        self.last_job_id = self.job_id
        return self.job_id

    async def extend(self, minutes: int) -> str:
        """Add ``minutes`` to the running session through the privileged helper; what
        it did, in words. Refusals (the helper's own words) raise SessionFailed."""
        if not self.job_id or not self.ready:
            raise SessionFailed(
                "only a running session can be extended", reason="extend", status_code=409
            )
        argv = [
            *self.extend_helper,
            "--user",
            self.user.name,
            "--job",
            self.job_id,
            "--minutes",
            str(minutes),
        ]
        try:
            out = await slurm.run(argv, timeout=60)
        except slurm.SlurmError as err:
            said = (err.stderr or "").strip().splitlines()
            words = said[-1] if said else str(err)
            if err.returncode in (2, 3):  # refused, or arguments it does not take
                words = words.split(": error: ", 1)[-1].removeprefix("refused: ")
                raise SessionFailed(
                    f"The session was not extended: {words}.", reason="extend"
                ) from None
            self.log.error("Extending job %s of %s failed: %s", self.job_id, self.user.name, err)
            raise SessionFailed(
                "The session was not extended: the workbench's helper "
                "failed; ask the factory's administrators.",
                reason="extend",
                status_code=502,
            ) from None
        done = json.loads(out)
        self.log.info(
            "Extended job %s of %s by %s minutes (now %s)",
            self.job_id,
            self.user.name,
            minutes,
            done["time_limit_minutes"],
        )
        self.poller.poke()  # the card then shows the new limit
        await self.poller.wait_update(2 * self.poller.interval + 5)
        return (
            f"Added {hours_text(minutes)}: the session may now run "
            f"{hours_text(done['time_limit_minutes'])} in all."
        )

    LOG_LINES = 40

    async def log_tail(self) -> tuple[str, str]:
        """The last lines of the session's log (its latest job's, running or ended), read
        as its user: (job id, text); ('', '') without a job."""
        job_id = self.job_id or self.last_job_id
        if not job_id:
            return "", ""
        path = f"{self.req_homedir}/.jupyter-session-{job_id}.log"
        try:
            text = await slurm.run(
                self.user_argv("tail", "-n", str(self.LOG_LINES), "--", path), timeout=30
            )
        except slurm.SlurmError as err:
            self.log.warning("Could not read %s's log %s: %s", self.user.name, path, err)
            text = f"(the log {path} cannot be read: it may not exist yet)"
        return job_id, text

    async def cancel_batch_job(self):
        if self.job_id:
            await slurm.run(self.user_argv("scancel", self.job_id))

    # --- what every spawner of the hub shares ------------------------------------
    @property
    def shared(self) -> HubShared:
        """The hub's shared objects, made where the hub starts (apply_site) and handed
        in through its tornado settings."""
        return hub_shared(self.user.settings)

    @property
    def poller(self) -> SlurmPoller:
        """The hub's one Slurm poller: every session's job state."""
        return self.shared.poller

    @property
    def budgets(self) -> AccountingReader:
        """The hub's one budget reader."""
        return self.shared.budgets

    @property
    def capacity(self) -> CapacityReader:
        """The hub's one reader of free capacity and expected starts (the form's)."""
        return self.shared.capacity

    @property
    def form_choices(self) -> FormChoices:
        """Every user's last form choices (the hub's, bounded)."""
        return self.shared.form_choices

    async def query_job_status(self):
        """batchspawner's hook, answered from the hub's shared snapshot (no RPC)."""
        if not self.job_id:
            return JobStatus.NOTFOUND
        self.poller.watch(self.job_id)
        job = self.poller.status(self.job_id)
        if job == UNKNOWN:
            return JobStatus.UNKNOWN
        if job == GONE:
            return JobStatus.NOTFOUND
        self.job_status = f"{job.state} {job.nodes}"
        return JobStatus.RUNNING if job.running else JobStatus.PENDING

    async def _why_ended(self, job_id: str) -> str:
        try:
            out = await slurm.reader_run(self.slurm_reader)(slurm.sacct_argv(job_id))
            finished = slurm.parse_sacct(out, job_id)
        except slurm.SlurmError as err:
            self.log.warning("sacct for job %s failed: %s", job_id, err)
            finished = None
        if finished is None:
            return "the session's job is no longer in Slurm"
        try:
            owner_uid = pwd.getpwnam(self.user.name).pw_uid
        except KeyError:
            owner_uid = None
        return end_reason(
            finished.state, finished.reason, finished.exit_code, finished.cancelled_by, owner_uid
        )

    async def poll(self):
        if not self.job_id:
            return 0
        self.poller.watch(self.job_id)
        # Right after a hub restart the poller has not answered yet: give it a moment.
        deadline = asyncio.get_running_loop().time() + 2 * self.poller.interval + 5
        while (
            self.poller.status(self.job_id) == UNKNOWN
            and asyncio.get_running_loop().time() < deadline
        ):
            await self.poller.wait_update(0.5)
        if self.poller.status(self.job_id) != GONE:
            return None  # pending, running, or unknown: never kill a session on doubt
        job_id = self.job_id
        self.ended_reason = self.ended_reason or await self._why_ended(job_id)
        self.log.info("Session job %s of %s ended: %s", job_id, self.user.name, self.ended_reason)
        self.poller.unwatch(job_id)
        self.clear_state()
        return 1

    # --- start and stop ---------------------------------------------------------
    async def start(self):
        request = self.validated_request()
        await self.check_request_budget(request)
        self.apply_request(request)
        if request.gpus:  # how the session measures its GPUs (workbench_env)
            await self.read_gpu_kind()
        self.ended_reason = self.gpu_notice = ""
        self.gpu_tracker = None
        self.ip = self.traits()["ip"].default_value
        self.port = 0
        self._port_reported = asyncio.Event()
        self.submitted_at = time.time()
        await self.submit_batch_script()
        if not self.job_id:
            raise RuntimeError("sbatch gave no job id")
        self.token_sha256 = hashlib.sha256((self.api_token or "").encode()).hexdigest()
        self.save_state()
        try:
            await self.wait_for_port()
        except SessionFailed as err:
            self.ended_reason = self.ended_reason or err.ended
            raise
        self.log.info(
            "Session job %s of %s ready at %s:%s", self.job_id, self.user.name, self.ip, self.port
        )
        return self.ip, self.port

    async def wait_for_port(self) -> None:
        """Wait until the job reports its port (port_callback) once JupyterLab listens;
        meanwhile the shared poller tells whether it is queued, running or gone."""
        self.poller.watch(self.job_id, query_now=self._resuming, starting=True)
        try:
            await self._wait_for_port_or_end()
        finally:
            self.poller.settle(self.job_id)

    async def _wait_for_port_or_end(self) -> None:
        """Until the port is reported: fail when the job ends, when it stays queued past
        ``queue_timeout`` (counted from its submission, across hub restarts) or when
        JupyterLab does not answer within ``lab_timeout`` of the job running."""
        queued_until = (self.submitted_at or time.time()) + self.queue_timeout
        lab_until = None
        while not self._port_reported.is_set():
            job = self.poller.status(self.job_id)
            now = time.time()
            if job == GONE:
                why = await self._why_ended(self.job_id)
                self.poller.unwatch(self.job_id)
                self.ended_reason = why  # for the home page, after the spawn page
                self.clear_state()
                raise SessionFailed(
                    f"The session's job ended before JupyterLab started: {why}",
                    reason="job-ended",
                    status_code=500,
                )
            if job != UNKNOWN and job.running:
                if lab_until is None:
                    lab_until = now + self.lab_timeout
                if now >= lab_until:
                    raise self.lab_timed_out(job)
            elif now >= queued_until:
                raise self.queue_timed_out(job, now)
            until = lab_until if lab_until is not None else queued_until
            try:
                await asyncio.wait_for(
                    self._port_reported.wait(),
                    max(min(self.poller.interval, until - now), 0.01),
                )
            except TimeoutError:
                pass

    def queue_timed_out(self, job, now: float) -> SessionFailed:
        """The spawn's failure when the job is still queued at ``queue_timeout``."""
        queued = job if job not in (UNKNOWN, GONE) else None  # None: Slurm did not say
        reason = (
            pending_reason(queued.reason, bool(self.request and self.request.gpus))
            if queued
            else self.describe(job)
        )
        words = queue_gave_up(
            now - (self.submitted_at or now),
            self.job_id,
            reason,
            expected_start(queued.start if queued else "", datetime.now()),
            sooner(self.site, self.request, queued.reason if queued else "", self.user.name),
        )
        return SessionFailed(
            f"The session {words}.", reason="queue-timeout", status_code=504, ended=f"it {words}"
        )

    def lab_timed_out(self, job) -> SessionFailed:
        """The spawn's failure when JupyterLab did not answer within ``lab_timeout``."""
        words = (
            f"started on node {job.nodes}, but JupyterLab did not answer within "
            f"{duration_text(self.lab_timeout)}, so job {self.job_id} was cancelled; "
            f"its log is ~/.jupyter-session-{self.job_id}.log"
        )
        return SessionFailed(
            f"The session {words}.", reason="timeout", status_code=504, ended=f"it {words}"
        )

    async def get_url(self):
        """Resume a session that was still queued when the hub restarted.

        JupyterHub calls this at start-up for every session ``poll()`` says is
        alive; a job that had not reported its port yet is waited for here
        (start-up goes on in the background after ``init_spawners_timeout``).
        """
        if self.job_id and self.server is not None and self.job_port:
            # The address the job reported, whatever the server row says.
            self.server.ip, self.server.port = self.job_ip, self.job_port
        elif self.job_id and self.server is not None:
            self.log.info(
                "Waiting for %s's queued session job %s (resumed after a hub restart)",
                self.user.name,
                self.job_id,
            )
            self._port_reported = asyncio.Event()
            self._resuming = True
            try:
                await asyncio.wait_for(self.wait_for_port(), self.start_timeout)
                # JupyterHub routes resumed sessions only once every session has been
                # checked, which may be much later: route this one once its check ends.
                self._route_task = asyncio.ensure_future(self._route_when_checked())
            except (TimeoutError, SessionFailed) as err:
                self.log.warning(
                    "Queued session job %s of %s did not start: %s",
                    self.job_id,
                    self.user.name,
                    err,
                )
                if getattr(err, "ended", ""):  # it gave up waiting: the job goes, the
                    self.ended_reason = err.ended  # home page says why
                    await self.cancel_batch_job()
            finally:
                self._resuming = False
        return await super().get_url()

    async def _route_when_checked(self) -> None:
        proxy = self.user.settings.get("proxy")
        while self.pending == "check":
            await asyncio.sleep(0.2)
        if proxy is not None and self.ready:
            try:
                await proxy.add_user(self.user, self.name)
            except Exception:  # the hub's own route check will retry
                self.log.exception("Could not route %s's resumed session", self.user.name)

    def accepts_port_report(self) -> bool:
        """Whether the job may report its port now: while starting or resuming."""
        return self.pending == "spawn" or self._resuming

    def owns_token(self, token: str) -> bool:
        """Whether ``token`` is this session's server token (compared by hash)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        return bool(self.token_sha256) and hmac.compare_digest(self.token_sha256, digest)

    def report_port(self, ip: str, port: int) -> None:
        """Called by the port callback: the job's server listens on ip:port."""
        self.ip, self.port = ip, port
        self.job_ip, self.job_port = ip, port
        if self.server is not None:
            self.server.ip, self.server.port = ip, port
        self.save_state()
        event = getattr(self, "_port_reported", None)
        if event is not None:
            event.set()

    async def stop(self, now=False):
        job_id = self.job_id
        if not job_id:
            return
        self.log.info("Stopping session job %s of %s", job_id, self.user.name)
        self.ended_reason = self.ended_reason or self.idle_reason()
        self.gpu_tracker, self.gpu_notice = None, ""
        await self.cancel_batch_job()
        self.poller.poke()
        if not now:
            deadline = time.monotonic() + STOP_WAIT_S
            await self.poller.wait_update(self.poller.interval * 2)
            # Still listed (completing): look again soon, not at the poller's next tick
            # (long while no session starts). Unknown: Slurm does not answer, or the job
            # is no longer followed; there is nothing to wait for.
            while self.poller.status(job_id) not in (GONE, UNKNOWN) and time.monotonic() < deadline:
                await asyncio.sleep(STOP_RECHECK_S)
                self.poller.poke()
                await self.poller.wait_update(self.poller.interval * 2)
        self.poller.unwatch(job_id)

    async def progress(self):
        sent = None
        while True:
            if not self.job_id:
                message = "Submitting the session to Slurm"
                if self.request is not None:
                    message += f" ({self.request.cost_text()})"
            else:
                job = self.poller.status(self.job_id)
                message = self.describe(job)
            if message != sent:
                sent = message
                yield {"progress": 50 if "running" in message.lower() else 20, "message": message}
            if self.port:
                return
            await self.poller.wait_update(self.poller.interval * 2)

    def describe(self, job) -> str:
        """One line for the spawn page about the job's state."""
        if job == UNKNOWN and self.poller.asked and not self.poller.reachable:
            return f"Job {self.job_id} submitted; Slurm's controller is not answering"
        if job == UNKNOWN:
            return f"Job {self.job_id} submitted to Slurm"
        if job == GONE:
            return f"Job {self.job_id} has ended"
        if job.running:
            return f"Job {self.job_id} running on node {job.nodes}, starting JupyterLab"
        wants_gpus = bool(self.request and self.request.gpus)
        words = pending_reason(job.reason, wants_gpus)
        text = f"Job {self.job_id} queued on {job.partition}: {words}"
        position = slurm.queue_position(self.poller.jobs, self.job_id)
        if position:
            text += f"; position {position[0]} of {position[1]} in the queue"
        if job.start not in ("", "N/A", "Unknown"):
            text += f"; expected start {job.start.replace('T', ' ')}"
        return text

    # --- state kept across hub restarts ----------------------------------------
    def save_state(self) -> None:
        """Store the job id now: JupyterHub saves state only once a spawn finishes, and a
        hub restart meanwhile would forget a queued job (and leave it running alone)."""
        orm_spawner = getattr(self, "orm_spawner", None)
        session = object_session(orm_spawner) if orm_spawner is not None else None
        if session is not None:
            orm_spawner.state = self.get_state()
            session.commit()

    KEPT = ("ended_reason", "token_sha256", "job_ip", "job_port", "submitted_at", "last_job_id")

    def get_state(self):
        state = super().get_state()
        state.update({key: getattr(self, key) for key in self.KEPT if getattr(self, key)})
        return state

    def load_state(self, state):
        super().load_state(state)
        for key in self.KEPT:
            setattr(self, key, state.get(key, type(getattr(WorkbenchSpawner, key))()))

    def clear_state(self):
        super().clear_state()
        self.token_sha256, self.job_ip, self.job_port = "", "", 0
        self.submitted_at = 0.0
        # ended_reason and last_job_id are kept: the home page says why the session
        # ended, and its log can still be read
