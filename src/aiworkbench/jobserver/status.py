"""The session's status for its JupyterLab status bar and panel:
``GET {base_url}aiworkbench/status``; and ``POST {base_url}aiworkbench/release``, which
asks the hub to stop the session when its user releases its idle GPUs.

One :class:`SessionStatus` per session's server answers every browser tab. The job's
facts come from its environment (:func:`aiworkbench.sessions.info.session_info`); its
time left and its project's budget from the workbench API (``budgets/PROJECT``), asked
at most once a minute however many tabs poll; its GPUs' utilisation from the same
source that reports it to the hub (:mod:`aiworkbench.sessions.gpu_metrics`); and the
end of the job from Slurm's warning signal (``#SBATCH --signal=B:USR1@300``: SIGUSR1
to the batch shell's process, which ``exec``-ed this server, five minutes before the
time limit). Nothing here runs a Slurm command: the controller's load does not grow
with sessions.

The core needs only the standard library (its unit tests run without a Jupyter
server); :func:`load_status` alone imports jupyter_server and tornado, which the
session's server has. Loaded by :mod:`.extension` in workbench sessions only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.parse

from aiworkbench.sessions.info import session_info
from aiworkbench.widgets.api_client import WorkbenchAPIError, WorkbenchAPIUnreachable, api_get

ROUTE = "aiworkbench/status"
RELEASE_ROUTE = "aiworkbench/release"  # POST: stop this session (its GPUs are released)
API_INTERVAL = 60.0  # seconds between two questions to the workbench API, at least
GPU_INTERVAL = 10.0  # seconds between two GPU samples, at least


def _gpu_source():
    """The session's GPU metrics source (NVML, a simulated file, or none)."""
    from aiworkbench.sessions.gpu_metrics import source_from_env  # GPU sessions' imports

    return source_from_env()


def _gpu_notice() -> str:
    """The hub's idle-GPU warning for this session, from its last answer to the GPU
    reports (three report intervals old at most)."""
    from aiworkbench.sessions.gpu_metrics import latest_notice

    return latest_notice(3 * float(os.environ.get("AIWORKBENCH_GPU_REPORT_SECONDS", "60")))


def release_session(environ=None, post=None) -> None:
    """Ask the hub to stop this session (the user released its GPUs), with the server's
    own token (scope delete:servers for this server only)."""
    import requests

    env = os.environ if environ is None else environ
    user = urllib.parse.quote(env["JUPYTERHUB_USER"], safe="")
    server = env.get("JUPYTERHUB_SERVER_NAME", "")
    path = (
        f"users/{user}/servers/{urllib.parse.quote(server, safe='')}"
        if server
        else f"users/{user}/server"
    )
    (post or requests.delete)(
        f"{env['JUPYTERHUB_API_URL'].rstrip('/')}/{path}",
        headers={"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"},
        timeout=30,
    )


def _hours(minutes) -> float | None:
    return None if minutes is None else round(float(minutes) / 60, 1)


class SessionStatus:
    """What the status bar shows, kept between requests.

    ``fetch``: how the API is asked (:func:`api_get`'s signature); ``clock``: epoch
    seconds now; ``gpu``: a callable returning the GPU metrics source (called once, on
    the first sample). The API's last good answer stays when a later question fails;
    ``error`` then says why.
    """

    def __init__(
        self,
        environ: dict[str, str] | None = None,
        *,
        fetch=api_get,
        clock=time.time,
        gpu=_gpu_source,
        interval: float = API_INTERVAL,
        notice=_gpu_notice,
    ):
        self.info = session_info(environ)
        self.fetch, self.clock, self.interval = fetch, clock, interval
        self._gpu, self._source, self._notice = gpu, None, notice
        self._lock = asyncio.Lock()  # one question in flight, whatever the tabs
        self.asked_at: float | None = None
        self.ends_at: float | None = None
        self.budget: dict | None = None
        self.error = ""
        self.gpu_utilisation: float | None = None
        self.sampled_at: float | None = None
        self.ending_since: float | None = None

    # --- the end signal ------------------------------------------------------------------

    def end_signalled(self, signum=None, frame=None) -> None:
        """Slurm's warning arrived: the job ends soon. Only sets state (signal-safe)."""
        if self.ending_since is None:
            self.ending_since = self.clock()

    # --- the workbench API ---------------------------------------------------------------

    def due(self) -> bool:
        """Whether the API's answer is older than ``interval`` (or there is none)."""
        return self.asked_at is None or self.clock() - self.asked_at >= self.interval

    def ask(self) -> None:
        """Ask the API for this job's time left and its project's budget (blocking)."""
        self.asked_at = self.clock()
        project = self.info.project
        if not project:
            self.error = "not a Slurm job: no project to ask the workbench API about"
            return
        try:
            answer = self.fetch("budgets/" + urllib.parse.quote(project, safe=""))
        except WorkbenchAPIUnreachable as err:
            self.error = f"the workbench API does not answer ({err})"
            return
        except WorkbenchAPIError as err:
            self.error = f"the workbench API refused: {err}"
            return
        try:
            self.error = self.take(answer, answered_at=self.asked_at)
        except (AttributeError, TypeError, ValueError):
            self.error = (
                "the workbench API answered in an unexpected shape (is AIWORKBENCH_API_URL right?)"
            )

    def take(self, answer: dict, answered_at: float) -> str:
        """Keep what ``answer`` (``budgets/PROJECT``) says; the error in words, or ""."""
        mine = [
            p
            for p in answer.get("projects") or ()
            if isinstance(p, dict) and p.get("project") == self.info.project
        ]
        if not mine:
            return f"the workbench API does not list project {self.info.project}"
        project = mine[0]
        budget = {
            "project": project["project"],
            "gpu_hours_left": _hours((project.get("gpu") or {}).get("left_minutes")),
            "core_hours_left": _hours((project.get("cpu") or {}).get("left_minutes")),
        }
        jobs = [j for j in project.get("jobs") or () if str(j.get("job_id")) == self.info.job_id]
        left = jobs[0].get("time_left_s") if jobs else None
        # time_left_s is as of the API's read of Slurm, age_s seconds before its answer
        read_at = answered_at - float(answer.get("age_s") or 0)
        self.budget, self.ends_at = budget, None if left is None else round(read_at + float(left))
        if answer.get("stale") and answer.get("error"):
            return f"the budget may be out of date: {answer['error']}"
        return ""

    # --- GPU utilisation -----------------------------------------------------------------

    def sample_gpus(self) -> None:
        """The mean utilisation of the job's GPUs now, at most every GPU_INTERVAL."""
        if not self.info.gpus:
            return
        now = self.clock()
        if self.sampled_at is not None and now - self.sampled_at < GPU_INTERVAL:
            return
        self.sampled_at = now
        if self._source is None:
            self._source = self._gpu()
        sample = self._source.sample()
        self.gpu_utilisation = None if not sample else round(sum(sample) / len(sample), 1)

    # --- the answer ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring everything up to date that is due (blocking: run it off the IOLoop)."""
        if self.due():
            self.ask()
        self.sample_gpus()

    async def read(self) -> dict:
        """The status now, refreshed first where due; concurrent readers wait for one
        refresh instead of each asking the API."""
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(None, self.refresh)
        return self.to_json()

    def to_json(self) -> dict:
        info, now = self.info, self.clock()
        left = None if self.ends_at is None else max(int(self.ends_at - now), 0)
        since = None if self.ending_since is None else round(self.ending_since)
        return {
            "job_id": info.job_id,
            "node": info.node,
            "partition": info.partition,
            "project": info.project,
            "cpus": info.cpus,
            "gpus": len(info.gpus),
            "gpu_kind": info.gpu_kind,
            "ends_at": self.ends_at,
            "time_left_s": left,
            "budget": self.budget,
            "gpu_utilisation": self.gpu_utilisation,
            "ending": self.ending_since is not None,
            "ending_since": since,
            "gpu_notice": self._notice() if info.gpus else "",
            "error": self.error,
        }


def install_end_signal(status: SessionStatus, log=None) -> bool:
    """Make SIGUSR1 (Slurm's end warning) mark ``status`` as ending instead of killing
    the server; the handler installed before (jupyter_server logs its info) still runs.
    Whether it was installed (only the main thread may install signal handlers)."""
    previous = signal.getsignal(signal.SIGUSR1)

    def on_end_signal(signum, frame):
        status.end_signalled(signum, frame)
        if callable(previous):
            previous(signum, frame)

    try:
        signal.signal(signal.SIGUSR1, on_end_signal)
    except ValueError as err:  # not the main thread
        if log is not None:
            log.warning("aiworkbench: Slurm's end warning is not handled: %s", err)
        return False
    return True


def load_status(serverapp) -> SessionStatus:
    """Serve ``GET {base_url}aiworkbench/status`` from ``serverapp`` and handle the end
    signal; the session's status."""
    import tornado.web  # the session server's libraries, not the kernels'
    from jupyter_server.auth.decorator import authorized
    from jupyter_server.base.handlers import APIHandler
    from jupyter_server.utils import url_path_join

    class StatusHandler(APIHandler):
        auth_resource = "api"
        _track_activity = False  # tabs polling are no activity: the idle culler still works

        def initialize(self, status: SessionStatus):
            self.status = status

        @tornado.web.authenticated
        @authorized
        async def get(self):
            self.set_header("Cache-Control", "no-store")
            self.finish(json.dumps(await self.status.read()))

    class ReleaseHandler(APIHandler):
        """POST: the user releases the session's GPUs: the hub stops the session (the
        browser saved the open documents first)."""

        auth_resource = "api"

        @tornado.web.authenticated
        @authorized
        async def post(self):
            self.set_status(202)
            self.finish(json.dumps({"message": "the session is being stopped"}))
            await asyncio.get_running_loop().run_in_executor(None, release_session)

    status = SessionStatus()
    install_end_signal(status, serverapp.log)
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, ROUTE), StatusHandler, {"status": status}),
            (url_path_join(base, RELEASE_ROUTE), ReleaseHandler),
        ],
    )
    return status
