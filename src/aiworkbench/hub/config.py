"""Apply a validated site to JupyterHub's configuration object."""

from __future__ import annotations

import shutil
import socket

from aiworkbench.budgets.accounting import READ_ALL, AccountingReader, warnings_for
from aiworkbench.core import oidc
from aiworkbench.core.daemons import hub_pidfile
from aiworkbench.core.site import Site
from aiworkbench.hub import services
from aiworkbench.hub.services import API_SERVICE, CULLER_SERVICE, DASHBOARDS_SERVICE
from aiworkbench.hub.shared import SETTINGS_KEY, HubShared
from aiworkbench.portal import help_page
from aiworkbench.portal.pages import apply_portal
from aiworkbench.sessions import extend_route, gpu_idle, port_callback
from aiworkbench.sessions.spawner import gpu_metrics_for, site_settings

SPAWNER = "workbench"  # entry point of aiworkbench.sessions.spawner.WorkbenchSpawner
DASHBOARD_VIEWERS = "managers"  # the hub group that may open them
OIDC_AUTHENTICATOR = "aiworkbench.hub.authenticator.WorkbenchOIDCAuthenticator"


def apply_site(
    c,
    site: Site,
    gpu_kind: str | None = None,
    discovery: dict | None = None,
    tokens: dict[str, str] | None = None,
    shared: HubShared | None = None,
) -> None:
    """Set everything the hub needs from ``site`` on config object ``c``. It runs no
    command and asks neither Slurm nor the OpenID provider anything: a hub's
    configuration loads before they need to answer. ``gpu_kind``: 'nvidia' or
    'simulated' (None: the spawner reads Slurm's GRES when the first form or GPU
    session needs them). With OpenID Connect, ``discovery`` is the provider's discovery
    document (None: the authenticator reads it from the issuer when the hub starts).
    ``tokens`` are the services' API tokens by name (None: read from their token files
    now, services.read_token). ``shared``: the objects every spawner and page of the hub
    shares (None: made from the site, HubShared.from_site), handed to them in the hub's
    tornado settings."""
    hub = site.hub
    shared = shared if shared is not None else HubShared.from_site(site)
    c.JupyterHub.tornado_settings = {
        **(c.JupyterHub.get("tornado_settings") or {}),
        SETTINGS_KEY: shared,
    }
    env_dir = site.factory.kernel_env
    apply_proxy_tls(c, site)
    c.JupyterHub.hub_bind_url = f"http://{hub.hub_ip}:{hub.hub_port}"
    c.JupyterHub.pid_file = hub_pidfile(site)
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [
        shutil.which("configurable-http-proxy") or "configurable-http-proxy"
    ]
    c.JupyterHub.db_url = db_url(site)
    c.JupyterHub.cookie_secret_file = f"{hub.data_dir}/jupyterhub_cookie_secret"
    # Sessions are Slurm jobs: they outlive a hub restart and are resumed.
    c.JupyterHub.cleanup_servers = False

    apply_auth(c, site, discovery)

    port_callback.drop_batchspawner_route()
    c.JupyterHub.extra_handlers = port_callback.hub_routes(
        (gpu_idle.ROUTE, gpu_idle.GpuActivityHandler),
        (gpu_idle.SESSIONS_ROUTE, gpu_idle.SessionsHandler),
        *extend_route.hub_routes(),
        *help_page.hub_routes(site),
    )
    c.JupyterHub.spawner_class = SPAWNER
    apply_portal(c, site)
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = hub.max_sessions_per_user
    # The spawner's settings that the site owns, converted once (sessions.spawner).
    owned = site_settings(site.factory, hub, site.idle, site.slurm)
    c.Spawner.default_url = "/lab"
    c.Spawner.poll_interval = owned["poll_interval"]
    c.Spawner.start_timeout = owned["start_timeout"]
    c.Spawner.http_timeout = 120
    c.Spawner.cmd = [f"{env_dir}/bin/jupyterhub-singleuser"]
    for name in ("req_env_dir", "slurm_reader", "max_sessions", "queue_timeout", "lab_timeout"):
        c.WorkbenchSpawner[name] = owned[name]
    c.WorkbenchSpawner.site = site
    c.WorkbenchSpawner.extend_helper = extend_helper(site)
    c.WorkbenchSpawner.batchspawner_singleuser_cmd = f"{env_dir}/bin/aiworkbench-singleuser"
    if gpu_kind is not None:
        c.WorkbenchSpawner.gpu_kind = gpu_kind
        c.WorkbenchSpawner.gpu_metrics = gpu_metrics_for(gpu_kind)
    if tokens is None:
        tokens = services.read_tokens(site)
    apply_api(c, site, tokens[API_SERVICE], shared.budgets)
    apply_dashboards(c, site, tokens[DASHBOARDS_SERVICE])
    apply_idle(
        c,
        culler=(
            services.hub_entry(site, CULLER_SERVICE, tokens[CULLER_SERVICE])
            if CULLER_SERVICE in tokens
            else None
        ),
        cull_idle_s=owned["cull_idle_timeout"],
        gpu_threshold=owned["gpu_idle_threshold"],
        gpu_warn_s=owned["gpu_idle_warn"],
        gpu_stop_s=owned["gpu_idle_stop"],
        gpu_report_s=owned["gpu_report_interval"],
    )


def extend_helper(site: Site) -> list[str]:
    """The Extend helper as the hub's sudoers line allows it (ansible role hub)."""
    return [
        "sudo",
        "-n",
        f"{site.factory.hub_env}/bin/python3",
        "-I",
        "-m",
        "aiworkbench.sessions.extend",
    ]


def apply_proxy_tls(c, site: Site) -> None:
    """The proxy's public port: https when hub.tls_cert and hub.tls_key are set (the
    proxy terminates TLS; the hub's own API and the services stay on loopback or the
    cluster network, in plain http), else http."""
    hub = site.hub
    if hub.tls_cert:
        c.JupyterHub.bind_url = f"https://{hub.ip}:{hub.port}"
        c.JupyterHub.ssl_cert = hub.tls_cert
        c.JupyterHub.ssl_key = hub.tls_key
    else:
        c.JupyterHub.bind_url = f"http://{hub.ip}:{hub.port}"
    if hub.public_url:
        c.JupyterHub.public_url = hub.public_url


def apply_auth(c, site: Site, discovery: dict | None = None) -> None:
    """Who may log in, and how. Everyone is a factory user ([users], class learners
    included); admins are the site's admins. PAM: the hub groups come from the site file
    (load_groups). OpenID Connect: the authenticator sets each person's groups at login
    (manage_groups), project-NAME from the projects claim, and takes the provider's
    endpoints from ``discovery`` (None: it reads them from the issuer when the hub
    starts)."""
    c.Authenticator.allowed_users = set(site.users)
    c.Authenticator.admin_users = {n for n, u in site.users.items() if u.role == "admin"}
    auth = site.auth
    if auth.type == "pam":
        c.JupyterHub.authenticator_class = "pam"
        c.PAMAuthenticator.open_sessions = False  # the hub is unprivileged
        c.JupyterHub.load_groups = {
            g: {"users": sorted(members)} for g, members in site.hub_groups().items()
        }
        return
    c.JupyterHub.authenticator_class = OIDC_AUTHENTICATOR
    c.JupyterHub.load_groups = {}  # the authenticator manages groups
    c.Authenticator.manage_groups = True
    oauth = c.WorkbenchOIDCAuthenticator
    oauth.site = site
    oauth.login_service = "OpenID Connect"
    oauth.client_id = auth.client_id
    oauth.client_secret = oidc.read_client_secret(auth.client_secret_file)
    oauth.oauth_callback_url = f"{site.public_url()}/hub/oauth_callback"
    if discovery is not None:
        oauth.discovery = discovery
    oauth.scope = list(auth.scopes)
    oauth.username_claim = auth.username_claim
    oauth.enable_pkce = True


def db_url(site: Site) -> str:
    """The hub database's SQLAlchemy URL. PostgreSQL: as the hub's own role, over the
    local socket (peer authentication) or to ``postgresql_host``, whose password libpq
    reads from ``data_dir/.pgpass``: no password in any configuration file."""
    hub = site.hub
    if hub.database == "sqlite":
        return f"sqlite:///{hub.data_dir}/jupyterhub.sqlite"
    host = hub.postgresql_host or "/var/run/postgresql"
    where = (
        f"?host={host}&port={hub.postgresql_port}"
        if host.startswith("/")
        else f"?host={host}&port={hub.postgresql_port}&passfile={hub.data_dir}/.pgpass"
    )
    return f"postgresql+psycopg2://{hub.user}@/{hub.postgresql_database}{where}"


def apply_api(c, site: Site, token: str, budgets: AccountingReader) -> None:
    """The workbench API service (external: the supervisor runs it, as the hub user, see
    aiworkbench.hub.services), its RBAC, and budgets on the hub's pages (from
    ``budgets``, the hub's reader)."""
    c.JupyterHub.services = [s for s in _listed(c, "services") if s["name"] != API_SERVICE] + [
        {
            **services.hub_entry(site, API_SERVICE, token),
            "oauth_no_confirm": True,
            "display": False,
        }
    ]
    c.JupyterHub.custom_scopes = {
        READ_ALL: {
            "description": "Read every project's budget and usage in the workbench "
            "API (managers and admins)."
        }
    }
    readers = [g for g in ("managers", "admins") if g in site.hub_groups()]
    c.JupyterHub.load_roles = [
        r for r in _listed(c, "load_roles") if r["name"] not in ("user", "budget-readers")
    ] + [
        {"name": "user", "scopes": ["self", f"access:services!service={API_SERVICE}"]},
        {
            "name": "budget-readers",
            "description": "Managers and admins: every budget",
            "scopes": [READ_ALL],
            "groups": readers,
        },
    ]
    # Sessions' own token (JUPYTERHUB_API_TOKEN) may call the API; the read-all scope is
    # granted only where its user holds it.
    # delete:servers!server: the session stops itself when its user releases its GPUs.
    c.Spawner.server_token_scopes = [
        "access:servers!server",
        "users:activity!user",
        "delete:servers!server",
        f"access:services!service={API_SERVICE}",
        READ_ALL,
    ]
    c.WorkbenchSpawner.api_url = session_api_url(site)
    c.JupyterHub.template_vars = {
        **(c.JupyterHub.get("template_vars") or {}),
        "budget_warnings": lambda user: budget_warnings(site, budgets, user),
    }


def session_api_url(site: Site) -> str:
    """The workbench API's address for notebook sessions: through the proxy (the API
    listens on loopback). Plain http: the hub machine's cluster address. With TLS on the
    proxy: the public URL, whose name the certificate bears (compute nodes must resolve
    it and trust the certificate)."""
    hub = site.hub
    if hub.tls_cert:
        return f"{site.public_url()}/services/{API_SERVICE}/api"
    connect_host = hub.hub_ip if hub.hub_ip not in ("0.0.0.0", "::") else socket.getfqdn()
    return f"http://{connect_host}:{hub.port}/services/{API_SERVICE}/api"


def apply_dashboards(c, site: Site, token: str) -> None:
    """The managers' dashboards: an external service that the supervisor runs as its own
    user (dashboards.user, see aiworkbench.hub.services); only the managers group may
    open it (everyone else gets 403), and its token may read every session and every
    class's progress, nothing more."""
    c.JupyterHub.services = [
        s for s in _listed(c, "services") if s["name"] != DASHBOARDS_SERVICE
    ] + [
        {
            **services.hub_entry(site, DASHBOARDS_SERVICE, token),
            "oauth_no_confirm": True,
            "display": True,
            "info": {"description": "Usage, budgets, queue waits, sessions and course progress"},
        }
    ]
    roles = [
        r
        for r in _listed(c, "load_roles")
        if r["name"] not in ("dashboard-viewers", "dashboards-service")
    ]
    if DASHBOARD_VIEWERS in site.hub_groups():
        roles.append(
            {
                "name": "dashboard-viewers",
                "groups": [DASHBOARD_VIEWERS],
                "description": "Managers: open the dashboards",
                "scopes": [f"access:services!service={DASHBOARDS_SERVICE}"],
            }
        )
    roles.append(
        {
            "name": "dashboards-service",
            "services": [DASHBOARDS_SERVICE],
            "description": "The dashboards' ingestion: sessions and class progress",
            "scopes": ["read:servers", READ_ALL, f"access:services!service={API_SERVICE}"],
        }
    )
    c.JupyterHub.load_roles = roles


def _listed(c, name: str) -> list:
    """``c.JupyterHub.<name>`` as set so far (a list), or an empty list."""
    value = c.JupyterHub.get(name)
    return list(value) if isinstance(value, list) else []


def budget_warnings(site: Site, budgets: AccountingReader, user) -> list[dict]:
    """The home page's budget warnings for ``user`` (from the hub's cached accounting,
    ``budgets``)."""
    projects = site.projects_of(user.name) if user is not None else []
    if not projects:
        return []
    return warnings_for(budgets.cached(), projects)


def apply_idle(
    c,
    *,
    culler: dict | None,
    cull_idle_s: float,
    gpu_threshold: float,
    gpu_warn_s: float,
    gpu_stop_s: float,
    gpu_report_s: float,
) -> None:
    """Idle protection: jupyterhub-idle-culler, an external service run by the supervisor
    with the site's idle.cull_minutes (``culler``: its hub entry, None when culling is
    off), and the spawner's idle-GPU policy."""
    services = [s for s in _listed(c, "services") if s["name"] != CULLER_SERVICE]
    roles = [r for r in _listed(c, "load_roles") if r["name"] != CULLER_SERVICE]
    if culler and cull_idle_s:
        services.append(culler)
        roles.append(
            {
                "name": CULLER_SERVICE,
                "services": [CULLER_SERVICE],
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            }
        )
    c.JupyterHub.services, c.JupyterHub.load_roles = services, roles
    c.WorkbenchSpawner.cull_idle_timeout = float(cull_idle_s)
    c.WorkbenchSpawner.gpu_idle_threshold = float(gpu_threshold)
    c.WorkbenchSpawner.gpu_idle_warn = float(gpu_warn_s)
    c.WorkbenchSpawner.gpu_idle_stop = float(gpu_stop_s)
    c.WorkbenchSpawner.gpu_report_interval = float(gpu_report_s)
