"""Budget routes of the workbench API: every answer comes from the cached reader.

A user sees only their own projects (and only their own usage and jobs in
them); holders of the read-all scope (managers, admins) see every project and
every user.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiworkbench_hub import slurm

from .base import APIError, APIHandler

BOOLEAN = {"true": True, "1": True, "false": False, "0": False}


def payload(snapshot, interval: float, user: str, projects: list[tuple[str, str | None]]):
    """The JSON answer: ``projects`` are (project, whose usage: a user or None for all)."""
    age = max(snapshot.age(), 0.0)
    return {
        "user": user,
        "as_of": datetime.fromtimestamp(snapshot.taken_at, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "age_s": round(age, 1),
        "refresh_interval_s": interval,
        "stale": bool(snapshot.error) or age > 2 * interval,
        "error": snapshot.error,
        "projects": [snapshot.projects[name].to_json(whose) for name, whose in projects
                     if name in snapshot.projects],
    }


def visible(site, me: str, read_all: bool, *, every: bool = False, user: str | None = None,
            project: str | None = None) -> list[tuple[str, str | None]]:
    """The projects ``me`` asks for, each with whose usage and jobs to show (a user, or
    None for everybody's), or :class:`APIError` saying why not. The one owner of who
    sees what, for the API and ``aiworkbench-budget --slurm``."""
    if project is not None:
        if project not in site.projects:
            raise APIError(404, f"no project {project!r}")
        member = project in site.projects_of(me)
        if not member and not read_all:
            mine = ", ".join(site.projects_of(me)) or "none"
            raise APIError(403, f"you are not a member of project {project!r}; your "
                                f"projects: {mine}")
        return [(project, me if member and not read_all else None)]
    if every and user is not None:
        raise APIError(400, "give either all=true or user=NAME, not both")
    if every:
        if not read_all:
            raise APIError(403, "only managers and admins may read every project's "
                                "budget; leave out all=true for your own projects")
        return [(name, None) for name in site.projects]
    user = me if user is None else user
    if user != me and not read_all:
        raise APIError(403, "you may read only your own budgets")
    if user not in site.users:
        raise APIError(404, f"no user {user!r}")
    return [(name, user) for name in site.projects_of(user)]


class BudgetsHandler(APIHandler):
    async def get(self, project: str | None = None):
        me = self.hub_user["name"]
        if project is not None:
            self.query({})
            chosen = visible(self.site, me, self.can_read_all(),
                             project=self.name_param(project, "project"))
        else:
            params = self.query({
                "all": "true or false: every project (managers and admins)",
                "user": "a user name: that user's projects (managers and admins; anyone "
                        "for themselves)"})
            every = params.get("all", "false").lower()
            if every not in BOOLEAN:
                raise APIError(400, f"all={params['all'][:40]!r} is not allowed; use true or "
                                    f"false")
            user = self.name_param(params["user"], "user") if "user" in params else None
            chosen = visible(self.site, me, self.can_read_all(), every=BOOLEAN[every],
                             user=user)
        snapshot = await self.snapshot()
        self.write_json(payload(snapshot, self.reader.interval, me, chosen))

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
            "age_s": None if snapshot is None else round(snapshot.age(), 1),
            "error": "" if snapshot is None else snapshot.error,
        })


ROUTES = [
    (r"budgets/?", BudgetsHandler),
    (r"budgets/([^/]+)/?", BudgetsHandler),
    (r"status/?", StatusHandler),
]
