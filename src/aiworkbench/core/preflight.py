"""Checks before setup changes anything: Debian-like, root, valid site, free ports,
project names free for project groups, the TLS and OIDC secret files present.

Run by ``scripts/factory up`` with the system Python and the standard library
only. Every problem is reported at once; setup stops before its first change
if there is any.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import sys
from pathlib import Path

from aiworkbench.core import oidc
from aiworkbench.core.daemons import DAEMONS, hub_pidfile
from aiworkbench.core.site import Site, SiteError, load_site

SLURM_DAEMONS = ("slurmctld", "slurmd", "slurmdbd")
# Where an older factory, which ran its daemons without a supervisor, had the hub's.
LEGACY_HUB_PIDFILE = "/run/aiworkbench/jupyterhub.pid"
SUPERVISOR_PIDFILE = "/var/run/supervisord.pid"  # Debian's supervisord.conf
FIRST_REGULAR_GID = 1000  # Debian: below are system groups


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    values = {}
    try:
        for line in Path(path).read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"')
    except OSError:
        pass
    return values


def check_platform(release: dict[str, str], uid: int) -> list[str]:
    problems = []
    family = {release.get("ID", "")} | set(release.get("ID_LIKE", "").split())
    if "debian" not in family:
        problems.append(
            f"this machine is {release.get('PRETTY_NAME') or 'not identifiable'}; setup needs "
            f"Debian 12 (bookworm) or a Debian derivative (apt, Debian's Slurm packages)"
        )
    if uid != 0:
        problems.append(
            "setup must run as root (it installs packages, creates users and "
            "starts daemons): run it with sudo"
        )
    return problems


def running_pid(pidfile: str) -> int | None:
    """The pid in ``pidfile`` if that process is alive; None when there is none (or stale)."""
    try:
        pid = int(Path(pidfile).read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def pid_alive(pidfile: str) -> bool:
    return running_pid(pidfile) is not None


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


def _socket_owners(inodes: set[str]) -> set[int]:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    owners = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in wanted for fd in fd_dir.iterdir()):
                owners.add(int(fd_dir.parent.name))
        except OSError:
            continue
    return owners


def _ancestry(pid: int) -> set[int]:
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return seen


def port_owned_by(port: int, pidfiles: tuple[str, ...]) -> bool:
    """Whether the listener on ``port`` is the daemon of one of ``pidfiles`` or one of
    its children."""
    live = [f for f in pidfiles if pid_alive(f)]
    if not live:
        return False
    owners = _socket_owners(_listening_inodes(port))
    if not owners:  # /proc does not tell (another PID namespace): trust the live pid file
        return True
    daemons = {int(Path(f).read_text().split()[0]) for f in live}
    return all(daemons & _ancestry(owner) for owner in owners)


def check_ports(site: Site, in_use=port_in_use, owned=port_owned_by) -> list[str]:
    """Ports the workbench needs that another program holds (ours may hold them: the
    hub, its proxy and services, run by the supervisor; an older factory's hub)."""
    hub = (hub_pidfile(site), LEGACY_HUB_PIDFILE, SUPERVISOR_PIDFILE)
    services = (SUPERVISOR_PIDFILE, LEGACY_HUB_PIDFILE)
    wanted = {
        site.hub.port: ("hub.port", "the hub's public port (the proxy)", hub),
        site.hub.proxy_api_port: ("hub.proxy_api_port", "the proxy's API", hub),
        site.hub.hub_port: ("hub.hub_port", "the hub's API", hub),
        site.hub.api_port: ("hub.api_port", "the workbench API service", services),
        site.dashboards.port: ("dashboards.port", "the dashboards service", services),
    }
    if not site.mail.relay:  # the workbench's exim (Debian's own daemon may hold it)
        wanted[DAEMONS["exim"]["port"]] = (
            "mail.relay",
            "exim, the mail of support requests",
            (DAEMONS["exim"]["pidfile"], SUPERVISOR_PIDFILE),
        )
    node = site.slurm.node_name or socket.gethostname().split(".")[0]
    for daemon in SLURM_DAEMONS:
        pidfile = DAEMONS[daemon]["pidfile"].format(node=node)
        wanted.setdefault(DAEMONS[daemon]["port"], (None, daemon, (pidfile, SUPERVISOR_PIDFILE)))
    problems = []
    for port, (key, what, pidfiles) in sorted(wanted.items()):
        if in_use(port) and not owned(port, pidfiles):
            hint = f"free it or set {key} in the site file" if key else "free it"
            problems.append(f"port {port} ({what}) is already in use by another program; {hint}")
    return problems


def check_project_groups(site: Site, group=grp.getgrnam, user=pwd.getpwnam) -> list[str]:
    """Projects whose Unix group (of the project's name: its members read its restricted
    datasets) would be a system group or another account's own group."""
    problems = []
    for name in site.projects:
        try:
            gid = group(name).gr_gid
        except KeyError:
            gid = None
        try:
            user(name)
            account = True
        except KeyError:
            account = False
        if gid is not None and gid < FIRST_REGULAR_GID:
            problems.append(
                f"projects.{name}: a system group {name!r} (gid {gid}) exists; "
                f"each project gets a Unix group of its own name for dataset "
                f"access: rename the project"
            )
        elif account:
            problems.append(
                f"projects.{name}: a Unix user {name!r} exists; its own group "
                f"would be the project's group (dataset access): rename the "
                f"project"
            )
    return problems


def check_secret_files(site: Site) -> list[str]:
    """The TLS certificate and key and the OIDC client secret the site names exist (the
    hub checks them again, as its user, at start)."""
    problems = []
    for key in ("tls_cert", "tls_key"):
        path = getattr(site.hub, key)
        if path and not Path(path).is_file():
            problems.append(
                f"hub.{key}: {path} is not a file; put the proxy's "
                f"{'certificate' if key == 'tls_cert' else 'private key'} there"
            )
    if site.auth.type == "oidc":
        try:
            oidc.read_client_secret(site.auth.client_secret_file)
        except oidc.OIDCSetupError as err:
            problems.append(str(err))
    return problems


def preflight(
    site_path: str,
    release=None,
    uid=None,
    in_use=port_in_use,
    owned=port_owned_by,
    groups=check_project_groups,
) -> list[str]:
    problems = check_platform(
        os_release() if release is None else release, os.geteuid() if uid is None else uid
    )
    try:
        site = load_site(site_path)
    except SiteError as err:
        problems.extend(f"{err.source}: {p}" for p in err.problems)
    else:
        problems.extend(check_ports(site, in_use, owned))
        problems.extend(groups(site))
        problems.extend(check_secret_files(site))
    return problems


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python3 -m aiworkbench.core.preflight",
        description="Check this machine and the site file before setup changes anything.",
    )
    parser.add_argument("site_file", metavar="SITE_FILE", help="the site file (TOML)")
    problems = preflight(parser.parse_args(argv).site_file)
    if problems:
        print("Setup stopped before changing anything:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
