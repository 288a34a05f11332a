"""The hub's services, the workbench API, the managers' dashboards and the idle culler
(jupyterhub-idle-culler): the one owner of how each runs.

Both are *external* JupyterHub services: the hub's configuration names them (address,
API token, OAuth client; :func:`hub_entry`) but does not start them. A process
supervisor runs each as its own program, as its own Unix user, through
``aiworkbench-service NAME`` (:func:`main`). That command reads the service's token file,
sets exactly the ``JUPYTERHUB_*`` variables JupyterHub gives a service it starts itself
(:func:`service_environment`) and the service's own settings, then execs the service:
the supervisor's process *is* the service, so stopping the program stops the service,
and a service that fails to start takes nothing else down.

Each service's API token is a file ``SERVICE_TOKEN_DIR/NAME.token`` (one line, hex)
that both the hub user and the service's user can read, no one else: owner the
service's user, group the hub user's, mode 0440 (the workbench API runs as the hub user:
0400).

Standard library only (like :mod:`.site`).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from aiworkbench.core import daemons
from aiworkbench.core.site import SITE_ENV, SITE_FILE, Site, SiteError, default_site_file, load_site

API_SERVICE = "workbench"  # the workbench API, at /services/workbench/
DASHBOARDS_SERVICE = "dashboards"  # the managers' Voila dashboards, /services/dashboards/
CULLER_SERVICE = "idle-culler"  # jupyterhub-idle-culler: no address of its own
HUB_PREFIX = "/hub/"  # JupyterHub.base_url is not set: the hub is at /hub/
TOKEN_SUFFIX = ".token"
TOKEN_PATTERN = re.compile(r"[0-9a-fA-F]{32,}")  # `openssl rand -hex 32`: 64 digits
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"  # after the service's environment's bin


class ServiceError(Exception):
    """A service cannot be configured or started as asked; the message says why."""


@dataclass(frozen=True)
class Service:
    """How one service runs: its name (the hub's, /services/NAME/), loopback port (0: it
    serves nothing, it only calls the hub), the program the supervisor's process becomes
    and its arguments, its Unix user, and its own settings."""

    name: str
    port: int
    program: str
    user: str
    environment: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """Where it listens, and where the hub's proxy sends /services/NAME/."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def prefix(self) -> str:
        return f"/services/{self.name}/"


def _workbench(site: Site, site_file: str) -> Service:
    return Service(
        API_SERVICE,
        site.hub.api_port,
        f"{site.factory.hub_env}/bin/aiworkbench-api",
        site.hub.user,
        {SITE_ENV: site_file},
    )


def _dashboards(site: Site, site_file: str) -> Service:
    dash = site.dashboards
    return Service(
        DASHBOARDS_SERVICE,
        dash.port,
        f"{site.factory.kernel_env}/bin/aiworkbench-dashboards",
        dash.user,
        {
            "AIWORKBENCH_DASHBOARDS_STORE": dash.store,
            "AIWORKBENCH_DASHBOARDS_DIR": f"{site.factory.prefix}/dashboards",
            "AIWORKBENCH_DASHBOARDS_INGEST_SECONDS": str(dash.ingest_seconds),
            "AIWORKBENCH_DASHBOARDS_HISTORY_DAYS": str(dash.history_days),
            "AIWORKBENCH_SLURM_READER": site.slurm.reader,
            # Straight to the API's loopback port, not through the proxy: the
            # same machine, and no TLS to verify when the proxy serves https.
            "AIWORKBENCH_API_URL": api_url(site),
        },
    )


def _idle_culler(site: Site, site_file: str) -> Service:
    idle = site.idle
    return Service(
        CULLER_SERVICE,
        0,
        f"{site.factory.hub_env}/bin/python3",
        site.hub.user,
        args=(
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={idle.cull_minutes * 60}",
            f"--cull-every={idle.cull_every_minutes * 60}",
        ),
    )


# The services, by name: each builds its Service from the site (and the site file's path).
SERVICES = {API_SERVICE: _workbench, DASHBOARDS_SERVICE: _dashboards, CULLER_SERVICE: _idle_culler}


def enabled(site: Site) -> list[str]:
    """The services this site runs (the culler only when idle.cull_minutes is set)."""
    return [name for name in SERVICES if name != CULLER_SERVICE or site.idle.cull_minutes]


def service(site: Site, name: str, site_file: str | None = None) -> Service:
    """Service ``name`` of ``site``; ServiceError for a name that is not one."""
    if name not in SERVICES:
        raise ServiceError(f"no service {name!r}: the services are {', '.join(SERVICES)}")
    return SERVICES[name](site, site_file or default_site_file())


def api_url(site: Site) -> str:
    """The workbench API on its loopback port (for the hub machine's own callers)."""
    return f"http://127.0.0.1:{site.hub.api_port}/services/{API_SERVICE}/api"


def token_file(name: str, directory: str | None = None) -> str:
    """The file holding service ``name``'s API token."""
    folder = directory or daemons.DAEMONS["service_token_dir"]
    return os.path.join(folder, f"{name}{TOKEN_SUFFIX}")


def read_token(name: str, directory: str | None = None) -> str:
    """Service ``name``'s API token from its token file; ServiceError (naming the file
    and what it should be) when it is missing, unreadable, not one line of hex, or
    readable by others than the service's user and the hub's group."""
    path = token_file(name, directory)
    expected = (
        f"it must hold the service's API token, one line of hex, and be readable "
        f"by the service's user and the hub's group only (chmod 0440; 0400 for "
        f"{API_SERVICE} and {CULLER_SERVICE}, which run as the hub user)"
    )
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise ServiceError(
            f"service {name}: token file {path}: {err.strerror}; {expected}"
        ) from None
    try:
        info = os.fstat(fd)  # of the file opened: checked and read are the same
        if not stat.S_ISREG(info.st_mode):
            raise ServiceError(
                f"service {name}: token file {path} is not a regular file; {expected}"
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & (stat.S_IRWXO | stat.S_IWGRP):
            raise ServiceError(
                f"service {name}: token file {path} is open to others (mode {mode:04o}); {expected}"
            )
        try:
            text = os.read(fd, 4096).decode("ascii")
        except OSError as err:
            raise ServiceError(
                f"service {name}: token file {path}: {err.strerror}; {expected}"
            ) from None
        except UnicodeDecodeError:
            text = "\0"  # not hex: refused below
    finally:
        os.close(fd)
    token = text.strip()
    if not token:
        raise ServiceError(f"service {name}: token file {path} is empty; {expected}")
    if not TOKEN_PATTERN.fullmatch(token):
        raise ServiceError(
            f"service {name}: token file {path} does not hold one line of "
            f"at least 32 hex digits; {expected}"
        )
    return token


def read_tokens(site: Site, directory: str | None = None) -> dict[str, str]:
    """The token of every service ``site`` runs (the hub reads them all at start)."""
    return {name: read_token(name, directory) for name in enabled(site)}


def hub_entry(site: Site, name: str, token: str) -> dict:
    """The service as the hub's configuration names it (an item of
    JupyterHub.services): external (no command), at its loopback address, with its token
    and OAuth client. What the hub knows of it must match :func:`service_environment`."""
    svc = service(site, name)
    if not svc.port:
        return {"name": svc.name, "api_token": token}
    return {
        "name": svc.name,
        "url": svc.url,
        "api_token": token,
        "oauth_client_id": client_id(svc.name),
        "oauth_redirect_uri": oauth_callback(svc.name),
    }


def client_id(name: str) -> str:
    """JupyterHub's OAuth client id of a service (it requires the 'service-' prefix)."""
    return f"service-{name}"


def oauth_callback(name: str) -> str:
    """The service's OAuth callback, JupyterHub's default for a service with a URL."""
    return f"/services/{name}/oauth_callback"


def hub_api_url(site: Site) -> str:
    """The hub's API, where a service on the hub machine calls it: the hub's own
    address (hub.hub_ip:hub.hub_port), loopback when it listens on every address."""
    hub = site.hub
    ip = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(hub.hub_ip, hub.hub_ip)
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{hub.hub_port}{HUB_PREFIX}api"


def service_environment(
    site: Site, name: str, token: str, site_file: str | None = None
) -> dict[str, str]:
    """What service ``name`` finds in its environment: the ``JUPYTERHUB_*`` variables
    JupyterHub's own ``Service.start`` gives a service it starts (jupyterhub/services/
    service.py and Spawner.get_env: identity, token, hub API, OAuth client and scopes,
    public addresses), then the service's own settings."""
    svc = service(site, name, site_file)
    if not svc.port:  # JupyterHub gives a service without an address only these
        return {
            "JUPYTERHUB_SERVICE_NAME": svc.name,
            "JUPYTERHUB_API_TOKEN": token,
            "JUPYTERHUB_API_URL": hub_api_url(site),
            "JUPYTERHUB_BASE_URL": "/",
            **svc.environment,
        }
    public = site.hub.public_url  # c.JupyterHub.public_url, set only when given
    origin = urlparse(public)._replace(path="").geturl() if public else ""
    access = ["access:services", f"access:services!service={svc.name}"]
    env = {
        "JUPYTERHUB_SERVICE_NAME": svc.name,
        "JUPYTERHUB_SERVICE_URL": svc.url,
        "JUPYTERHUB_SERVICE_PREFIX": svc.prefix,
        "JUPYTERHUB_API_TOKEN": token,
        "JUPYTERHUB_API_URL": hub_api_url(site),
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_CLIENT_ID": client_id(svc.name),
        "JUPYTERHUB_OAUTH_CALLBACK_URL": oauth_callback(svc.name),
        "JUPYTERHUB_OAUTH_SCOPES": json.dumps(access),  # the name before JupyterHub 3
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(access),
        "JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES": json.dumps([]),
        "JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED": "0",
        "JUPYTERHUB_HOST": origin,
        "JUPYTERHUB_PUBLIC_URL": f"{origin}{svc.prefix}" if origin else "",
        "JUPYTERHUB_PUBLIC_HUB_URL": f"{origin}{HUB_PREFIX}" if origin else "",
        # A service the hub starts has no user or server name of its own.
        "JUPYTERHUB_USER": "",
        "JUPYTERHUB_SERVER_NAME": "",
    }
    return env | svc.environment


def exec_environment(
    site: Site, svc: Service, token: str, site_file: str, home: str, inherited: dict[str, str]
) -> dict[str, str]:
    """The service program's whole environment: what the supervisor gave (PATH, LANG,
    …) without any JUPYTERHUB_* variable of its own, PATH led by the bin folder of the
    service's Python environment, HOME of the service's user, then
    :func:`service_environment`."""
    env = {k: v for k, v in inherited.items() if not k.startswith("JUPYTERHUB_")}
    # The service's own environment first (the dashboards run from the kernels', the
    # others from the hub's), so that what it starts comes from there too.
    own = str(Path(svc.program).parent)
    rest = [d for d in (inherited.get("PATH") or SYSTEM_PATH).split(":") if d and d != own]
    env["PATH"] = ":".join([own, *rest])
    env.setdefault("LANG", "C.UTF-8")
    env["HOME"] = home
    env[SITE_ENV] = site_file
    return env | service_environment(site, svc.name, token, site_file)


def become(account: pwd.struct_passwd) -> None:
    """Drop root for the service's own user, groups included, for good."""
    os.initgroups(account.pw_name, account.pw_gid)
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)


def main(
    argv: list[str] | None = None,
    *,
    execve=os.execve,
    uid: int | None = None,
    token_dir: str | None = None,
    drop=become,
) -> None:
    """``aiworkbench-service NAME``: run service NAME in this process (the supervisor's
    program). Started as root, it reads the site file and the token (the site file is
    the hub group's only: it holds the demo's passwords), then becomes the service's user
    before it runs the service; started as that user, it runs it directly. ``execve``,
    ``uid``, ``token_dir`` and ``drop`` are seams for tests."""
    parser = argparse.ArgumentParser(
        prog="aiworkbench-service",
        description="Run one of the hub's external services in this process, as the "
        "supervisor's program: check the Unix user, read the service's API "
        "token, set the environment JupyterHub would give it, exec it.",
    )
    parser.add_argument(
        "name", metavar="NAME", choices=list(SERVICES), help=f"the service: {', '.join(SERVICES)}"
    )
    parser.add_argument(
        "--site",
        default=default_site_file(),
        help=f"the site file (default: ${SITE_ENV} or {SITE_FILE})",
    )
    args = parser.parse_args(argv)
    site_file = os.path.abspath(args.site)
    where = f"aiworkbench-service {args.name}"
    try:
        site = load_site(site_file)
    except SiteError as err:
        sys.exit(f"{where}: {err}")
    svc = service(site, args.name, site_file)
    try:
        account = pwd.getpwnam(svc.user)
    except KeyError:
        sys.exit(f"{where}: its user {svc.user!r} does not exist (create it: make up)")
    uid = os.geteuid() if uid is None else uid
    if uid not in (0, account.pw_uid):
        try:
            running = pwd.getpwuid(uid).pw_name
        except KeyError:
            running = f"uid {uid}"
        sys.exit(f"{where}: runs as {svc.user!r} (or starts as root), not as {running!r}")
    try:
        token = read_token(svc.name, token_dir)
    except ServiceError as err:
        sys.exit(f"{where}: {err}")
    env = exec_environment(site, svc, token, site_file, account.pw_dir, dict(os.environ))
    if uid == 0:
        drop(account)
    try:
        execve(svc.program, [svc.program, *svc.args], env)
    except OSError as err:
        sys.exit(
            f"{where}: cannot run {svc.program}: {err.strerror} (is the factory's "
            f"environment installed?)"
        )


if __name__ == "__main__":
    main()
