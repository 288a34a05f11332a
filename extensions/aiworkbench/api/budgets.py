"""Budget routes of the workbench API: every answer comes from the cached reader.

A user sees only their own projects (and only their own usage and jobs in
them); holders of the read-all scope (managers, admins) see every project and
every user.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from aiworkbench_hub import slurm

from .base import APIError, APIHandler

BOOLEAN = {"true": True, "1": True, "false": False, "0": False}


def payload(snapshot, interval: float, user: str, projects: list[tuple[str, str | None]]):
    """The JSON answer: ``projects`` are (project, whose usage: a user or None for all)."""
    age = max(snapshot.age(), 0.0)
    return {
        "user": user,
        "as_of": datetime.fromtimestamp(snapshot.taken_at, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "age_s": round(age, 1),
        "refresh_interval_s": interval,
        "stale": bool(snapshot.error) or age > 2 * interval,
        "error": snapshot.error,
        "projects": [snapshot.projects[name].to_json(whose) for name, whose in projects
                     if name in snapshot.projects],
    }


class BudgetsHandler(APIHandler):
    async def get(self, project: str | None = None):
        me = self.hub_user["name"]
        if project is not None:
            self.query({})
            project = self.name_param(project, "project")
            if project not in self.site.projects:
                raise APIError(404, f"no project {project!r}")
            member = project in self.site.projects_of(me)
            if not member and not self.can_read_all():
                mine = ", ".join(self.site.projects_of(me)) or "none"
                raise APIError(403, f"you are not a member of project {project!r}; your "
                                    f"projects: {mine}")
            chosen = [(project, me if member and not self.can_read_all() else None)]
        else:
            chosen = self.chosen_projects(me)
        snapshot = await self.snapshot()
        self.write_json(payload(snapshot, self.reader.interval, me, chosen))

    def chosen_projects(self, me: str) -> list[tuple[str, str | None]]:
        params = self.query({"all": "true or false: every project (managers and admins)",
                             "user": "a user name: that user's projects (managers and "
                                     "admins; anyone for themselves)"})
        every = params.get("all", "false").lower()
        if every not in BOOLEAN:
            raise APIError(400, f"all={params['all'][:40]!r} is not allowed; use true or false")
        if BOOLEAN[every] and "user" in params:
            raise APIError(400, "give either all=true or user=NAME, not both")
        if BOOLEAN[every]:
            if not self.can_read_all():
                raise APIError(403, "only managers and admins may read every project's "
                                    "budget; leave out all=true for your own projects")
            return [(name, None) for name in self.site.projects]
        user = self.name_param(params.get("user", me), "user")
        if user != me and not self.can_read_all():
            raise APIError(403, "you may read only your own budgets")
        if user not in self.site.users:
            raise APIError(404, f"no user {user!r}")
        return [(name, user) for name in self.site.projects_of(user)]

    async def snapshot(self):
        try:
            return await self.reader.snapshot()
        except slurm.SlurmError as err:
            raise APIError(503, f"Slurm accounting cannot be read: {err}") from None


class StatusHandler(APIHandler):
    async def get(self):
        self.query({})
        snapshot = self.reader.cached()
        self.write_json({
            "refresh_interval_s": self.reader.interval,
            "refreshes": self.reader.refreshes,
            "age_s": None if snapshot is None else round(time.time() - snapshot.taken_at, 1),
            "error": "" if snapshot is None else snapshot.error,
        })


ROUTES = [
    (r"budgets/?", BudgetsHandler),
    (r"budgets/([^/]+)/?", BudgetsHandler),
    (r"status/?", StatusHandler),
]
