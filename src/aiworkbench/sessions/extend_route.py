"""The hub's Extend route: a user adds time to their own running session.

``POST /hub/api/aiworkbench/users/NAME/extend`` (the default session) or
``.../users/NAME/servers/SERVER/extend`` with ``{"minutes": N}``, from the home
page's card (cookie and XSRF token) or with a token: JupyterHub's ``servers``
scope for that user decides who may. The spawner hands the request to the
privileged helper (:mod:`aiworkbench.sessions.extend`), which checks the job,
the limits and the budget itself; its refusal comes back in its own words.
"""

from __future__ import annotations

import json

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

ROUTES = (r"/api/aiworkbench/users/([^/]+)/extend",
          r"/api/aiworkbench/users/([^/]+)/servers/([^/]+)/extend")
BODY = 'the body must be exactly {"minutes": <whole minutes>}'


class ExtendHandler(APIHandler):
    @needs_scope("servers")
    async def post(self, user_name: str, server_name: str = ""):
        user = self.find_user(user_name)
        spawner = user.spawners.get(server_name) if user is not None else None
        if spawner is None or not spawner.active:
            raise web.HTTPError(404, f"{user_name} has no running session "
                                     f"{server_name or '(the default one)'}")
        body = self.get_json_body()
        if not isinstance(body, dict) or set(body) != {"minutes"}:
            raise web.HTTPError(400, BODY)
        minutes = body["minutes"]
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise web.HTTPError(400, BODY)
        message = await spawner.extend(minutes)
        self.finish(json.dumps({"message": message}))


def hub_routes() -> list[tuple[str, type]]:
    return [(route, ExtendHandler) for route in ROUTES]
