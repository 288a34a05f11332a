"""What every route of the workbench API shares: the hub's user, JSON, clear refusals."""

from __future__ import annotations

import json

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web
from tornado.log import app_log

from aiworkbench.budgets.accounting import READ_ALL, AccountingReader
from aiworkbench.core.names import NameRule
from aiworkbench.core.problems import Refused
from aiworkbench.core.store_schema import SchemaError


class APIError(web.HTTPError):
    """A refusal with a message for the caller (what was wrong, what is allowed)."""

    def __init__(self, status: int, message: str):
        super().__init__(status, reason=None)
        self.message = message


class APIHandler(HubOAuthenticated, web.RequestHandler):
    """Base of the API's handlers: JSON in and out, the hub's user on every request."""

    async def prepare(self):
        model = await self.hub_auth.get_user(self, sync=False)
        if model is None:
            raise APIError(401, "log in to the hub, or send a hub token (Authorization: token ...)")
        if not self.hub_auth.check_scopes(self.hub_auth.access_scopes, model):
            raise APIError(
                403,
                "this token may not use the workbench API (it lacks "
                "access:services!service=workbench)",
            )
        self.hub_user = model

    @property
    def reader(self) -> AccountingReader:
        return self.settings["reader"]

    @property
    def site(self):
        return self.settings["site"]

    def can_read_all(self) -> bool:
        return READ_ALL in set(self.hub_user.get("scopes", ()))

    def query(self, allowed: dict[str, str]) -> dict[str, str]:
        """The query parameters, each given once and among ``allowed`` (name -> what it
        takes); anything else is a 400 that lists what is allowed."""
        unknown = sorted(set(self.request.arguments) - set(allowed))
        if unknown:
            listing = "; ".join(f"{k} ({v})" for k, v in allowed.items()) or "none"
            raise APIError(
                400, f"unknown query parameter(s) {', '.join(unknown)}; allowed: {listing}"
            )
        values = {}
        for name, raw in self.request.arguments.items():
            if len(raw) != 1:
                raise APIError(400, f"query parameter {name} given {len(raw)} times; once at most")
            values[name] = raw[0].decode("utf-8", "replace")
        return values

    def body(self, allowed: dict[str, str], limit: int = 64 * 1024) -> dict:
        """The request's JSON object, with exactly the keys of ``allowed`` (name -> what it
        takes); anything else is a 400 that lists what is allowed."""
        listing = "; ".join(f"{k} ({v})" for k, v in allowed.items())
        if len(self.request.body) > limit:
            raise APIError(400, f"the body has {len(self.request.body)} bytes; at most {limit}")
        try:
            data = json.loads(self.request.body or b"null")
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise APIError(400, f"the body must be a JSON object with {listing}")
        unknown, missing = sorted(set(data) - set(allowed)), sorted(set(allowed) - set(data))
        if unknown or missing:
            wrong = ", ".join(
                [*(f"unknown {k!r}" for k in unknown), *(f"missing {k!r}" for k in missing)]
            )
            raise APIError(400, f"{wrong}; the body takes exactly: {listing}")
        return data

    def name_param(self, value: str, rule: NameRule) -> str:
        """``value``, a name from the path or the query, if ``rule`` allows it; else a 400
        that says what is allowed (:mod:`aiworkbench.core.names`)."""
        why = rule.problem(value)
        if why:
            raise APIError(400, why)
        return value

    def write_json(self, payload) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(payload))

    def log_exception(self, typ, value, tb):
        if isinstance(value, Refused):  # an answer, not a fault: logged as tornado logs 4xx
            app_log.warning("%d %s: %s", value.status, self._request_summary(), value.message)
        else:
            super().log_exception(typ, value, tb)

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        message = getattr(exc, "message", None) or self._reason
        if isinstance(exc, Refused):  # a feature's refusal: its status and words
            status_code, message = exc.status, exc.message
            self.set_status(status_code)
        elif isinstance(exc, SchemaError):  # a store's file of another version: the
            status_code, message = 503, str(exc)  # API cannot use it until an admin acts
            self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))


class NotFoundHandler(APIHandler):
    async def prepare(self):
        await super().prepare()
        raise APIError(404, f"no such API path {self.request.path!r}")
