"""Support requests ("Get help"): a short message to the site's helpdesk with the
context of one of the user's own sessions, sent through a real mail transfer agent, and
a copy kept for the user.

The context is the session's card (state, job, project, partition, node, resources)
and the last lines of its log, read as its user, from the hub's own state: a user
chooses among their own sessions by name and nothing else is looked up. The message
goes by SMTP to the login node's exim (the ansible role ``mail``: Debian's MTA, which
delivers to local mailboxes or to the site's smarthost), or to the site's own server
(``mail.relay``). Copies: one JSON line per request in ``hub.data_dir/help/USER.jsonl``,
which only the hub's user reads; the help page shows a user their own.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from aiworkbench.core import names
from aiworkbench.core.daemons import DAEMONS
from aiworkbench.core.problems import Refused
from aiworkbench.core.site import Site

SUBJECT_MAX = 120  # characters
TEXT_MAX = 5000
SHOWN_MAX = 1000  # the error a page showed, attached as it was
KEPT = 20  # the copies the help page lists, newest first
NO_SESSION = "-"  # the form's choice for a request about no session in particular
SEND_TIMEOUT_S = 15
# Control characters other than tab and newline (a carriage return included).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class HelpRequest:
    user: str
    subject: str
    text: str
    session: str | None  # the server's name ('' : the default session); None: none
    shown: str = ""  # the error the page showed, when the request came from one
    context: list[list[str]] = field(default_factory=list)  # [label, value] rows
    log: list[str] = field(default_factory=list)  # the session's last log lines
    sent_at: float = 0.0
    message_id: str = ""
    delivered: bool = False
    problem: str = ""  # why it was not sent, when it was not

    @property
    def session_title(self) -> str:
        return session_title(self.session)

    @property
    def sent_text(self) -> str:
        return datetime.fromtimestamp(self.sent_at).strftime("%Y-%m-%d %H:%M")


def session_title(name: str | None) -> str:
    if name is None:
        return "no session in particular"
    return f"session “{name}”" if name else "the default session"


def read_form(user: str, form: dict[str, str], sessions: list[str]) -> HelpRequest:
    """The request in ``form`` (subject, text, session, shown), checked; ``sessions``:
    the names of the user's own sessions. Refused (400) says what was wrong."""
    subject = " ".join(form.get("subject", "").split())
    text = form.get("text", "").replace("\r\n", "\n").strip()
    session = form.get("session", NO_SESSION)
    shown = " ".join(form.get("shown", "").split())[:SHOWN_MAX]
    problems = [
        p
        for p in (
            text_problem(
                subject,
                "subject",
                SUBJECT_MAX,
                "say in a few words what is wrong",
                "letters, digits and punctuation only",
            ),
            text_problem(
                text,
                "description",
                TEXT_MAX,
                "describe what you did and what happened",
                "text, tabs and line breaks only",
            ),
        )
        if p
    ]
    if session != NO_SESSION and session not in sessions:
        choices = ", ".join(session_title(s) for s in sessions) or "none"
        problems.append(f"you have no session {session!r}; yours: {choices}")
    if CONTROL.search(shown):
        shown = CONTROL.sub(" ", shown)
    if problems:
        raise Refused(400, "Not sent: " + "; ".join(problems) + ".")
    return HelpRequest(
        user=user,
        subject=subject,
        text=text,
        session=None if session == NO_SESSION else session,
        shown=shown,
    )


def text_problem(value: str, what: str, limit: int, ask: str, allowed: str) -> str:
    """What is wrong with the form's field ``what`` ('' if nothing)."""
    if not value:
        return f"{ask} (the {what} is empty)"
    if len(value) > limit:
        return f"the {what} has {len(value)} characters; at most {limit}"
    if CONTROL.search(value):
        return f"the {what} has control characters; {allowed}"
    return ""


def relay(site: Site) -> tuple[str, int]:
    """The SMTP server the hub hands mail to: mail.relay, else the login node's exim."""
    if site.mail.relay:
        host, port = site.mail.relay.rsplit(":", 1)
        return host, int(port)
    return "127.0.0.1", DAEMONS["exim"]["port"]


def compose(site: Site, request: HelpRequest, full_name: str = "") -> EmailMessage:
    """The mail to the helpdesk: the user's words, then the context, then the log."""
    message = EmailMessage()
    message["From"] = f"{site.factory.name} <{site.mail.sender or site.hub.user + '@localhost'}>"
    message["To"] = site.factory.helpdesk
    message["Subject"] = f"[{site.factory.name}] {request.subject} ({request.user})"
    message["Date"] = formatdate(request.sent_at, localtime=True)
    message["Message-ID"] = request.message_id
    message["X-Workbench-User"] = request.user
    who = f"{request.user} ({full_name})" if full_name else request.user
    lines = [
        request.text,
        "",
        "-- Context, attached by the workbench --",
        f"User: {who}",
        f"About: {request.session_title}",
    ]
    lines += [f"{label}: {value}" for label, value in request.context]
    if request.shown:
        lines.append(f"Error shown: {request.shown}")
    if request.log:
        lines += ["", "-- The session's log, its last lines --", *request.log]
    message.set_content("\n".join(lines) + "\n")
    return message


def send(message: EmailMessage, host: str, port: int) -> None:
    """Hand ``message`` to the SMTP server at host:port; OSError or SMTPException when it
    does not take it."""
    with smtplib.SMTP(host, port, timeout=SEND_TIMEOUT_S) as server:
        server.send_message(message)


def new_message_id() -> str:
    return make_msgid(domain="aiworkbench.local")


def not_sent_text(err: Exception) -> str:
    """Why a request was not sent, in words ('the mail server did not answer')."""
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return "the mail server refused the helpdesk's address"
    if isinstance(err, smtplib.SMTPException):
        return f"the mail server refused it ({' '.join(str(err).split())[:200]})"
    return "the mail server did not answer"


class Copies:
    """The users' copies of their requests: ``folder/USER.jsonl``, for the hub's user
    only (folder 0700, files 0600)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _file(self, user: str) -> Path:
        return self.folder / f"{names.USER.check(user)}.jsonl"

    def add(self, request: HelpRequest) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = json.dumps(asdict(request), ensure_ascii=False) + "\n"
        fd = os.open(self._file(request.user), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(line)

    def of(self, user: str) -> list[HelpRequest]:
        """The user's last KEPT requests, newest first."""
        try:
            lines = self._file(user).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        kept = []
        for line in reversed(lines[-KEPT:]):
            try:
                kept.append(HelpRequest(**json.loads(line)))
            except (ValueError, TypeError):  # a line cut short by a crash: skipped
                continue
        return kept


def stamp(request: HelpRequest, now: float | None = None) -> HelpRequest:
    request.sent_at = time.time() if now is None else now
    request.message_id = new_message_id()
    return request
