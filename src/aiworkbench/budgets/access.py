"""Who sees which budget, and the budgets' answer: the one owner of both, for the API
(:mod:`.api`) and ``aiworkbench-budget --slurm`` (:mod:`.cli`).

A user sees only their own projects (and only their own usage and jobs in them);
holders of the read-all scope (managers, admins) see every project and every user.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiworkbench.core.problems import Refused


def payload(snapshot, interval: float, user: str, projects: list[tuple[str, str | None]]):
    """The JSON answer: ``projects`` are (project, whose usage: a user or None for all)."""
    age = max(snapshot.age(), 0.0)
    return {
        "user": user,
        "as_of": datetime.fromtimestamp(snapshot.taken_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "age_s": round(age, 1),
        "refresh_interval_s": interval,
        "stale": bool(snapshot.error) or age > 2 * interval,
        "error": snapshot.error,
        "projects": [
            snapshot.projects[name].to_json(whose)
            for name, whose in projects
            if name in snapshot.projects
        ],
    }


def visible(
    site,
    me: str,
    read_all: bool,
    *,
    every: bool = False,
    user: str | None = None,
    project: str | None = None,
) -> list[tuple[str, str | None]]:
    """The projects ``me`` asks for, each with whose usage and jobs to show (a user, or
    None for everybody's), or :class:`Refused` saying why not."""
    if project is not None:
        if project not in site.projects:
            raise Refused(404, f"no project {project!r}")
        member = project in site.projects_of(me)
        if not member and not read_all:
            mine = ", ".join(site.projects_of(me)) or "none"
            raise Refused(
                403, f"you are not a member of project {project!r}; your projects: {mine}"
            )
        return [(project, me if member and not read_all else None)]
    if every and user is not None:
        raise Refused(400, "give either all=true or user=NAME, not both")
    if every:
        if not read_all:
            raise Refused(
                403,
                "only managers and admins may read every project's "
                "budget; leave out all=true for your own projects",
            )
        return [(name, None) for name in site.projects]
    user = me if user is None else user
    if user != me and not read_all:
        raise Refused(403, "you may read only your own budgets")
    if user not in site.users:
        raise Refused(404, f"no user {user!r}")
    return [(name, user) for name in site.projects_of(user)]
