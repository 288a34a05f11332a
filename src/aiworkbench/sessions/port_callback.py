"""The hub's end of the port report: a session's job says which port it listens on.

Replaces batchspawner's ``/api/batchspawner`` handler, which sets any spawner
attribute named in the posted JSON. This one accepts exactly ``{"port": N}``,
only with the token of the very server that is starting, and takes the host
from the connection's socket (the node the job runs on): never from the request body,
nor from an X-Real-Ip or X-Forwarded-For header, which JupyterHub's server (xheaders)
would otherwise believe. The job reaches the hub's API directly (JUPYTERHUB_API_URL),
so the socket's peer is the node.
"""

from __future__ import annotations

import json
import socket

from jupyterhub import apihandlers
from jupyterhub.apihandlers import APIHandler
from tornado import web

ROUTE = r"/api/aiworkbench/session-port"


def own_session(handler: APIHandler):
    """The session (spawner) whose own server token authenticated ``handler``'s request,
    or None: a user's other tokens speak for the user, not for a session."""
    token = handler.get_auth_token() or ""
    return next(
        (
            s
            for s in handler.current_user.spawners.values()
            if hasattr(s, "owns_token") and s.owns_token(token)
        ),
        None,
    )


def peer_address(handler: APIHandler) -> str | None:
    """The IP address at the other end of the request's TCP connection (not the one a
    header names), or None when the request did not come over TCP/IP."""
    context = getattr(handler.request.connection, "context", None)
    if getattr(context, "address_family", None) not in (socket.AF_INET, socket.AF_INET6):
        return None
    return str(context.address[0]).removeprefix("::ffff:")


class SessionPortHandler(APIHandler):
    """POST {"port": N} with the starting server's own API token."""

    @web.authenticated
    def post(self):
        spawner = own_session(self)
        if spawner is None:
            raise web.HTTPError(403, "only a session's own server token may report its port")
        if not hasattr(spawner, "accepts_port_report") or not spawner.accepts_port_report():
            raise web.HTTPError(409, "this server is not starting")
        body = self.get_json_body()
        if not isinstance(body, dict) or set(body) != {"port"}:
            raise web.HTTPError(400, 'the body must be exactly {"port": <integer>}')
        port = body["port"]
        if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= 65535:
            raise web.HTTPError(400, "port must be an integer from 1024 to 65535")
        host = peer_address(self)
        if host is None:
            raise web.HTTPError(
                400, "the port report must come over TCP/IP from the session's node"
            )
        spawner.report_port(host, port)
        self.set_status(201)
        self.finish(json.dumps({"message": f"session port {port} on {host} recorded"}))


def hub_routes(*routes: tuple[str, type]) -> list[tuple[str, type]]:
    """This handler and ``routes`` (the workbench's other session reports), for
    ``c.JupyterHub.extra_handlers``: JupyterHub's configuration for routes served by the
    hub itself (under its prefix, before its API's 404). They live in the hub because
    they act on the hub's own spawner objects, which no service can reach."""
    return [(ROUTE, SessionPortHandler), *routes]


def drop_batchspawner_route() -> None:
    """Undo batchspawner's import-time registration of ``/api/batchspawner`` (it sets any
    spawner attribute named in the posted JSON): the one route batchspawner adds to
    JupyterHub's handler list, taken out again before the hub builds its routes."""
    import batchspawner.api  # noqa: F401 (registers its handler on import)

    apihandlers.default_handlers[:] = [
        route for route in apihandlers.default_handlers if route[0] != r"/api/batchspawner"
    ]
