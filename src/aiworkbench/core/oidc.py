"""OpenID Connect login: the provider's discovery document, the client secret, and the
mapping of a person's claims to a factory user and their projects.

Standard library only; the authenticator (aiworkbench.hub.authenticator) calls these
and turns :class:`LoginRefused` into a 403 page with its message.
"""

from __future__ import annotations

import json
import os
import re
import stat
import urllib.error
import urllib.request

from aiworkbench.core.site import Site

DISCOVERY_PATH = "/.well-known/openid-configuration"
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")
PROJECT_GROUP = "project-{}"


class OIDCSetupError(ValueError):
    """The hub cannot use the provider as configured (the hub does not start)."""


class LoginRefused(Exception):
    """A person the provider vouches for may not use this factory; the message says why."""


def discover(issuer: str, *, timeout: float = 15.0, urlopen=urllib.request.urlopen) -> dict:
    """The provider's endpoints from ISSUER/.well-known/openid-configuration:
    authorization_endpoint, token_endpoint, userinfo_endpoint (and the rest of the
    document). The document's issuer must be ``issuer``."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        with urlopen(
            urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=timeout
        ) as response:
            document = json.loads(response.read())
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise OIDCSetupError(f"auth.issuer: cannot read {url}: {reason}") from None
    except ValueError:
        raise OIDCSetupError(f"auth.issuer: {url} did not answer with JSON") from None
    if not isinstance(document, dict):
        raise OIDCSetupError(f"auth.issuer: {url} did not answer with a JSON object")
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise OIDCSetupError(
            f"auth.issuer: {url} names issuer {document.get('issuer')!r}, "
            f"not {issuer!r}; set auth.issuer to the provider's issuer"
        )
    missing = [key for key in ENDPOINTS if not document.get(key)]
    if missing:
        raise OIDCSetupError(f"auth.issuer: {url} has no {', '.join(missing)}")
    return document


def read_client_secret(path: str) -> str:
    """The client secret in the file at ``path``; refused when the file is missing,
    unreadable, empty, not a regular file, or readable by everyone."""
    where = f"auth.client_secret_file: {path}"
    try:
        info = os.stat(path)
    except OSError as err:
        raise OIDCSetupError(f"{where}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise OIDCSetupError(f"{where}: not a regular file")
    if info.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        raise OIDCSetupError(
            f"{where}: readable or writable by everyone (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); make it readable by the hub's "
            f"user only (chmod 0600, or 0640 with the hub's group)"
        )
    try:
        with open(path, encoding="utf-8") as file:
            secret = file.read().strip()
    except OSError as err:
        raise OIDCSetupError(
            f"{where}: {err.strerror} (the hub's user must be able to read it)"
        ) from None
    except UnicodeDecodeError:
        raise OIDCSetupError(f"{where}: not UTF-8 text") from None
    if not secret or "\n" in secret:
        raise OIDCSetupError(f"{where}: must hold the client secret on one line")
    return secret


def unix_user(claims: dict, site: Site) -> str:
    """The factory user that ``claims`` (the userinfo answer) name: the username claim,
    lower-cased, without '@domain' when auth.strip_domain is set."""
    auth = site.auth
    value = claims.get(auth.username_claim)
    if not isinstance(value, str) or not value.strip():
        raise LoginRefused(
            f"The identity provider did not send the claim "
            f"{auth.username_claim!r}, which names your factory account. "
            f"Ask the factory's administrators."
        )
    name = value.strip().lower()
    if auth.strip_domain:
        name = name.split("@", 1)[0]
    if name not in site.users:
        raise LoginRefused(
            f"{value!r} is not a user of {site.factory.name}: your account "
            f"at the identity provider is not a factory account. Ask the "
            f"factory's administrators to add you."
        )
    return name


def claimed_projects(value) -> list[str]:
    """The project names in a projects claim: a list of strings, or one string of names
    separated by spaces or commas."""
    if isinstance(value, str):
        return [p for p in re.split(r"[\s,]+", value) if p]
    if isinstance(value, list):
        return [p.strip() for p in value if isinstance(p, str) and p.strip()]
    return []


def login_projects(user: str, claims: dict, site: Site) -> list[str]:
    """The projects ``user`` works in for this login: without auth.projects_claim all
    their projects of the site file; with it, those the claim names too (at least one,
    or the login is refused)."""
    mine = site.projects_of(user)
    claim = site.auth.projects_claim
    if not claim:
        return mine
    named = set(claimed_projects(claims.get(claim)))
    granted = [p for p in mine if p in named]
    if not granted:
        raise LoginRefused(
            f"{user} is a user of {site.factory.name}, but the identity "
            f"provider names none of their projects ({', '.join(mine)}) in "
            f"the claim {claim!r}. Ask the factory's administrators."
        )
    return granted


def hub_groups_of(user: str, projects: list[str], site: Site) -> list[str]:
    """The hub groups of ``user`` at login: their role's and classes' groups from the
    site file, and project-NAME for each of ``projects``."""
    static = [
        g
        for g, members in site.hub_groups().items()
        if user in members and not g.startswith(PROJECT_GROUP.format(""))
    ]
    return sorted([*static, *(PROJECT_GROUP.format(p) for p in projects)])
