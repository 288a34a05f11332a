"""The site file: one TOML file that describes a factory.

It names the projects (Slurm accounts with budgets), partitions, session
profiles, users and limits. Everything else (ansible, the hub config, the
spawner) reads the *validated* result of :func:`load_site`, never the raw file.

This module uses the standard library only, so that setup can validate a site
file on a bare Debian machine before it installs or changes anything.

The schema is the dataclasses below: each field's ``help`` is its
documentation, and ``docs/configuration.md`` is generated from it
(``python -m aiworkbench.core.site docs``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import sys
import tomllib
import typing
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from aiworkbench.core import names

# The installed factory's site file, unless $AIWORKBENCH_SITE names another: where
# ansible puts it, and what the hub, its services and the admin tools read.
SITE_FILE = "/etc/aiworkbench/site.toml"
SITE_ENV = "AIWORKBENCH_SITE"
ROLES = ("student", "sme", "trainer", "manager", "admin")
# Slurm's PrivateData flags (slurm.conf(5)), and the ones the factory sets unless told.
PRIVATE_DATA_FLAGS = (
    "accounts",
    "cloud",
    "events",
    "jobs",
    "nodes",
    "partitions",
    "reservations",
    "usage",
    "users",
)
PRIVATE_DATA_DEFAULT = ("accounts", "events", "jobs", "reservations", "usage", "users")


def setting(
    default=dataclasses.MISSING,
    *,
    help,
    pattern=None,
    name=None,
    empty=False,
    minimum=None,
    maximum=None,
    choices=None,
    factory=None,
):
    """A documented site setting: ``help`` is its documentation. A name follows its
    rule of :mod:`aiworkbench.core.names` (``name``), or may be empty with ``empty``."""
    meta = {
        "help": help,
        "pattern": pattern,
        "name": name,
        "empty": empty,
        "minimum": minimum,
        "maximum": maximum,
        "choices": choices,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class FactorySettings:
    name: str = setting(
        "AI Factory", help="Name of the factory, shown to users on every page of the portal."
    )
    logo: str = setting(
        "",
        pattern=r"^(/[A-Za-z0-9_./-]+\.(png|svg|jpg|jpeg|gif))?$",
        help="The factory's logo on every page of the portal: an image file (PNG, SVG, "
        "JPEG or GIF) that hub.user can read. Empty: the workbench's own.",
    )
    helpdesk: str = setting(
        "",
        pattern=r"^([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)?$",
        help='Where users get help: the helpdesk\'s mail address. "Get help" (on every '
        "page, on a session's card and in JupyterLab) sends it a support request with "
        "the session's context, through the mail settings (mail.relay). Empty: the "
        "pages say to ask the factory's administrators, and no request is sent.",
    )
    users_group: str = setting(
        "factory-users",
        name=names.GROUP,
        help="Unix group of every factory user. The hub may submit Slurm jobs "
        "only as members of this group (sudoers rule).",
    )
    prefix: str = setting(
        "/opt/aiworkbench",
        pattern=r"^/[A-Za-z0-9_./-]+$",
        help="Install prefix. Two Python environments live there: the kernels' "
        "(PREFIX/env: what notebook sessions and the dashboards run, readable "
        "by job users) and the hub's (PREFIX/hub: JupyterHub and its services), "
        "so that nothing installed for the kernels can break the hub.",
    )
    torch_requirement: str = setting(
        "torch==2.13.0",
        pattern=r"^torch([=<>!~]=?[0-9A-Za-z.+*]+)?$",
        help="pip requirement for torch in the kernel environment. On CPU-only "
        "machines use a CPU build; on GPU nodes a CUDA build.",
    )

    @property
    def kernel_env(self) -> str:
        """The kernels' environment: sessions, the dashboards, the catalog tools."""
        return f"{self.prefix}/env"

    @property
    def hub_env(self) -> str:
        """The hub's environment: JupyterHub, its authenticators, the workbench API and
        the idle culler."""
        return f"{self.prefix}/hub"


@dataclass(frozen=True, kw_only=True)
class HubSettings:
    user: str = setting(
        "jupyterhub", name=names.USER, help="Unprivileged system user the hub runs as."
    )
    port: int = setting(
        8000, minimum=1, maximum=65535, help="Public port of the proxy: the URL users open."
    )
    ip: str = setting(
        "",
        pattern=r"^[0-9a-fA-F.:]*$",
        help="Address the proxy listens on; empty means all addresses.",
    )
    proxy_api_port: int = setting(
        8001, minimum=1, maximum=65535, help="Port of the proxy's REST API (loopback only)."
    )
    hub_port: int = setting(
        8081,
        minimum=1,
        maximum=65535,
        help="Port of the hub's own API, which notebook jobs call back to.",
    )
    hub_ip: str = setting(
        "127.0.0.1",
        pattern=r"^[0-9a-fA-F.:]+$",
        help="Address the hub API listens on; compute nodes must reach it.",
    )
    data_dir: str = setting(
        "/var/lib/aiworkbench/hub",
        pattern=r"^/[A-Za-z0-9_./-]+$",
        help="Hub state: SQLite database and cookie secret. Kept by `make down`.",
    )
    database: str = setting(
        "sqlite",
        choices=("sqlite", "postgresql"),
        help="The hub's database: 'sqlite' (a file in data_dir; one hub, small sites) or "
        "'postgresql' (production: concurrent writes, online backups). With "
        "'postgresql' the hub logs in as its own system user (hub.user) with no "
        "password over the local socket, or with the password in data_dir/.pgpass "
        "(mode 0600) for a remote server.",
    )
    postgresql_host: str = setting(
        "",
        pattern=r"^[A-Za-z0-9.:/_-]*$",
        help="PostgreSQL server of the hub's database; empty means this machine's Unix "
        "socket (peer authentication: no password anywhere). Ignored with SQLite.",
    )
    postgresql_port: int = setting(
        5432, minimum=1, maximum=65535, help="Port of that PostgreSQL server."
    )
    postgresql_database: str = setting(
        "jupyterhub",
        name=names.DATABASE,
        help="Name of the hub's PostgreSQL database (owned by the role hub.user).",
    )
    max_sessions_per_user: int = setting(
        2,
        minimum=1,
        maximum=50,
        help="Sessions (default and named servers) one user may run at once, e.g. one CPU "
        "and one GPU session.",
    )
    poll_interval: int = setting(
        10,
        minimum=2,
        maximum=300,
        help="Seconds between the hub's checks of each session (against its last Slurm "
        "query, no query of its own). An ended job (time limit, scancel, node "
        "failure) is noticed within this plus slurm_steady_poll_interval.",
    )
    slurm_poll_interval: int = setting(
        5,
        minimum=1,
        maximum=120,
        help="Seconds between the hub's queries of Slurm while a session is starting: "
        "one squeue for all sessions, whatever their number.",
    )
    slurm_steady_poll_interval: int = setting(
        30,
        minimum=5,
        maximum=600,
        help="Seconds between the hub's queries of Slurm while every session runs (none "
        "starting); at least slurm_poll_interval. Each query costs Slurm's controller "
        "two RPCs.",
    )
    start_timeout: int = setting(
        300,
        minimum=30,
        maximum=86400,
        help="Seconds JupyterLab may take to answer once the session's job runs (the "
        "node's start-up, the environment's imports), before the spawn fails and its "
        "job is cancelled. Time in the queue is not counted: see queue_wait_hours.",
    )
    queue_wait_hours: float = setting(
        2.0,
        minimum=0.01,
        maximum=720,
        help="Hours a session may wait in Slurm's queue before the hub gives up, cancels "
        "its job and says why and what would start sooner. Meanwhile the user may "
        "leave the page: the home page shows the queued session and its expected "
        "start. Decimals are allowed (0.5: half an hour).",
    )
    api_port: int = setting(
        8090,
        minimum=1,
        maximum=65535,
        help="Port of the workbench API service (loopback; users and notebooks reach it "
        "through the proxy at /services/workbench/).",
    )
    accounting_refresh: int = setting(
        30,
        minimum=5,
        maximum=3600,
        help="Seconds between reads of Slurm accounting (budgets, usage, running jobs): "
        "one read per interval serves every user, however many ask.",
    )
    public_url: str = setting(
        "",
        pattern=r"^(https?://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:[0-9]{1,5})?)?$",
        help="The address users open, e.g. 'https://factory.example.org' (scheme, host and "
        "port; no path). Empty: derived from the proxy's settings, "
        "SCHEME://HOST:PORT with https when tls_cert is set, HOST being hub.ip or, "
        "when that is empty, this machine's fully qualified name. Set it when users "
        "reach the hub under another name (a DNS alias, a front proxy that "
        "terminates TLS): OpenID Connect's callback and the sessions' API address "
        "are built from it.",
    )
    tls_cert: str = setting(
        "",
        pattern=r"^(/[A-Za-z0-9_./-]+)?$",
        help="Certificate (PEM, with its intermediate chain) of the proxy's public port. "
        "With tls_key the proxy serves https and terminates TLS; empty: plain http. "
        "The file must be readable by hub.user. Notebook sessions reach the "
        "workbench API through the proxy, so compute nodes must trust the "
        "certificate (a public CA, or the site's CA in the nodes' system store).",
    )
    tls_key: str = setting(
        "",
        pattern=r"^(/[A-Za-z0-9_./-]+)?$",
        help="Private key of tls_cert (PEM), readable by hub.user only. Set both or neither.",
    )


AUTH_TYPES = ("pam", "oidc")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")  # where an http issuer is accepted


@dataclass(frozen=True, kw_only=True)
class AuthSettings:
    type: str = setting(
        "pam",
        choices=AUTH_TYPES,
        help="How people log in. 'pam': with their Unix password on the hub machine (the "
        "demo; passwords from [users]). 'oidc': through the site's OpenID Connect "
        "provider (authorization code flow with PKCE); the provider's username claim "
        "names the Unix user, who must be one of [users] (class learners included). "
        "With 'pam', issuer, client_id, client_secret_file and projects_claim must "
        "be empty; the other keys of this table are not used.",
    )
    issuer: str = setting(
        "",
        pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$",
        help="The OpenID provider's issuer URL, e.g. 'https://id.example.org/realms/ai'. "
        "The hub reads ISSUER/.well-known/openid-configuration at start for the "
        "authorization, token and userinfo endpoints, and refuses to start if the "
        "document's issuer differs. https only; http is accepted for loopback hosts "
        "(127.0.0.1, localhost: tests).",
    )
    client_id: str = setting(
        "",
        pattern=r"^[\x21-\x7e]{0,255}$",
        help="The hub's client id, registered with the provider (redirect URI: "
        "PUBLIC_URL/hub/oauth_callback, see hub.public_url).",
    )
    client_secret_file: str = setting(
        "",
        pattern=r"^(/[A-Za-z0-9_./-]+)?$",
        help="File holding the client secret (one line), readable by hub.user and not by "
        "everyone (e.g. mode 0600, or 0640 root:HUB_USER). Never put the secret in "
        "the site file. The hub reads it at start and does not start if the file is "
        "missing, unreadable, empty or readable by everyone.",
    )
    scopes: list[str] = setting(
        factory=lambda: ["openid", "profile", "email"],
        help="Scopes the hub asks for; must include 'openid'. Add the scope that makes the "
        "provider send projects_claim if it needs one (e.g. 'groups').",
    )
    username_claim: str = setting(
        "preferred_username",
        name=names.CLAIM,
        help="Claim (of the userinfo answer) whose value is the Unix user name. It is "
        "lower-cased (and its '@domain' removed with strip_domain); the login is "
        "refused (403) unless the result is a factory user.",
    )
    strip_domain: bool = setting(
        False,
        help="Remove an '@domain' suffix from the username claim ('Ada@uni.example' logs "
        "in as 'ada'). Only when the provider's names are unique without it.",
    )
    projects_claim: str = setting(
        "",
        name=names.CLAIM,
        empty=True,
        help="Claim listing the projects the provider says the person works in (a list, "
        "or one string separated by spaces or commas), e.g. 'projects' or 'groups'. "
        "Empty: not used, the person gets all their projects of the site file. Set: "
        "the login is refused (403) unless the claim names at least one of the "
        "person's projects in the site file; at each login the hub groups "
        "project-NAME of the person become exactly the claim's projects that are "
        "also theirs in the site file (names the site does not give them are "
        "ignored). Slurm accounts are not changed: the site file still decides "
        "what a session may be charged to.",
    )


@dataclass(frozen=True, kw_only=True)
class IdleSettings:
    cull_minutes: int = setting(
        120,
        minimum=0,
        maximum=10080,
        help="Minutes without activity (no open notebook, no running kernel work) after "
        "which jupyterhub-idle-culler stops a session; 0 turns culling off.",
    )
    cull_every_minutes: int = setting(
        5,
        minimum=1,
        maximum=1440,
        help="How often the idle culler looks for idle sessions, in minutes.",
    )
    gpu_threshold_percent: int = setting(
        5,
        minimum=1,
        maximum=100,
        help="A session's GPUs are idle while their mean utilisation stays below this.",
    )
    gpu_warn_minutes: int = setting(
        30,
        minimum=1,
        maximum=10080,
        help="Minutes of idle GPUs after which the session's user is warned (home page, "
        "budget widget, session log).",
    )
    gpu_stop_minutes: int = setting(
        60,
        minimum=0,
        maximum=10080,
        help="Minutes of idle GPUs after which the session is stopped, freeing its GPUs; "
        "0 only warns. Must be more than gpu_warn_minutes.",
    )
    gpu_report_seconds: int = setting(
        60,
        minimum=5,
        maximum=3600,
        help="How often a GPU session measures its GPUs' utilisation and reports it to the hub.",
    )


@dataclass(frozen=True, kw_only=True)
class CatalogSettings:
    root: str = setting(
        "/srv/aiworkbench/datasets",
        pattern=r"^/[A-Za-z0-9_./-]+$",
        help="Folder of the dataset catalog: one folder per dataset, each with a "
        "datacard.toml. Shared with the compute nodes, where sessions read the data. "
        "A restricted dataset's folder belongs to its projects' Unix groups (set by "
        "`aiworkbench-catalog index --set-permissions`).",
    )
    index: str = setting(
        "/var/lib/aiworkbench/catalog/index.sqlite",
        pattern=r"^/[A-Za-z0-9_./-]+$",
        help="The catalog's index (SQLite), written by `aiworkbench-catalog index` as root "
        "and read by the workbench API (readable by the hub user only).",
    )
    demo: bool = setting(
        False,
        help="Provision the demo catalog: small real datasets from installed packages "
        "(scikit-learn's iris, wine, breast cancer and digits; Python's help topics).",
    )
    demo_restricted_to: str = setting(
        "",
        name=names.PROJECT,
        empty=True,
        help="Project that the demo catalog's restricted dataset (breast-cancer-wisconsin) "
        "is restricted to; empty: the first project.",
    )


@dataclass(frozen=True, kw_only=True)
class CoursesSettings:
    root: str = setting(
        "/srv/aiworkbench/courses",
        pattern=r"^/[A-Za-z0-9_./-]+$",
        help="Published courses: CLASS/COURSE folders written by the workbench API (as the "
        "hub user) when a trainer publishes, readable by everyone. Each student's "
        "session copies them into the student's home (~/courses/COURSE).",
    )
    max_mb: int = setting(
        50,
        minimum=1,
        maximum=500,
        help="Largest course a trainer may publish, in megabytes (all its files).",
    )
    shipped_to: str = setting(
        "",
        name=names.CLASS,
        empty=True,
        help="A class that the workbench's shipped courses (example_notebooks/courses) are "
        "published to at install, as its first trainer, so that its learners find "
        "them on their first day; a course whose files have not changed is left as "
        "it is. Empty: none (trainers publish their own).",
    )


@dataclass(frozen=True, kw_only=True)
class MailSettings:
    relay: str = setting(
        "",
        pattern=r"^([A-Za-z0-9.-]+:[0-9]{1,5})?$",
        help='Where the hub hands its mail (support requests from "Get help"): HOST:PORT '
        "of the site's own SMTP server, which must accept mail from the login node "
        "without a password. Empty: the workbench runs Debian's exim on the login "
        "node (loopback port 25 only), which delivers to local mailboxes and, with "
        "mail.smarthost, to everyone else.",
    )
    smarthost: str = setting(
        "",
        pattern=r"^([A-Za-z0-9.-]+(::[0-9]{1,5})?)?$",
        help="With the workbench's exim only: the site's mail relay, HOST or HOST::PORT "
        "(exim's way of writing it), through which mail to other machines goes. "
        "Empty: exim delivers to this machine's mailboxes only (the demo: the "
        "helpdesk is admin@localhost).",
    )
    sender: str = setting(
        "",
        pattern=r"^([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)?$",
        help="The From address of the hub's mail; the relay must accept it. Empty: "
        "hub.user@localhost (enough for local delivery).",
    )


@dataclass(frozen=True, kw_only=True)
class DashboardsSettings:
    user: str = setting(
        "aiworkbench-dash",
        name=names.USER,
        help="System user that runs the managers' dashboards (Voila, a hub service the "
        "supervisor runs as this user) and its kernels: it reads Slurm accounting and "
        "owns the dashboards' store, nothing else.",
    )
    port: int = setting(
        8091,
        minimum=1,
        maximum=65535,
        help="Port of the dashboards service (loopback; managers reach it through the "
        "proxy at /services/dashboards/).",
    )
    store: str = setting(
        "/var/lib/aiworkbench/dashboards/accounting.duckdb",
        pattern=r"^/[A-Za-z0-9_./-]+$",
        help="The dashboards' analytical store (DuckDB): jobs from sacct, budgets, sessions, "
        "idle GPUs and course progress, ingested by the dashboards service; readable "
        "by its user only.",
    )
    ingest_seconds: int = setting(
        60,
        minimum=5,
        maximum=86400,
        help="Seconds between ingestions: each reads only what changed since the last "
        "(one sacct over the new window, one sshare, one squeue, the hub's sessions, "
        "the classes' progress). Dashboards never run sacct themselves.",
    )
    history_days: int = setting(
        365,
        minimum=1,
        maximum=3650,
        help="How far back the first ingestion reads Slurm accounting, in days.",
    )


@dataclass(frozen=True, kw_only=True)
class SlurmSettings:
    cluster_name: str = setting(
        "aifactory", name=names.CLUSTER, help="Slurm ClusterName (the accounting cluster)."
    )
    node_name: str = setting(
        "",
        name=names.NODE,
        empty=True,
        help="Name of the single demo node; empty means this machine's short hostname.",
    )
    node_cpus: int = setting(
        0,
        minimum=0,
        maximum=4096,
        help="CPUs the demo node declares to Slurm; 0 means the cores present. "
        "A larger number lets idle notebook sessions share cores on a small demo box.",
    )
    node_memory_mb: int = setting(
        0,
        minimum=0,
        maximum=16_777_216,
        help="Memory (MB) the demo node declares to Slurm; 0 means 90% of the memory present.",
    )
    simulated_gpus: int = setting(
        4,
        minimum=0,
        maximum=16,
        help="Simulated GPUs (character devices, GRES type 'simulated') to declare "
        "when `nvidia-smi` finds no NVIDIA GPU. With real GPUs this is ignored.",
    )
    private_data: list[str] = setting(
        factory=lambda: list(PRIVATE_DATA_DEFAULT),
        choices=PRIVATE_DATA_FLAGS,
        help="Slurm PrivateData (slurm.conf and slurmdbd.conf): what users see only of "
        "their own. jobs: other users' jobs and steps (squeue, scontrol show job, "
        "sacct); usage: other users' and projects' usage and fair share (sshare, "
        "sreport); users: other users' records and associations (sacctmgr); "
        "accounts: projects the user is not a coordinator of (sacctmgr); "
        "reservations: reservations the user may not use; events: node events "
        "(sacctmgr show events). Left visible by default: nodes and partitions "
        "(users choose where to run: sinfo), cloud. What each flag costs is in "
        "docs/security.md. The hub, the workbench API and the dashboards read "
        "everything as slurm.reader.",
    )
    reader: str = setting(
        "slurm-reader",
        name=names.USER,
        help="Unix and Slurm user whose sight the hub's poller and budgets, the workbench "
        "API and the dashboards' ingestion borrow to read every job, usage and "
        "account: AdminLevel Operator in Slurm (the least level PrivateData lets "
        "see all), no login shell, no job of its own (MaxSubmitJobs=0). Its "
        "services reach it only through sudo, for squeue, sacct and sshare.",
    )


@dataclass(frozen=True, kw_only=True)
class Partition:
    description: str = setting(help="What the partition is for, shown to users.")
    gpus: bool = setting(False, help="Whether the partition's nodes have GPUs.")
    default: bool = setting(False, help="Slurm's default partition (exactly one).")
    max_hours: int = setting(
        8, minimum=1, maximum=720, help="Longest session or job allowed, in hours (Slurm MaxTime)."
    )
    max_cpus: int = setting(
        8, minimum=1, maximum=4096, help="Most CPU cores one session may ask for."
    )
    max_gpus: int = setting(
        0, minimum=0, maximum=64, help="Most GPUs one session may ask for (0 on CPU partitions)."
    )
    presets: list[str] = setting(
        factory=list,
        help="Core-and-memory presets offered on this partition (keys of [presets]), in "
        "form order; empty means every preset within max_cpus.",
    )


@dataclass(frozen=True, kw_only=True)
class Preset:
    description: str = setting("", help="Shown in the form next to the cores and memory.")
    cpus: int = setting(minimum=1, maximum=4096, help="CPU cores.")
    memory_gb: int = setting(minimum=1, maximum=16384, help="Memory in GB.")


@dataclass(frozen=True, kw_only=True)
class Profile:
    description: str = setting(help="Shown in the session form.")
    partition: str = setting(help="Partition the session runs on (a key of [partitions]).")
    preset: str = setting(help="Cores and memory (a key of [presets] offered on the partition).")
    gpus: int = setting(0, minimum=0, maximum=64, help="GPUs.")
    hours: int = setting(1, minimum=1, maximum=720, help="Walltime in hours.")


@dataclass(frozen=True, kw_only=True)
class Project:
    description: str = setting(help="What the project is, shown with its budget.")
    gpu_minutes: int = setting(
        minimum=0,
        maximum=10**12,
        help="GPU budget in GPU-minutes (Slurm GrpTRESMins gres/gpu). A hard allocation: "
        "usage never decays.",
    )
    cpu_minutes: int = setting(
        minimum=0, maximum=10**12, help="CPU budget in core-minutes (Slurm GrpTRESMins cpu)."
    )
    members: list[str] = setting(factory=list, help="Users in the project (keys of [users]).")
    partitions: list[str] = setting(
        factory=list,
        help="Partitions the project's sessions may use (keys of [partitions]); empty means all.",
    )
    max_gpus: int = setting(
        64,
        minimum=0,
        maximum=64,
        help="Most GPUs one session of the project may ask for; the partition's max_gpus "
        "applies too. 0 means the project runs no GPU sessions.",
    )
    max_hours: int = setting(
        720,
        minimum=1,
        maximum=720,
        help="Longest session of the project, in hours; the partition's max_hours applies too.",
    )
    demo_gpu_usage: float = setting(
        0.0,
        minimum=0,
        maximum=0.9,
        help="The demo only: the share of the GPU budget that one real Slurm job, charged "
        "to the project as its first member, uses at install, so that a project "
        "nearly used up can be shown: its budget warnings, its refusals and Slurm's "
        "pending-for-budget reason. The job holds the GPUs of one node of the GPU "
        "partition for whole minutes (the demo: 4 simulated GPUs for 2 minutes, 8 of "
        "10 GPU-minutes), and runs once: never again while Slurm's accounting has "
        "it; make up waits for it to end. 0: none (a real site).",
    )


@dataclass(frozen=True, kw_only=True)
class User:
    role: str = setting(choices=ROLES, help="What the person does here; admins become hub admins.")
    full_name: str = setting("", help="Display name.")
    password: str = setting(
        "",
        help="Demo login password for the local Unix account. Leave empty on real "
        "sites (accounts come from the site's directory or OIDC).",
    )


@dataclass(frozen=True, kw_only=True)
class TrainingClass:
    description: str = setting(help="What the class is, shown to its trainers and learners.")
    project: str = setting(
        help="Project (a key of [projects]) that the class's sessions are charged to; "
        "every learner becomes a member."
    )
    trainers: list[str] = setting(factory=list, help="Users (keys of [users]) who teach the class.")
    members: list[str] = setting(
        factory=list, help="Existing users (keys of [users]) who take the class."
    )
    learners: int = setting(
        0,
        minimum=0,
        maximum=999,
        help="Learner accounts to create for the class: NAME-01, NAME-02, … (role student), "
        "on top of members. For courses whose participants get workshop accounts.",
    )
    learner_password: str = setting(
        "",
        help="Demo login password of every created learner account. Leave empty on real "
        "sites (accounts come from the site's directory or OIDC).",
    )


@dataclass(frozen=True)
class SessionLimits:
    """What one project may ask for on one partition (see Site.session_limits)."""

    presets: tuple[str, ...]
    min_gpus: int
    max_gpus: int
    max_hours: int

    def text(self, project: str, partition: str) -> str:
        gpus = (
            f"{self.max_gpus} GPU{'' if self.max_gpus == 1 else 's'}"
            if self.max_gpus
            else "no GPUs"
        )
        return (
            f"Project {project} on partition {partition}: {gpus} and up to "
            f"{self.max_hours} hour{'' if self.max_hours == 1 else 's'} per session."
        )


@dataclass(frozen=True, kw_only=True)
class Site:
    factory: FactorySettings = setting(factory=FactorySettings, help="The factory as a whole.")
    hub: HubSettings = setting(factory=HubSettings, help="JupyterHub and its proxy.")
    auth: AuthSettings = setting(
        factory=AuthSettings,
        help="Login: PAM (Unix passwords; the demo) or OpenID Connect (the site's identity "
        "provider). See docs/production.md.",
    )
    slurm: SlurmSettings = setting(factory=SlurmSettings, help="The Slurm cluster.")
    idle: IdleSettings = setting(
        factory=IdleSettings,
        help="Idle protection: culling sessions without activity, stopping sessions whose "
        "GPUs stay idle.",
    )
    courses: CoursesSettings = setting(
        factory=CoursesSettings, help="Skills tutorials: where published courses live."
    )
    catalog: CatalogSettings = setting(
        factory=CatalogSettings, help="The dataset catalog: where datasets and the index live."
    )
    mail: MailSettings = setting(
        factory=MailSettings, help="Mail: how support requests reach factory.helpdesk."
    )
    dashboards: DashboardsSettings = setting(
        factory=DashboardsSettings,
        help="The managers' dashboards (Voila, only for the hub group 'managers'): usage, "
        "budgets, queue waits, sessions and idle GPUs, course progress.",
    )
    partitions: dict[str, Partition] = setting(help="Slurm partitions, by name.")
    presets: dict[str, Preset] = setting(
        help="Core-and-memory presets offered in the session form, by name."
    )
    profiles: dict[str, Profile] = setting(
        help="Session profiles, by name: ready-made choices that fill in the session form "
        "(and the `profile` key of the REST API). The first is the default."
    )
    projects: dict[str, Project] = setting(
        help="Projects, by name: each is a Slurm account with a budget."
    )
    users: dict[str, User] = setting(help="Factory users, by Unix user name.")
    classes: dict[str, TrainingClass] = setting(
        factory=dict,
        help="Training classes, by name: groups of learners with their trainers. Each "
        "becomes the hub group class-NAME.",
    )

    def learners_of(self, name: str) -> list[str]:
        """The accounts created for class ``name``: NAME-01, NAME-02, …"""
        count = self.classes[name].learners
        width = max(2, len(str(count)))
        return [f"{name}-{i:0{width}d}" for i in range(1, count + 1)]

    def class_members(self, name: str) -> list[str]:
        """Everyone who takes class ``name``: its members, then its created learners."""
        return [*self.classes[name].members, *self.learners_of(name)]

    def hub_groups(self) -> dict[str, list[str]]:
        """The hub groups and their members: ROLEs (e.g. students), class-NAME for each
        class, project-NAME for each project."""
        groups: dict[str, list[str]] = {}
        for name, user in self.users.items():
            groups.setdefault(f"{user.role}s", []).append(name)
        for name in self.classes:
            groups[f"class-{name}"] = self.class_members(name)
        for name, project in self.projects.items():
            groups[f"project-{name}"] = list(project.members)
        return groups

    def public_url(self) -> str:
        """The address users open: hub.public_url, or SCHEME://HOST:PORT derived from
        the proxy's settings."""
        hub = self.hub
        if hub.public_url:
            return hub.public_url
        scheme = "https" if hub.tls_cert else "http"
        host = hub.ip or socket.getfqdn()
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{hub.port}"

    def demo_restricted_project(self) -> str:
        """The project the demo catalog's restricted dataset belongs to."""
        return self.catalog.demo_restricted_to or next(iter(self.projects))

    def projects_of(self, user: str) -> list[str]:
        """Projects (Slurm accounts) the user belongs to, in site-file order."""
        return [name for name, p in self.projects.items() if user in p.members]

    def session_limits(self, project: str, partition: str) -> SessionLimits | None:
        """What one session of ``project`` may ask for on ``partition``: the stricter of
        the two's limits; None if the project may not use the partition."""
        proj, part = self.projects[project], self.partitions[partition]
        if proj.partitions and partition not in proj.partitions:
            return None
        max_gpus = min(part.max_gpus, proj.max_gpus) if part.gpus else 0
        if part.gpus and max_gpus < 1:
            return None
        return SessionLimits(
            presets=tuple(self.presets_on(partition)),
            min_gpus=1 if part.gpus else 0,
            max_gpus=max_gpus,
            max_hours=min(part.max_hours, proj.max_hours),
        )

    def usable_partitions(self, project: str) -> dict[str, SessionLimits]:
        """The partitions ``project`` may use, with their limits, in site order."""
        found = {name: self.session_limits(project, name) for name in self.partitions}
        return {name: limits for name, limits in found.items() if limits is not None}

    def presets_on(self, partition: str) -> list[str]:
        """Presets offered on ``partition``, in form order."""
        part = self.partitions[partition]
        if part.presets:
            return list(part.presets)
        return [name for name, p in self.presets.items() if p.cpus <= part.max_cpus]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


class SiteError(ValueError):
    """A site file that does not validate; ``problems`` lists every mistake found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(
            f"{source}: invalid site file:\n" + "\n".join(f"  - {p}" for p in problems)
        )


# The rule of each table's names (its keys).
_KEY_NAMES = {
    "partitions": names.PARTITION,
    "presets": names.PRESET,
    "profiles": names.PROFILE,
    "projects": names.PROJECT,
    "users": names.USER,
    "classes": names.CLASS,
}


def _describe(kind) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list[str]: "a list of strings",
    }.get(kind, getattr(kind, "__name__", str(kind)))


def _check_value(path: str, value, kind, meta, problems: list[str]):
    """Return the value if it is valid for ``kind`` and ``meta``; record a problem otherwise."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    elif kind == list[str]:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:  # pragma: no cover - schema bug
        raise TypeError(f"unsupported schema type {kind!r} at {path}")
    if not ok:
        problems.append(f"{path}: must be {_describe(kind)}, got {value!r}")
        return None
    if meta.get("minimum") is not None and value < meta["minimum"]:
        problems.append(f"{path}: must be at least {meta['minimum']}, got {value}")
        return None
    if meta.get("maximum") is not None and value > meta["maximum"]:
        problems.append(f"{path}: must be at most {meta['maximum']}, got {value}")
        return None
    if meta.get("choices"):
        wrong = [v for v in (value if kind == list[str] else [value]) if v not in meta["choices"]]
        if wrong:
            problems.append(
                f"{path}: must be {'any of' if kind == list[str] else 'one of'} "
                f"{', '.join(meta['choices'])}; got {', '.join(map(repr, wrong))}"
            )
            return None
        if kind == list[str] and len(set(value)) != len(value):
            problems.append(f"{path}: names a value twice: {value!r}")
            return None
    if meta.get("pattern") and not re.fullmatch(meta["pattern"], value):
        problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
        return None
    rule = meta.get("name")
    if rule is not None and not (meta.get("empty") and value == "") and not rule.ok(value):
        problems.append(f"{path}: {rule.refusal(value)}")
        return None
    if isinstance(value, str) and ("\n" in value or "\x00" in value):
        problems.append(f"{path}: must be a single line")
        return None
    return value


def _build(cls, data, path: str, problems: list[str]):
    """Build dataclass ``cls`` from a TOML table, recording every problem."""
    if not isinstance(data, dict):
        problems.append(f"{path or 'the file'}: must be a table, got {data!r}")
        return None
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            allowed = ", ".join(sorted(known))
            problems.append(f"{_join(path, key)}: unknown key; allowed keys: {allowed}")
    values = {}
    for name, f in known.items():
        here = _join(path, name)
        kind = hints[name]
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{here}: required ({f.metadata['help']})")
            continue
        raw = data[name]
        if dataclasses.is_dataclass(kind):
            built = _build(kind, raw, here, problems)
        elif typing.get_origin(kind) is dict:
            built = _build_table(typing.get_args(kind)[1], raw, here, name, problems)
        else:
            built = _check_value(here, raw, kind, f.metadata, problems)
        if built is not None:
            values[name] = built
    try:
        return cls(**values)
    except TypeError:
        return None  # a required value was missing or invalid; already reported


def _build_table(cls, data, path: str, section: str, problems: list[str]):
    if not isinstance(data, dict):
        problems.append(f"{path}: must be a table of named entries, got {data!r}")
        return None
    out = {}
    for key, value in data.items():
        why = _KEY_NAMES[section].problem(key)
        if why:
            problems.append(f"{path}.{key}: {why}")
            continue
        built = _build(cls, value, f"{path}.{key}", problems)
        if built is not None:
            out[key] = built
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _add_learners(site: Site, problems: list[str]) -> Site:
    """The site with each class's learner accounts added to users and to its project."""
    users, projects = dict(site.users), dict(site.projects)
    for name, klass in site.classes.items():
        here = f"classes.{name}"
        if klass.project not in projects:
            problems.append(
                f"{here}.project: unknown project {klass.project!r}; allowed: {', '.join(projects)}"
            )
            continue
        for key in ("trainers", "members"):
            for user in getattr(klass, key):
                if user not in site.users:
                    problems.append(
                        f"{here}.{key}: unknown user {user!r}; users are the keys of [users]"
                    )
        learners = site.learners_of(name)
        for i, learner in enumerate(learners, 1):
            if learner in users:
                problems.append(
                    f"{here}.learners: account {learner!r} would replace "
                    f"users.{learner}; rename the class or the user"
                )
                continue
            users[learner] = User(
                role="student", full_name=f"{name} learner {i}", password=klass.learner_password
            )
        project = projects[klass.project]
        joining = [u for u in [*klass.members, *learners] if u not in project.members]
        projects[klass.project] = dataclasses.replace(project, members=[*project.members, *joining])
    return dataclasses.replace(site, users=users, projects=projects)


def _cross_checks(site: Site, problems: list[str]):
    for check in (
        _service_checks,
        _partition_checks,
        _profile_checks,
        _project_checks,
        _demo_usage_checks,
    ):
        check(site, problems)


def _demo_usage_checks(site: Site, problems: list[str]):
    """The demo's usage job: a GPU partition, a member to run it, a whole minute."""
    for name, project in site.projects.items():
        share = project.demo_gpu_usage
        if not share:
            continue
        key = f"projects.{name}.demo_gpu_usage"
        if not any(p.gpus for p in site.partitions.values()):
            problems.append(f"{key}: needs a GPU partition to run its job on")
        elif not project.members:
            problems.append(f"{key}: the project has no member to run its job")
        elif share * project.gpu_minutes < 1:
            problems.append(
                f"{key}: {share} of {project.gpu_minutes} GPU-minutes is less "
                f"than a GPU-minute; at least {1 / project.gpu_minutes:.2g}"
            )


def _service_checks(site: Site, problems: list[str]):
    """Timings, ports and the services' own users."""
    idle = site.idle
    if idle.gpu_stop_minutes and idle.gpu_stop_minutes <= idle.gpu_warn_minutes:
        problems.append(
            f"idle.gpu_stop_minutes: {idle.gpu_stop_minutes} must be more than "
            f"idle.gpu_warn_minutes = {idle.gpu_warn_minutes} (or 0: only warn)"
        )
    shipped_to = site.courses.shipped_to
    if shipped_to and shipped_to not in site.classes:
        problems.append(
            f"courses.shipped_to: {shipped_to!r} is not a class; classes: "
            f"{', '.join(site.classes) or 'none'}"
        )
    if site.mail.relay and site.mail.smarthost:
        problems.append(
            "mail.smarthost: applies to the workbench's own exim only, which "
            "does not run when mail.relay names the site's SMTP server; set one "
            "of the two"
        )
    hub = site.hub
    if hub.slurm_steady_poll_interval < hub.slurm_poll_interval:
        problems.append(
            f"hub.slurm_steady_poll_interval: {hub.slurm_steady_poll_interval} "
            f"must be at least hub.slurm_poll_interval = {hub.slurm_poll_interval}"
        )
    ports = {
        "hub.port": site.hub.port,
        "hub.proxy_api_port": site.hub.proxy_api_port,
        "hub.hub_port": site.hub.hub_port,
        "hub.api_port": site.hub.api_port,
        "dashboards.port": site.dashboards.port,
    }
    for key, port in ports.items():
        same = [k for k, p in ports.items() if p == port and k != key]
        if same and key < same[0]:
            problems.append(f"{key}: port {port} is also {same[0]}; each needs its own")
    if site.dashboards.user in (site.hub.user, *site.users):
        problems.append(
            f"dashboards.user: {site.dashboards.user!r} is also the hub's user "
            f"or a factory user; the dashboards run as their own system user"
        )
    if site.slurm.reader in (site.hub.user, site.dashboards.user, "slurm", "root", *site.users):
        problems.append(
            f"slurm.reader: {site.slurm.reader!r} is also the hub's or the "
            f"dashboards' user, Slurm's, root or a factory user; the reader is a "
            f"user of its own, which the services reach only through sudo"
        )
    if site.hub.user in site.users:
        problems.append(
            f"hub.user: {site.hub.user!r} is also a factory user; the hub "
            f"must run as its own system user"
        )


def _partition_checks(site: Site, problems: list[str]):
    defaults = [n for n, p in site.partitions.items() if p.default]
    if len(defaults) != 1:
        problems.append(
            f"partitions: exactly one partition must have default = true, "
            f"found {len(defaults)} ({', '.join(defaults) or 'none'})"
        )
    if not any(p.gpus for p in site.partitions.values()):
        problems.append("partitions: at least one partition must have gpus = true")
    for name, part in site.partitions.items():
        if part.gpus and part.max_gpus < 1:
            problems.append(f"partitions.{name}.max_gpus: a GPU partition must allow at least 1")
        if not part.gpus and part.max_gpus:
            problems.append(f"partitions.{name}.max_gpus: must be 0 on a partition without GPUs")
        for preset in part.presets:
            if preset not in site.presets:
                problems.append(
                    f"partitions.{name}.presets: unknown preset {preset!r}; "
                    f"allowed: {', '.join(site.presets)}"
                )
            elif site.presets[preset].cpus > part.max_cpus:
                problems.append(
                    f"partitions.{name}.presets: preset {preset!r} has "
                    f"{site.presets[preset].cpus} cores, more than max_cpus = "
                    f"{part.max_cpus}"
                )
        if not part.presets and not any(p.cpus <= part.max_cpus for p in site.presets.values()):
            problems.append(f"partitions.{name}: no preset fits max_cpus = {part.max_cpus}")


def _profile_checks(site: Site, problems: list[str]):
    if not site.profiles:
        problems.append("profiles: at least one profile is needed (the first is the default)")
    for name, prof in site.profiles.items():
        here = f"profiles.{name}"
        part = site.partitions.get(prof.partition)
        if part is None:
            problems.append(
                f"{here}.partition: unknown partition {prof.partition!r}; "
                f"allowed: {', '.join(site.partitions)}"
            )
            continue
        offered = site.presets_on(prof.partition)
        if prof.preset not in offered:
            problems.append(
                f"{here}.preset: {prof.preset!r} is not offered on partition "
                f"{prof.partition!r}; allowed: {', '.join(offered)}"
            )
        if prof.gpus > part.max_gpus:
            problems.append(
                f"{here}.gpus: {prof.gpus} exceeds partition "
                f"{prof.partition!r} max_gpus = {part.max_gpus}"
            )
        if part.gpus and prof.gpus < 1:
            problems.append(
                f"{here}.gpus: a profile on GPU partition {prof.partition!r} needs at least 1 GPU"
            )
        if prof.hours > part.max_hours:
            problems.append(
                f"{here}.hours: {prof.hours} exceeds partition "
                f"{prof.partition!r} max_hours = {part.max_hours}"
            )


def _project_checks(site: Site, problems: list[str]):
    """Projects, their members and partitions, and the names they must not take."""
    for name, proj in site.projects.items():
        unknown = [p for p in proj.partitions if p not in site.partitions]
        for partition in unknown:
            problems.append(
                f"projects.{name}.partitions: unknown partition "
                f"{partition!r}; allowed: {', '.join(site.partitions)}"
            )
        if not unknown and not site.usable_partitions(name):
            problems.append(
                f"projects.{name}: may use no partition (check partitions and max_gpus)"
            )
        for member in proj.members:
            if member not in site.users:
                problems.append(
                    f"projects.{name}.members: unknown user {member!r}; "
                    f"users are the keys of [users]"
                )
    restricted = site.catalog.demo_restricted_to
    if restricted and restricted not in site.projects:
        problems.append(
            f"catalog.demo_restricted_to: unknown project {restricted!r}; "
            f"allowed: {', '.join(site.projects)}"
        )
    reserved = {site.hub.user, site.factory.users_group, *site.users}
    for name in site.projects:
        if name in reserved:
            problems.append(
                f"projects.{name}: the name is also a user or group of the "
                f"factory; each project gets a Unix group of its name (dataset "
                f"access), so it needs a name of its own"
            )
    for name in site.users:
        if not site.projects_of(name):
            problems.append(f"users.{name}: belongs to no project; add them to a project's members")


def _auth_checks(site: Site, problems: list[str]):
    auth, hub = site.auth, site.hub
    if bool(hub.tls_cert) != bool(hub.tls_key):
        problems.append(
            "hub.tls_cert, hub.tls_key: set both (the proxy serves https) or neither (plain http)"
        )
    if hub.tls_cert and hub.public_url.startswith("http://"):
        problems.append(
            f"hub.public_url: {hub.public_url!r} is http, but the proxy serves "
            f"https (hub.tls_cert is set); use https://"
        )
    oidc_only = {
        "issuer": auth.issuer,
        "client_id": auth.client_id,
        "client_secret_file": auth.client_secret_file,
        "projects_claim": auth.projects_claim,
    }
    if auth.type == "pam":
        for key, value in oidc_only.items():
            if value:
                problems.append(
                    f'auth.{key}: only used with auth.type = "oidc"; remove it or set the type'
                )
        return
    missing = [
        f"auth.{key}" for key in ("issuer", "client_id", "client_secret_file") if not oidc_only[key]
    ]
    if missing:
        problems.append(
            f'{", ".join(missing)}: required with auth.type = "oidc" (the '
            f"provider's issuer URL, the hub's client id, the file holding its "
            f"client secret)"
        )
    if auth.issuer:
        parts = urllib.parse.urlsplit(auth.issuer)
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            problems.append(
                f"auth.issuer: {auth.issuer!r} must be https (http only for "
                f"127.0.0.1 or localhost, in tests)"
            )
    if "openid" not in auth.scopes:
        problems.append(f"auth.scopes: must include 'openid', got {auth.scopes}")
    for scope in auth.scopes:
        if not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", scope):
            problems.append(f"auth.scopes: {scope!r} is not a valid scope name")


def parse_site(text: str, source: str = "<site>") -> Site:
    """Validate the text of a site file; raise :class:`SiteError` listing every mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SiteError(source, [f"not valid TOML: {err}"]) from None
    problems: list[str] = []
    site = _build(Site, data, "", problems)
    if site is not None and not problems:
        site = _add_learners(site, problems)
        _cross_checks(site, problems)
        _auth_checks(site, problems)
    if problems:
        raise SiteError(source, problems)
    return site


def default_site_file(environ=None) -> str:
    """$AIWORKBENCH_SITE, or the installed site file (:data:`SITE_FILE`)."""
    env = os.environ if environ is None else environ
    return env.get(SITE_ENV, "") or SITE_FILE


def load_site(path: str | Path) -> Site:
    """Read and validate the site file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SiteError(str(path), [f"cannot read the file: {err.strerror}"]) from None
    except UnicodeDecodeError:
        raise SiteError(str(path), ["the file is not UTF-8 text"]) from None
    return parse_site(text, str(path))


def _name_words(rule, empty: bool = False) -> str:
    """A name rule in the reference: its words and its pattern."""
    return f"{'empty, or ' if empty else ''}{rule.allowed} (`{rule.pattern.pattern}`)"


def reference_markdown() -> str:
    """The configuration reference, generated from the schema above."""
    lines = [
        "# Site file reference",
        "",
        "<!-- Generated by `python -m aiworkbench.core.site docs`; do not edit. -->",
        "",
        "The site file (TOML) describes one factory. `make up` validates it before",
        "changing anything; the hub validates it again at start. The demo site is",
        "`hub_config/site.toml`.",
        "",
    ]
    hints = typing.get_type_hints(Site)
    for f in dataclasses.fields(Site):
        kind = hints[f.name]
        table = typing.get_origin(kind) is dict
        cls = typing.get_args(kind)[1] if table else kind
        heading = f"[{f.name}.NAME]" if table else f"[{f.name}]"
        lines += [
            f"## `{heading}`",
            "",
            f.metadata["help"] + (f" NAME: {_name_words(_KEY_NAMES[f.name])}." if table else ""),
            "",
            "| key | type | default | allowed | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        sub_hints = typing.get_type_hints(cls)
        for sf in dataclasses.fields(cls):
            meta = sf.metadata
            if sf.default is not dataclasses.MISSING:
                default = f"`{json.dumps(sf.default)}`"
            elif sf.default_factory is not dataclasses.MISSING:
                default = f"`{json.dumps(sf.default_factory())}`"
            else:
                default = "required"
            allowed = []
            if meta.get("choices"):
                allowed.append(", ".join(meta["choices"]))
            if meta.get("minimum") is not None:
                allowed.append(f"≥ {meta['minimum']}")
            if meta.get("maximum") is not None:
                allowed.append(f"≤ {meta['maximum']}")
            if meta.get("pattern"):
                allowed.append(f"`{meta['pattern']}`")
            if meta.get("name") is not None:
                allowed.append(_name_words(meta["name"], meta.get("empty", False)))
            lines.append(
                f"| `{sf.name}` | {_describe(sub_hints[sf.name])} | {default} | "
                f"{'; '.join(allowed).replace('|', '&#124;')} | {meta['help']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m aiworkbench.core.site check FILE | export FILE | docs``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m aiworkbench.core.site", description="Check, export or document a site file."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("check", "validate FILE and say what it holds"),
        ("export", "print FILE, validated, as JSON (for ansible)"),
    ):
        commands.add_parser(name, help=text, description=text).add_argument(
            "file", metavar="FILE", help="the site file (TOML)"
        )
    commands.add_parser("docs", help="print the configuration reference (Markdown)")
    args = parser.parse_args(argv)
    if args.command == "docs":
        print(reference_markdown())
        return 0
    try:
        site = load_site(args.file)
    except SiteError as err:
        print(err, file=sys.stderr)
        return 1
    if args.command == "export":
        print(site.to_json())
    else:
        print(f"{args.file}: valid ({len(site.projects)} projects, {len(site.users)} users)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
