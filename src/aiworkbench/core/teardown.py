"""``make uninstall``: take away everything ``make up`` added to this machine.

What ``make up`` adds: the Debian packages of ``packages.json`` (and what they pulled
in), users and groups, the supervisor's programs, the namespace nodes' bridge,
namespaces and ``/etc/hosts`` block, the configuration, environments, state, logs and
databases. Before its first change, ``make up`` writes down what the machine had
(:func:`record`: packages, users, groups) in ``RECORD_DIR``; uninstall removes only
what is not in that record, so that a package or user that was there before stays.

``--keep-data`` keeps the databases (MariaDB's accounting, the hub's PostgreSQL
database and data folder), the published courses, the datasets and the users' homes,
with the users and groups that own them.

After removing, it looks for what is left (:func:`leftovers`: processes, listeners,
users, groups, files, packages, network) and fails if anything is. The standard
library only: it runs without the repository's environment (a fresh clone has none).
"""

from __future__ import annotations

import argparse
import fnmatch
import grp
import os
import pwd
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiworkbench.core import commands
from aiworkbench.core.commands import CommandError, completed
from aiworkbench.core.daemons import DAEMONS, PACKAGES, debian_packages, postgresql_package
from aiworkbench.core.preflight import SUPERVISOR_PIDFILE, port_in_use
from aiworkbench.core.site import SITE_FILE, Site, SiteError, load_site

RECORD_DIR = Path("/var/lib/aiworkbench-install")
HOSTS = Path("/etc/hosts")
HOSTS_MARK = "AI Factory Workbench namespace nodes"  # the network role's blockinfile marker
CHP = (
    "/usr/local/bin/configurable-http-proxy",
    "/usr/local/lib/node_modules/configurable-http-proxy",
)  # role hub: npm --prefix /usr/local
# Folders and files the roles write, whatever the site says.
FIXED_PATHS = (
    "/etc/slurm",
    "/etc/aiworkbench",
    "/etc/munge",
    "/etc/sudoers.d/aiworkbench",
    "/var/lib/aiworkbench",
    "/var/lib/aiworkbench-gpu-sim",
    "/var/lib/aiworkbench-start-gate",
    "/var/log/aiworkbench",
    "/var/log/slurm",
    "/var/log/munge",
    "/var/spool/slurmd",
    "/run/aiworkbench",
    "/var/cache/aiworkbench",  # role kernel_env: npm's cache for the extension
    "/usr/local/sbin/aiworkbench-netns-node",
    "/usr/local/sbin/aiworkbench-backup",
    "/usr/local/sbin/aiworkbench-allocations",
    "/etc/mysql/mariadb.conf.d/60-aiworkbench-slurmdbd.cnf",  # role mariadb
    *CHP,
)
# What Debian's exim leaves after its purge (role mail), removed when uninstall removes
# exim itself: its queue's folders, its state, its configuration's folder, the mail name.
MAIL_PATHS = ("/var/spool/exim4", "/var/lib/exim4", "/var/log/exim4", "/etc/exim4", "/etc/mailname")
# Kept with --keep-data.
DATA_PATHS = ("/var/lib/mysql", "/var/lib/slurm", "/var/lib/munge")
SIMULATED_GPUS = "/dev/aiworkbench-simgpu*"  # role slurm: slurm_simulated_gpu_device_prefix
DAEMON_EXES = (
    "/usr/sbin/munged",
    "/usr/sbin/mariadbd",
    "/usr/sbin/slurmdbd",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/sbin/slurmstepd",
    DAEMONS["exim"]["exec"],
    "/usr/bin/supervisord",
)
# Without an install record (a factory set up before records were kept), the packages
# of these roles only are removed.
WITHOUT_RECORD = ("munge", "mariadb", "slurm", "slurmdbd", "slurm_controller", "slurm_compute")
SLURM_PORTS = tuple(DAEMONS[d]["port"] for d in ("slurmctld", "slurmd", "slurmdbd"))
# How long uninstall waits for a command: queries and quick changes, the commands'
# default (a minute); one program stopped (the supervisor's or systemd's own stop wait,
# and a margin); what can take minutes: apt-get removing packages (their scripts stop
# daemons), the supervisor's shutdown (every program's stop), dropping a database.
STOP_TIMEOUT_S = 120
SLOW_TIMEOUT_S = 600
# apt-get without questions; sudo's removal script asks for SUDO_FORCE_REMOVE where
# root has no password (sudo is removed only when the machine did not have it before).
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "SUDO_FORCE_REMOVE": "yes"}
APT_GET = ["apt-get", "--yes", "--quiet"]


class TeardownError(Exception):
    """A refusal, with what was wrong and what to do."""


# ---------------------------------------------------------------- what the machine had


def installed_packages() -> set[str]:
    out = completed(["dpkg-query", "--show", "--showformat", "${Package}\t${db:Status-Status}\n"])
    return {line.split("\t")[0] for line in out.stdout.splitlines() if line.endswith("\tinstalled")}


def record(directory: Path = RECORD_DIR) -> bool:
    """Write down this machine's packages, users and groups, once (before make up's first
    change). True when written now, False when a record was there already."""
    if (directory / "packages").exists():
        return False
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / "users").write_text("".join(f"{u.pw_name}\n" for u in pwd.getpwall()))
    (directory / "groups").write_text("".join(f"{g.gr_name}\n" for g in grp.getgrall()))
    # Last: its presence says the record is whole.
    (directory / "packages").write_text("".join(f"{p}\n" for p in sorted(installed_packages())))
    return True


def read_record(directory: Path = RECORD_DIR) -> dict[str, set[str]] | None:
    try:
        return {
            name: set((directory / name).read_text().split())
            for name in ("packages", "users", "groups")
        }
    except OSError:
        return None


# ---------------------------------------------------------------- what is ours


@dataclass
class Plan:
    """What uninstall removes (and, with keep_data, keeps)."""

    keep_data: bool
    programs: list[str] = field(default_factory=list)  # supervisor programs, stop order
    units: list[str] = field(default_factory=list)  # systemd units
    packages: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)
    hosts_block: bool = False
    databases: list[str] = field(default_factory=list)  # described, dropped where kept
    ports: list[int] = field(default_factory=list)
    without_record: bool = False

    def describe(self) -> str:
        rows = [
            ("daemons (supervisor programs)", self.programs),
            ("systemd units", self.units),
            ("Debian packages", self.packages),
            ("users", self.users),
            ("groups", self.groups),
            ("network namespaces", self.namespaces),
            ("bridges", self.bridges),
            ("databases", self.databases),
            ("files and folders", self.paths),
        ]
        lines = [f"  {title}: {', '.join(items)}" for title, items in rows if items]
        if self.hosts_block:
            lines.append(f"  /etc/hosts: the block '{HOSTS_MARK}'")
        if self.keep_data:
            lines.append(
                "  kept (--keep-data): the databases, the hub's data folder, courses, "
                "datasets, homes, and the users and groups that own them"
            )
        if self.without_record:
            lines.append(
                f"  (no install record in {RECORD_DIR}: only the packages of munge, "
                f"MariaDB and Slurm are removed, and no system user)"
            )
        return "\n".join(lines) or "  nothing: the factory is not installed here"


def ordered_programs(names: list[str]) -> list[str]:
    """``names`` in aiwb_daemons.stop_order (newest first), unknown ones first."""
    order: list[str] = [
        n for n in sorted(names) if not any(fnmatch.fnmatch(n, p) for p in DAEMONS["stop_order"])
    ]
    for pattern in DAEMONS["stop_order"]:
        order += [n for n in sorted(names) if fnmatch.fnmatch(n, pattern) and n not in order]
    return order


def our_programs() -> list[str]:
    prefix = DAEMONS["supervisor_conf_prefix"]
    names = [
        p.name[len(prefix) : -len(".conf")]
        for p in Path(DAEMONS["supervisor_conf_dir"]).glob(f"{prefix}*.conf")
    ]
    return ordered_programs(names)


def our_units() -> list[str]:
    return sorted(p.name for p in Path(DAEMONS["systemd_unit_dir"]).glob("aiworkbench-*.service"))


def hosts_nodes(text: str) -> list[str]:
    """Node names in the network role's /etc/hosts block."""
    block = re.search(rf"# BEGIN {HOSTS_MARK}\n(.*?)# END {HOSTS_MARK}\n?", text, re.S)
    return (
        [line.split()[1] for line in block.group(1).splitlines() if len(line.split()) >= 2]
        if block
        else []
    )


def bridge_of(node: str) -> str:
    """The bridge a namespace node's host end (vh-NODE, the network role's) is on."""
    out = completed(["ip", "-o", "link", "show", f"vh-{node}"]).stdout
    found = re.search(r" master (\S+) ", out)
    return found.group(1) if found else ""


def site_users(site: Site | None) -> tuple[list[str], list[str]]:
    """(users, groups) the roles create from ``site``."""
    if site is None:
        return [], []
    users = [*site.users, site.hub.user, site.dashboards.user, site.slurm.reader]
    groups = [*users, *site.projects, site.factory.users_group]
    return users, groups


def site_paths(site: Site | None, keep_data: bool) -> list[str]:
    if site is None:
        return []
    paths = [site.factory.prefix, str(Path(site.dashboards.store).parent)]
    if not keep_data:
        paths += [
            site.hub.data_dir,
            site.courses.root,
            site.catalog.root,
            *(f"/home/{name}" for name in site.users),
            *(f"/var/mail/{name}" for name in site.users),
        ]  # the helpdesk's mail
    return paths


def load_installed_site(fallback: str | None) -> Site | None:
    for path in (SITE_FILE, fallback):
        if path and Path(path).is_file():
            try:
                return load_site(path)
            except (SiteError, OSError):
                continue
    return None


def exists(name: str, kind: str) -> bool:
    try:
        (pwd.getpwnam if kind == "user" else grp.getgrnam)(name)
    except KeyError:
        return False
    return True


def make_plan(site_file: str | None, keep_data: bool = False) -> Plan:
    site = load_installed_site(site_file)
    before = read_record()
    plan = Plan(keep_data=keep_data, without_record=before is None)
    plan.programs, plan.units = our_programs(), our_units()
    installed = installed_packages()
    had = before["packages"] if before else set()
    # Without a record, only the daemons' own packages go: the others (Python, Node.js,
    # PostgreSQL, ...) may have been there before.
    candidates = (
        debian_packages() if before else [p for role in WITHOUT_RECORD for p in PACKAGES[role]]
    )
    plan.packages = sorted(p for p in candidates if p in installed and p not in had)
    if not keep_data:
        users, groups = site_users(site)
        # The packages' system users, where the record says they were not there before.
        system = PACKAGES["system_users"] if before else []
        users, groups = [*users, *system], [*groups, *system]
        plan.users = sorted(
            {u for u in users if exists(u, "user") and not (before and u in before["users"])}
        )
        plan.groups = sorted(
            {g for g in groups if exists(g, "group") and not (before and g in before["groups"])}
        )
    try:
        nodes = hosts_nodes(HOSTS.read_text())
    except OSError:
        nodes = []
    plan.hosts_block = bool(nodes)
    listed = set(completed(["ip", "netns", "list"]).stdout.split())
    plan.namespaces = [n for n in nodes if n in listed]
    plan.bridges = sorted({b for b in map(bridge_of, nodes) if b})
    ours_mail = set(PACKAGES["mail"]) <= set(plan.packages)
    paths = [
        *FIXED_PATHS,
        *site_paths(site, keep_data),
        *([] if keep_data else DATA_PATHS),
        *(MAIL_PATHS if ours_mail else ()),
        *map(str, Path("/dev").glob(Path(SIMULATED_GPUS).name)),
        *([str(RECORD_DIR)] if not keep_data else []),
    ]
    plan.paths = sorted({p for p in paths if os.path.lexists(p)})
    if site is not None:
        plan.ports = sorted(
            {
                *SLURM_PORTS,
                site.hub.port,
                site.hub.proxy_api_port,
                site.hub.hub_port,
                site.hub.api_port,
                site.dashboards.port,
                *([] if site.mail.relay else [DAEMONS["exim"]["port"]]),
            }
        )
        if not keep_data:
            if Path("/var/lib/mysql/slurm_acct_db").is_dir():
                plan.databases = ["MariaDB: slurm_acct_db (Slurm accounting)"]
            if (
                site.hub.database == "postgresql"
                and not site.hub.postgresql_host
                and exists(site.hub.user, "user")
            ):
                plan.databases.append(
                    f"PostgreSQL: {site.hub.postgresql_database} (the hub's), role {site.hub.user}"
                )
    return plan


# ---------------------------------------------------------------- removing


def say(text: str) -> None:
    print(f"uninstall: {text}", flush=True)


def stop_programs(plan: Plan) -> None:
    for name in plan.programs:
        completed(["supervisorctl", "stop", name], timeout=STOP_TIMEOUT_S)
    for unit in plan.units:
        completed(["systemctl", "disable", "--now", unit], timeout=STOP_TIMEOUT_S)
    avail = completed(["supervisorctl", "avail"])
    others = [
        line.split()[0]
        for line in avail.stdout.splitlines()
        if line.split() and line.split()[0] not in plan.programs
    ]
    if avail.returncode == 0 and not others:
        completed(["supervisorctl", "shutdown"], timeout=SLOW_TIMEOUT_S)
        wait_gone(SUPERVISOR_PIDFILE)


def wait_gone(pidfile: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(int(Path(pidfile).read_text().split()[0]), 0)
        except (OSError, ValueError, IndexError):
            return
        time.sleep(0.5)


def daemon_pidfiles() -> list[str]:
    """The pid files of the daemons of daemons.json (every slurmd's too)."""
    files = [d["pidfile"] for d in DAEMONS.values() if isinstance(d, dict) and "pidfile" in d]
    return [
        f
        for pattern in files
        for f in map(str, Path("/").glob(pattern.replace("{node}", "*").lstrip("/")))
    ]


def our_processes(plan: Plan) -> list[tuple[int, str]]:
    """(pid, what) of processes of our daemons, or of the users being removed."""
    uids = set()
    for name in plan.users:
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            exe = os.readlink(proc / "exe")
            uid = proc.stat().st_uid
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(proc.name) == os.getpid():
            continue
        if (
            exe.removesuffix(" (deleted)") in DAEMON_EXES
            or uid in uids
            or CHP[1] in cmdline
            or "/bin/jupyterhub" in cmdline
        ):
            found.append((int(proc.name), cmdline.strip()[:120] or exe))
    return found


def end_processes(plan: Plan) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        procs = our_processes(plan)
        for pid, _ in procs:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        if procs:
            time.sleep(3)


def drop_kept_databases(plan: Plan, site: Site | None) -> None:
    """Databases in servers whose package stays (it was there before): drop ours."""
    if plan.keep_data or site is None:
        return
    if (
        site.hub.database == "postgresql"
        and postgresql_package() not in plan.packages
        and not site.hub.postgresql_host
    ):
        for sql in (
            f'DROP DATABASE IF EXISTS "{site.hub.postgresql_database}"',
            f'DROP ROLE IF EXISTS "{site.hub.user}"',
        ):
            completed(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    "psql",
                    "--no-psqlrc",
                    "--host",
                    DAEMONS["postgresql"]["socket_dir"],
                    "-c",
                    sql,
                ],
                timeout=SLOW_TIMEOUT_S,
            )
    if "mariadb-server" not in plan.packages:
        completed(
            [
                "mariadb",
                "--execute",
                "DROP DATABASE IF EXISTS slurm_acct_db; DROP USER IF EXISTS 'slurm'@'localhost'",
            ],
            timeout=SLOW_TIMEOUT_S,
        )


def remove_network(plan: Plan) -> None:
    for node in plan.namespaces:
        completed(["ip", "link", "delete", f"vh-{node}"])
        completed(["ip", "netns", "delete", node])
    for bridge in plan.bridges:
        completed(["ip", "link", "delete", bridge])
    if plan.hosts_block:
        text = HOSTS.read_text()
        kept = re.sub(rf"# BEGIN {HOSTS_MARK}\n.*?# END {HOSTS_MARK}\n?", "", text, flags=re.S)
        with open(HOSTS, "w") as hosts:  # in place: /etc/hosts may be a bind mount
            hosts.write(kept)


def remove_accounts(plan: Plan) -> None:
    for name in plan.users:
        completed(["userdel", name])
    for name in plan.groups:
        if exists(name, "group"):
            completed(["groupdel", name])


def remove_packages(plan: Plan) -> None:
    if not plan.packages:
        return
    before = read_record()
    env = {**os.environ, **APT_ENV}
    action = "remove" if plan.keep_data else "purge"
    commands.run([*APT_GET, action, *plan.packages], env=env, timeout=SLOW_TIMEOUT_S)
    # What they pulled in and nothing else needs now, unless it was there before.
    dry = completed(["apt-get", "--simulate", "autoremove"]).stdout
    pulled = [
        m.group(1)
        for m in re.finditer(r"^Remv (\S+)", dry, re.M)
        if not (before and m.group(1) in before["packages"])
    ]
    if pulled:
        commands.run([*APT_GET, action, *pulled], env=env, timeout=SLOW_TIMEOUT_S)


def remove_paths(plan: Plan) -> None:
    for path in plan.paths:
        if path == str(RECORD_DIR):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
    remove_programs(plan)
    if "supervisor" in plan.packages:  # its package is gone: so are its empty folders
        try:
            os.removedirs(DAEMONS["supervisor_conf_dir"])
        except OSError:
            pass


def remove_programs(plan: Plan) -> None:
    """The supervisor's program files and the systemd units of the factory."""
    conf_dir = Path(DAEMONS["supervisor_conf_dir"])
    for conf in conf_dir.glob(f"{DAEMONS['supervisor_conf_prefix']}*.conf"):
        conf.unlink()
    for unit in plan.units:
        Path(DAEMONS["systemd_unit_dir"], unit).unlink(missing_ok=True)
    if plan.units:
        completed(["systemctl", "daemon-reload"])


def uninstall(plan: Plan, site: Site | None) -> list[str]:
    """Remove what ``plan`` names; what is left afterwards."""
    say("stopping the hub and its services")
    for name in [p for p in plan.programs if p in ("dashboards", "workbench-api", "jupyterhub")]:
        completed(["supervisorctl", "stop", name], timeout=STOP_TIMEOUT_S)
    say("dropping the factory's databases in servers that stay")
    drop_kept_databases(plan, site)
    say("cancelling the jobs and sessions still in Slurm")
    for state in ("pending", "running"):
        completed(["scancel", f"--state={state}"])
    say("stopping the daemons")
    stop_programs(plan)
    end_processes(plan)
    # Right away: a supervisor started again after an interrupted uninstall must not
    # find programs whose users or files are gone.
    remove_programs(plan)
    # A daemon killed does not remove its pid file; the packages' removal scripts would
    # take a stale one for a daemon to talk to (slurmctld's runs scancel then).
    for pidfile in daemon_pidfiles():
        Path(pidfile).unlink(missing_ok=True)
    say("removing the network namespaces and the bridge")
    remove_network(plan)
    # Packages before accounts: their removal scripts still use their users (slurm).
    say(f"removing packages: {' '.join(plan.packages) or 'none'}")
    remove_packages(plan)
    say("removing users and groups")
    remove_accounts(plan)
    say("removing files and folders")
    remove_paths(plan)
    left = leftovers(plan)
    if not left and not plan.keep_data:
        shutil.rmtree(RECORD_DIR, ignore_errors=True)
    return left


def leftovers(plan: Plan) -> list[str]:
    """What of ``plan`` is still on this machine."""
    left = [f"process {pid}: {what}" for pid, what in our_processes(plan)]
    left += [f"port {port} is listened on" for port in plan.ports if port_in_use(port)]
    left += [f"user {u}" for u in plan.users if exists(u, "user")]
    left += [f"group {g}" for g in plan.groups if exists(g, "group")]
    left += [f"package {p}" for p in sorted(set(plan.packages) & installed_packages())]
    left += [f"file {p}" for p in plan.paths if os.path.lexists(p) and p != str(RECORD_DIR)]
    left += [
        f"supervisor program file {c}"
        for c in Path(DAEMONS["supervisor_conf_dir"]).glob(
            f"{DAEMONS['supervisor_conf_prefix']}*.conf"
        )
    ]
    listed = set(completed(["ip", "netns", "list"]).stdout.split())
    left += [f"network namespace {n}" for n in plan.namespaces if n in listed]
    left += [
        f"bridge {b}" for b in plan.bridges if completed(["ip", "link", "show", b]).returncode == 0
    ]
    try:
        if hosts_nodes(HOSTS.read_text()):
            left.append(f"the /etc/hosts block '{HOSTS_MARK}'")
    except OSError:
        pass
    return left


# ---------------------------------------------------------------- command line


def confirm(plan: Plan, yes: bool, stdin=sys.stdin) -> None:
    if yes:
        return
    if not stdin.isatty():
        raise TeardownError(
            "uninstall removes all of the above and asks first, but there is "
            "no terminal to ask: run it with --yes (make uninstall YES=1). "
            "Nothing was changed."
        )
    answer = input("Remove all of this? Type 'yes': ")
    if answer.strip() != "yes":
        raise TeardownError("not confirmed; nothing was changed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make uninstall",
        description="Stop the factory and remove what make up added to this machine.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    remove = sub.add_parser("uninstall", help="remove the factory from this machine")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the databases, courses, datasets and homes (and their users and groups)",
    )
    remove.add_argument("--site", help="the site file, when none is installed")
    sub.add_parser(
        "record",
        help="write down this machine's packages, users and groups "
        "(make up, before its first change)",
    )
    check = sub.add_parser("leftovers", help="list what of the factory is on this machine")
    check.add_argument("--site", help="the site file, when none is installed")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "uninstall: must run as root (it removes packages, users and daemons); "
            "nothing was changed",
            file=sys.stderr,
        )
        return 1
    try:
        return dispatch(args)
    except (TeardownError, CommandError) as err:  # a command failed or did not answer
        print(f"uninstall: {err}", file=sys.stderr)
        return 1


def dispatch(args) -> int:
    """Do what the command line asks (as root); raises TeardownError or CommandError."""
    if args.command == "record":
        if record():
            say(f"recorded this machine's packages, users and groups in {RECORD_DIR}")
        return 0
    plan = make_plan(args.site, keep_data=getattr(args, "keep_data", False))
    if args.command == "leftovers":
        print(plan.describe())
        return 0
    print("make uninstall removes:\n" + plan.describe(), flush=True)
    confirm(plan, args.yes)
    site = load_installed_site(args.site)
    left = uninstall(plan, site)
    if left:
        print(
            "uninstall: these are still here:\n" + "\n".join(f"  - {x}" for x in left),
            file=sys.stderr,
        )
        return 1
    say(
        "done: nothing of the factory is left on this machine"
        + (" (data kept)" if plan.keep_data else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
