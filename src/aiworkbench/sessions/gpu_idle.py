"""Idle GPUs, judged by the hub.

In the job, ``aiworkbench-singleuser`` samples its GPUs' utilisation from a
pluggable source (:mod:`aiworkbench.sessions.gpu_metrics`: NVML where GPUs are real,
a file per job where they are simulated) and reports it to the hub with the
server's own token (:class:`GpuActivityHandler`). The hub keeps a :class:`GpuIdleTracker`
per session: after ``warn_after`` seconds below the threshold the user is
warned (home page, the report's answer in the session log), after
``stop_after`` the session is stopped and its home page says why.

:class:`SessionsHandler` lists every running session with its GPUs' idle state,
for the managers' dashboards (scope ``read:servers`` over all users).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import Scope
from tornado import web

from aiworkbench.core.units import duration_text
from aiworkbench.sessions.cards import requested
from aiworkbench.sessions.port_callback import own_session

ROUTE = r"/api/aiworkbench/gpu-activity"  # gpu_metrics.REPORT_PATH under /hub/
SESSIONS_ROUTE = r"/api/aiworkbench/sessions"  # read by the dashboards' ingestion


# --- the hub's judgement ------------------------------------------------------------
@dataclass
class GpuIdleTracker:
    """Whether a session's GPUs have been idle long enough to warn or to stop it."""

    threshold: float  # percent: idle while the mean utilisation is below it
    warn_after: float  # seconds
    stop_after: float  # seconds; 0: never stop
    idle_since: float | None = None
    last_report: float | None = None
    last_utilisation: tuple[float, ...] = ()  # percent per GPU, the last report's

    def report(self, utilisation: list[float], now: float) -> str:
        """Record a sample; 'busy', 'idle', 'warn' or 'stop'."""
        self.last_report = now
        self.last_utilisation = tuple(utilisation)
        if sum(utilisation) / len(utilisation) >= self.threshold:
            self.idle_since = None
            return "busy"
        if self.idle_since is None:
            self.idle_since = now
        idle = now - self.idle_since
        if self.stop_after and idle >= self.stop_after:
            return "stop"
        return "warn" if idle >= self.warn_after else "idle"

    def idle_for(self, now: float) -> float:
        return 0.0 if self.idle_since is None else now - self.idle_since

    def warning(self, now: float) -> str:
        text = (
            f"its GPUs have been idle (below {self.threshold:g}% utilisation) for "
            f"{duration_text(self.idle_for(now))}"
        )
        if self.stop_after:
            left = max(self.idle_since + self.stop_after - now, 0)
            text += (
                f"; it will be stopped in {duration_text(left)} unless they are used "
                f"(stop it yourself to free them sooner)"
            )
        return text

    def stop_reason(self, now: float) -> str:
        return (
            f"its GPUs were idle (below {self.threshold:g}% utilisation) for "
            f"{duration_text(self.idle_for(now))}, so it was stopped to free them for "
            f"others"
        )


class GpuActivityHandler(APIHandler):
    """POST {"utilisation": [percent, ...]} with a running session's own server token."""

    @web.authenticated
    async def post(self):
        spawner = own_session(self)
        if spawner is None or not spawner.active:
            raise web.HTTPError(
                403, "only a running session's own server token may report its GPU utilisation"
            )
        body = self.get_json_body()
        values = (
            body.get("utilisation")
            if isinstance(body, dict) and set(body) == {"utilisation"}
            else None
        )
        if (
            not isinstance(values, list)
            or not 1 <= len(values) <= 64
            or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100
                for v in values
            )
        ):
            raise web.HTTPError(
                400,
                'the body must be {"utilisation": [percent, ...]}: 1 to 64 numbers from 0 to 100',
            )
        verdict = spawner.gpu_report([float(v) for v in values], time.time())
        if verdict == "stop":
            await self.stop_single_user(spawner.user, spawner.name)
        self.finish(json.dumps({"verdict": verdict, "notice": spawner.gpu_notice}))


def _iso(moment) -> str | None:
    """A hub time (naive UTC datetime or epoch seconds) as ISO 8601 UTC."""
    if moment is None:
        return None
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def session_row(user_name: str, spawner) -> dict:
    """One running session as the dashboards see it."""
    request = requested(spawner)
    tracker = getattr(spawner, "gpu_tracker", None)
    orm = getattr(spawner, "orm_spawner", None)
    return {
        "user": user_name,
        "server": spawner.name or "",
        "job_id": str(getattr(spawner, "job_id", "") or ""),
        "project": request.project if request else None,
        "partition": request.partition if request else None,
        "gpus": request.gpus if request else 0,
        "started": _iso(getattr(orm, "started", None)),
        "last_activity": _iso(getattr(orm, "last_activity", None)),
        "gpu_idle_since": _iso(tracker.idle_since) if tracker and tracker.idle_since else None,
    }


class SessionsHandler(APIHandler):
    """GET: every running session, its project, GPUs and since when they are idle.
    Needs ``read:servers`` for all users (the dashboards service's role)."""

    @web.authenticated
    async def get(self):
        if self.parsed_scopes.get("read:servers") is not Scope.ALL:
            raise web.HTTPError(
                403,
                "listing every session needs the scope read:servers "
                "for all users (the dashboards service has it)",
            )
        rows = [
            session_row(user.name, spawner)
            for user in list(self.users.values())
            for spawner in list(user.spawners.values())
            if spawner.active
        ]
        self.finish(json.dumps({"sessions": rows}))
