"""Apply a validated site to JupyterHub's configuration object."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from . import port_callback
from .site import Site

SPAWNER = "workbench"  # entry point of aiworkbench_hub.spawner.WorkbenchSpawner


def detect_gpu_kind() -> str:
    """'nvidia' or 'simulated', from the GRES Slurm reports ('' if Slurm does not answer)."""
    try:
        out = subprocess.run(["sinfo", "--noheader", "--format", "%G"], capture_output=True,
                             text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if "gpu:simulated" in out:
        return "simulated"
    return "nvidia" if "gpu:" in out else ""


def apply_site(c, site: Site, gpu_kind: str | None = None) -> None:
    """Set everything the hub needs from ``site`` on config object ``c``."""
    hub = site.hub
    env_dir = f"{site.factory.prefix}/env"
    c.JupyterHub.bind_url = f"http://{hub.ip}:{hub.port}"
    c.JupyterHub.hub_bind_url = f"http://{hub.hub_ip}:{hub.hub_port}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [
        shutil.which("configurable-http-proxy") or "configurable-http-proxy"]
    c.JupyterHub.db_url = f"sqlite:///{hub.data_dir}/jupyterhub.sqlite"
    c.JupyterHub.cookie_secret_file = f"{hub.data_dir}/jupyterhub_cookie_secret"
    # Sessions are Slurm jobs: they outlive a hub restart and are resumed.
    c.JupyterHub.cleanup_servers = False

    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False  # the hub is unprivileged
    c.Authenticator.allowed_users = set(site.users)
    c.Authenticator.admin_users = {n for n, u in site.users.items() if u.role == "admin"}
    groups = {}
    for name, user in site.users.items():
        groups.setdefault(f"{user.role}s", []).append(name)
    for name in site.classes:
        groups[f"class-{name}"] = site.class_members(name)
    c.JupyterHub.load_groups = {g: {"users": sorted(members)} for g, members in groups.items()}

    port_callback.install()
    c.JupyterHub.spawner_class = SPAWNER
    c.JupyterHub.template_paths = [str(Path(__file__).parent / "templates")]
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = hub.max_sessions_per_user
    c.Spawner.default_url = "/lab"
    c.Spawner.poll_interval = hub.poll_interval
    c.WorkbenchSpawner.slurm_poll_interval = float(hub.slurm_poll_interval)
    c.WorkbenchSpawner.max_sessions = hub.max_sessions_per_user
    c.Spawner.start_timeout = hub.start_timeout
    c.Spawner.http_timeout = 120
    c.Spawner.cmd = [f"{env_dir}/bin/jupyterhub-singleuser"]
    c.WorkbenchSpawner.site = site
    c.WorkbenchSpawner.req_env_dir = env_dir
    c.WorkbenchSpawner.batchspawner_singleuser_cmd = f"{env_dir}/bin/aiworkbench-singleuser"
    c.WorkbenchSpawner.gpu_kind = gpu_kind if gpu_kind is not None else (
        detect_gpu_kind() or "simulated")
