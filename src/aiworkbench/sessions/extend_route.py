"""The hub's routes of a user's session: Extend, and its log.

Extend: a user adds time to their own running session.

``POST /hub/api/aiworkbench/users/NAME/extend`` (the default session) or
``.../users/NAME/servers/SERVER/extend`` with ``{"minutes": N}``, from the home
page's card (cookie and XSRF token) or with a token: JupyterHub's ``servers``
scope for that user decides who may. The spawner hands the request to the
privileged helper (:mod:`aiworkbench.sessions.extend`), which checks the job,
the limits and the budget itself; its refusal comes back in its own words.

Log: ``GET .../users/NAME[/servers/SERVER]/log``, the last lines of the session's
log (its latest job's, even after it ended), read as the user: for the user
themselves and for admins only (a service with ``read:servers`` is not enough).
"""

from __future__ import annotations

import json

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

ROUTES = (
    r"/api/aiworkbench/users/([^/]+)/extend",
    r"/api/aiworkbench/users/([^/]+)/servers/([^/]+)/extend",
)
LOG_ROUTES = (
    r"/api/aiworkbench/users/([^/]+)/log",
    r"/api/aiworkbench/users/([^/]+)/servers/([^/]+)/log",
)
BODY = 'the body must be exactly {"minutes": <whole minutes>}'


class ExtendHandler(APIHandler):
    @needs_scope("servers")
    async def post(self, user_name: str, server_name: str = ""):
        user = self.find_user(user_name)
        spawner = user.spawners.get(server_name) if user is not None else None
        if spawner is None or not spawner.active:
            raise web.HTTPError(
                404, f"{user_name} has no running session {server_name or '(the default one)'}"
            )
        body = self.get_json_body()
        if not isinstance(body, dict) or set(body) != {"minutes"}:
            raise web.HTTPError(400, BODY)
        minutes = body["minutes"]
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise web.HTTPError(400, BODY)
        message = await spawner.extend(minutes)
        self.finish(json.dumps({"message": message}))


class LogHandler(APIHandler):
    @needs_scope("read:servers")
    async def get(self, user_name: str, server_name: str = ""):
        me = self.current_user
        if getattr(me, "kind", "") != "user" or (me.name != user_name and not me.admin):
            raise web.HTTPError(403, "a session's log is for its user and admins only")
        user = self.find_user(user_name)
        spawner = user.spawners.get(server_name) if user is not None else None
        if spawner is None or not hasattr(spawner, "log_tail"):
            raise web.HTTPError(
                404, f"{user_name} has no session {server_name or '(the default one)'}"
            )
        job_id, text = await spawner.log_tail()
        if not job_id:
            raise web.HTTPError(404, "this session has not run a job yet: it has no log")
        self.finish(json.dumps({"job_id": job_id, "lines": text.splitlines()}))


def hub_routes() -> list[tuple[str, type]]:
    return [
        *((route, ExtendHandler) for route in ROUTES),
        *((route, LogHandler) for route in LOG_ROUTES),
    ]
