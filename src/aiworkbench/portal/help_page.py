"""The hub's "Get help" page (``/hub/help``): a short form that sends the helpdesk a
support request about one of the user's own sessions, with its context, and the
copies of the user's earlier requests.

Links to it carry the session (``?server=NAME``) and, from an error page, the error it
showed (``?shown=…``); both only fill in the form. The session is looked up among the
user's own, its log read as the user (:mod:`aiworkbench.portal.support`).
"""

from __future__ import annotations

import asyncio
import smtplib
import time
from urllib.parse import urlencode

from jupyterhub.handlers import BaseHandler
from tornado import web

from aiworkbench.core.problems import Refused
from aiworkbench.core.site import Site
from aiworkbench.portal import support
from aiworkbench.sessions.cards import card, session_cards

ROUTE = r"/help"


class HelpHandler(BaseHandler):
    def initialize(self, site: Site):
        self.site = site

    @property
    def copies(self) -> support.Copies:
        return support.Copies(f"{self.site.hub.data_dir}/help")

    async def page(
        self, status: int = 200, form: dict | None = None, problem: str = "", sent: bool = False
    ) -> None:
        user = self.current_user
        form = form or {
            "session": self.get_argument("server", support.NO_SESSION),
            "shown": self.get_argument("shown", "")[: support.SHOWN_MAX],
        }
        self.set_status(status)
        self.finish(
            await self.render_template(
                "help.html",
                cards=session_cards(user),
                form=form,
                problem=problem,
                sent=sent,
                copies=self.copies.of(user.name),
                no_session=support.NO_SESSION,
                limits={"subject": support.SUBJECT_MAX, "text": support.TEXT_MAX},
                helpdesk=self.site.factory.helpdesk,
            )
        )

    @web.authenticated
    async def get(self):
        await self.page(sent=self.get_argument("sent", "") == "1")

    @web.authenticated
    async def post(self):
        user = self.current_user
        form = {
            key: self.get_body_argument(key, "") for key in ("subject", "text", "session", "shown")
        }
        if not self.site.factory.helpdesk:
            return await self.page(
                409, form, "This factory names no helpdesk: ask its administrators."
            )
        names = [c.name for c in session_cards(user)]
        try:
            request = support.read_form(user.name, form, names)
        except Refused as err:
            return await self.page(err.status, form, err.message)
        support.stamp(request)
        if request.session is not None:
            request.context, request.log = await context_of(user, request.session)
        entry = self.site.users.get(user.name)
        message = support.compose(self.site, request, entry.full_name if entry else "")
        try:
            # In a thread: a slow mail server must not hold the hub up.
            await asyncio.get_running_loop().run_in_executor(
                None, support.send, message, *support.relay(self.site)
            )
            request.delivered = True
        except (OSError, smtplib.SMTPException) as err:
            request.problem = support.not_sent_text(err)
            self.log.warning("Support request of %s not sent: %s", user.name, err)
        self.copies.add(request)
        if not request.delivered:
            return await self.page(
                503,
                form,
                f"Not sent: {request.problem}. Your request is kept below; "
                f"send it again later, or write to {self.site.factory.helpdesk}.",
            )
        self.log.info(
            "Support request %s of %s sent to %s",
            request.message_id,
            user.name,
            self.site.factory.helpdesk,
        )
        self.redirect(f"{self.hub.base_url}help?{urlencode({'sent': 1})}")


async def context_of(user, name: str) -> tuple[list[list[str]], list[str]]:
    """The context of ``user``'s own session ``name``: its card's rows, and the last lines
    of its log read as the user."""
    spawner = user.spawners[name]
    c = card(spawner, time.time())
    rows = [
        ["State", c.state_text],
        *([["Job", c.job_id]] if c.job_id else []),
        *([label, value] for label, value in c.details),
    ]
    log: list[str] = []
    if c.has_log:
        _job, text = await spawner.log_tail()  # its last LOG_LINES, as the card's Log
        log = text.splitlines()
    return rows, log


def hub_routes(site: Site) -> list[tuple]:
    return [(ROUTE, HelpHandler, {"site": site})]
