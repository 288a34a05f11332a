"""``aiworkbench-backup``: back up and restore the hub's and Slurm accounting's databases.

What a backup holds (one folder, ``DEST/aiworkbench-YYYYmmdd-HHMMSS/``, mode 0700):

- the hub's database: an online copy of ``jupyterhub.sqlite`` (SQLite's backup API),
  or ``jupyterhub.pgdump`` (``pg_dump`` custom format, run as the hub user);
- the workbench API's course progress, ``workbench-progress.sqlite`` (online copy);
- the hub's cookie secret, so that users' cookies stay valid after a restore;
- Slurm accounting: ``mariadb-dump --single-transaction`` of ``slurm_acct_db``;
- ``manifest.json``: every file with its size and sha256, the site's cluster name,
  the tools' versions and the time.

Restore checks the manifest and the checksums first, refuses while the hub or
slurmdbd runs, then puts everything back; the admin starts the factory again
with ``make up``. Runs as root; the standard library only, and the database tools
as argument lists (never a shell). See ``docs/backup.md``.

Exit status: 0 done, 1 refused or failed (nothing half-written is left), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import pwd
import shutil
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiworkbench.core import commands
from aiworkbench.core.commands import CommandError
from aiworkbench.core.daemons import DAEMONS, hub_pidfile
from aiworkbench.core.preflight import running_pid
from aiworkbench.core.site import SITE_FILE, Site, SiteError, default_site_file, load_site
from aiworkbench.core.units import human_size

SLURMDBD_PIDFILE = DAEMONS["slurmdbd"]["pidfile"]
# How to start MariaDB alone after `make down` (which stops the supervisor too).
MARIADB_START = (
    "supervisord --configuration /etc/supervisor/supervisord.conf; "
    f"supervisorctl start {DAEMONS['mariadb']['program']}"
)
ACCOUNTING_DATABASE = "slurm_acct_db"  # ansible role mariadb: mariadb_slurm_database
PG_ADMIN_USER = "postgres"  # Debian's PostgreSQL superuser (peer authentication)
PG_SOCKET_DIR = "/var/run/postgresql"  # hub.postgresql_host = "" (see hub.config.db_url)

HUB_SQLITE = "jupyterhub.sqlite"
HUB_PGDUMP = "jupyterhub.pgdump"
PROGRESS_SQLITE = "workbench-progress.sqlite"  # aiworkbench.api.app.PROGRESS_FILE
COOKIE_SECRET = "jupyterhub_cookie_secret"
MANIFEST = "manifest.json"
FOLDER_PREFIX = "aiworkbench-"
FOLDER_TIME = "%Y%m%d-%H%M%S"
FORMAT = 1  # of manifest.json
PARTS = ("hub", "accounting")
CHUNK = 1 << 20
# How long one dump or load of a database may run (pg_dump, mariadb-dump, pg_restore,
# mariadb): see run_to_file.
DUMP_TIMEOUT_S = 12 * 3600


class BackupError(Exception):
    """A refusal or a failure, with what was wrong and what to do."""


class ToolFailed(CommandError, BackupError):
    """A database tool that could not be run or failed: a CommandError like any command's,
    and a BackupError, with which aiworkbench-backup refuses or fails."""


@dataclass(frozen=True, kw_only=True)
class Factory:
    """What is backed up and where it lives: from the site file and the command line."""

    data_dir: Path
    hub_user: str  # owner of the restored files; the PostgreSQL role of the hub
    hub_database: str = "sqlite"  # or "postgresql"
    pg_host: str = ""  # "" = the local socket in PG_SOCKET_DIR
    pg_port: int = 5432
    pg_database: str = "jupyterhub"
    pg_admin_user: str = PG_ADMIN_USER
    accounting_database: str = ACCOUNTING_DATABASE
    mariadb_socket: str = ""  # "" = the client's default socket
    cluster_name: str = ""
    hub_pidfile: str = ""  # "" = the site's (daemons.hub_pidfile)
    slurmdbd_pidfile: str = SLURMDBD_PIDFILE

    @classmethod
    def from_site(cls, site: Site, **options) -> Factory:
        hub = site.hub
        options.setdefault("hub_pidfile", hub_pidfile(site))
        return cls(
            data_dir=Path(hub.data_dir),
            hub_user=hub.user,
            hub_database=hub.database,
            pg_host=hub.postgresql_host,
            pg_port=hub.postgresql_port,
            pg_database=hub.postgresql_database,
            cluster_name=site.slurm.cluster_name,
            **options,
        )


# ---------------------------------------------------------------- commands (argument lists)


def as_user(user: str, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` (PostgreSQL's peer authentication needs the user's uid)."""
    return ["runuser", "-u", user, "--", *argv]


def pg_connection(factory: Factory) -> list[str]:
    return ["--host", factory.pg_host or PG_SOCKET_DIR, "--port", str(factory.pg_port)]


def pg_dump_argv(factory: Factory) -> list[str]:
    """The hub database in pg_dump's custom format, to standard output."""
    return as_user(
        factory.hub_user,
        ["pg_dump", "--format=custom", *pg_connection(factory), "--dbname", factory.pg_database],
    )


def dropdb_argv(factory: Factory, database: str | None = None) -> list[str]:
    return as_user(
        factory.pg_admin_user,
        ["dropdb", "--if-exists", *pg_connection(factory), database or factory.pg_database],
    )


def createdb_argv(factory: Factory, database: str | None = None) -> list[str]:
    return as_user(
        factory.pg_admin_user,
        [
            "createdb",
            *pg_connection(factory),
            "--owner",
            factory.hub_user,
            "--template",
            "template0",
            "--encoding",
            "UTF8",
            database or factory.pg_database,
        ],
    )


def pg_restore_argv(factory: Factory, database: str | None = None) -> list[str]:
    """Load a custom-format dump from standard input, every object owned by the hub role."""
    return as_user(
        factory.hub_user,
        [
            "pg_restore",
            *pg_connection(factory),
            "--dbname",
            database or factory.pg_database,
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
        ],
    )


# Renames a database when it exists; the names come in psql variables and are quoted
# by PostgreSQL's format(%I). Read from standard input (psql interpolates variables
# there, not in --command).
PG_RENAME = (
    "SELECT format('ALTER DATABASE %I RENAME TO %I', :'old', :'new') "
    "WHERE EXISTS (SELECT FROM pg_database WHERE datname = :'old') \\gexec\n"
)


def pg_rename_argv(factory: Factory, old: str, new: str) -> list[str]:
    """psql renaming database ``old`` to ``new`` (when it exists) with PG_RENAME."""
    return as_user(
        factory.pg_admin_user,
        [
            "psql",
            "--no-psqlrc",
            *pg_connection(factory),
            "--dbname",
            "postgres",
            "--set=ON_ERROR_STOP=1",
            f"--set=old={old}",
            f"--set=new={new}",
            "--file=-",
        ],
    )


def mariadb_socket_option(factory: Factory) -> list[str]:
    return [f"--socket={factory.mariadb_socket}"] if factory.mariadb_socket else []


def mariadb_dump_argv(factory: Factory) -> list[str]:
    """A consistent dump without stopping slurmdbd (InnoDB: one transaction). The dump
    drops and recreates the database when loaded."""
    return [
        "mariadb-dump",
        *mariadb_socket_option(factory),
        "--single-transaction",
        "--routines",
        "--triggers",
        "--add-drop-database",
        "--databases",
        factory.accounting_database,
    ]


def mariadb_load_argv(factory: Factory) -> list[str]:
    return ["mariadb", *mariadb_socket_option(factory), "--batch"]


def tool_version(argv: list[str]) -> str:
    """First line of ``argv``'s answer (e.g. ``pg_dump --version``), or why there is none."""
    try:
        out, code = commands.run(argv, timeout=30), 0
    except CommandError as err:
        if not err.exited:
            return f"unavailable: {err.why}"
        out, code = err.stdout or err.stderr, err.returncode
    lines = out.strip().splitlines()
    return lines[0] if lines else f"exit status {code}"


# ---------------------------------------------------------------- running programs
# Through aiworkbench.core.commands; the dumps streamed to and from their files.


def run_to_file(argv: list[str], path: Path, *, timeout: float, compress: bool = False) -> None:
    """Run ``argv`` (no shell) with its standard output written to ``path`` (gzip'd),
    for at most ``timeout`` seconds; a failure raises :class:`ToolFailed`.

    The dumps and loads get ``DUMP_TIMEOUT_S``, twelve hours. Slurm accounting at a large
    site holds tens of GB (years of jobs and steps): dumped and gzipped at some tens of
    MB/s that is an hour or more, and loading it back, which rebuilds every index, takes
    a few times as long. Twelve hours leaves that room, and still ends a dump that hangs
    (waiting for a lock, or for a server that stopped answering) before the next night's
    backup starts."""
    with (
        open(path, "xb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb") if compress else raw as out,
    ):
        commands.stream(argv, stdout=out, cwd="/", timeout=timeout, error=ToolFailed)


def run_from_file(argv: list[str], path: Path, *, timeout: float, compressed: bool = False) -> None:
    """Run ``argv`` (no shell) reading ``path`` (gunzip'd) on its standard input, for at
    most ``timeout`` seconds (``DUMP_TIMEOUT_S``: see :func:`run_to_file`); a failure
    raises :class:`ToolFailed`."""
    opener = gzip.open if compressed else open
    with opener(path, "rb") as source:
        commands.stream(argv, stdin=source, cwd="/", timeout=timeout, error=ToolFailed)


def run_checked(argv: list[str], stdin: str | None = None) -> None:
    """Run ``argv`` (no shell, no time limit), with ``stdin`` on its standard input; a
    failure raises :class:`ToolFailed` with its message."""
    commands.run(argv, input=stdin, cwd="/", timeout=None, error=ToolFailed)


# ---------------------------------------------------------------- daemons that write


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def writers(factory: Factory, parts) -> list[tuple[str, str, str]]:
    """(name, pid file, supervisor program) of the daemons that write what ``parts`` hold."""
    daemons = []
    if "hub" in parts:
        daemons.append(
            (
                "the hub (JupyterHub)",
                factory.hub_pidfile or f"{factory.data_dir}/{DAEMONS['hub']['pidfile_name']}",
                DAEMONS["hub"]["program"],
            )
        )
    if "accounting" in parts:
        daemons.append(("slurmdbd", factory.slurmdbd_pidfile, DAEMONS["slurmdbd"]["program"]))
    return daemons


def stop_command(program: str) -> str:
    """How to stop one of the factory's daemons, under the supervisor or systemd."""
    if Path("/run/systemd/system").is_dir():
        return f"systemctl stop aiworkbench-{program}.service"
    return f"supervisorctl stop {program}"


def refuse_running(factory: Factory, parts, doing: str, online_hint: bool) -> None:
    """Raise when a daemon that writes what ``parts`` hold is running, naming it and how
    to stop it."""
    problems = []
    for name, pidfile, program in writers(factory, parts):
        pid = running_pid(pidfile)
        if pid is not None:
            problems.append(
                f"{name} is running (pid {pid} in {pidfile}: {command_line(pid)})"
                f"\n    stop it: {stop_command(program)}"
            )
    if problems:
        hint = (
            "\nOr back up while they run with --online (consistent copies: SQLite's "
            "backup API, pg_dump, mariadb-dump --single-transaction)."
            if online_hint
            else ""
        )
        raise BackupError(
            f"cannot {doing} while it is being written:\n  - "
            + "\n  - ".join(problems)
            + "\n`make down` stops the whole factory instead (MariaDB too, which an "
            "accounting restore needs running). Start it again with `make up`." + hint
        )


def check_mariadb_answers(factory: Factory) -> None:
    """Refuse before changing anything when MariaDB, which loads the dump, is down."""
    try:
        run_checked([*mariadb_load_argv(factory), "--execute", "SELECT 1"])
    except BackupError as err:
        raise BackupError(
            f"MariaDB does not answer, and the accounting restore needs it; nothing was "
            f"restored. After `make down` start MariaDB alone: {MARIADB_START}\n({err})"
        ) from None


# ---------------------------------------------------------------- backup steps


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_sqlite_online(source: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (its backup API), checked for integrity.
    The source is opened read-only, so that no journal file of root's appears beside it."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist; is hub.data_dir in the site file right?")
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(dest)
            try:
                src.backup(dst)
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as err:
        raise BackupError(f"cannot copy the SQLite database {source}: {err}") from None
    if check != "ok":
        raise BackupError(f"the copy of {source} fails SQLite's integrity check: {check}")


def copy_file(source: Path, dest: Path) -> None:
    try:
        with open(source, "rb") as src, open(dest, "xb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except FileNotFoundError:
        raise BackupError(
            f"{source} does not exist; is hub.data_dir in the site file right?"
        ) from None


def backup_hub(factory: Factory, folder: Path) -> list[dict]:
    """The hub database, the course progress and the cookie secret; their manifest entries."""
    entries = []
    if factory.hub_database == "sqlite":
        copy_sqlite_online(factory.data_dir / HUB_SQLITE, folder / HUB_SQLITE)
        entries.append(
            {
                "name": HUB_SQLITE,
                "part": "hub",
                "kind": "sqlite",
                "what": "hub database: users, servers (sessions and their Slurm "
                "job ids), tokens, groups",
            }
        )
    else:
        run_to_file(pg_dump_argv(factory), folder / HUB_PGDUMP, timeout=DUMP_TIMEOUT_S)
        entries.append(
            {
                "name": HUB_PGDUMP,
                "part": "hub",
                "kind": "postgresql",
                "database": factory.pg_database,
                "what": "hub database (pg_dump custom format): users, servers "
                "(sessions and their Slurm job ids), tokens, groups",
            }
        )
    if (factory.data_dir / PROGRESS_SQLITE).exists():
        copy_sqlite_online(factory.data_dir / PROGRESS_SQLITE, folder / PROGRESS_SQLITE)
        entries.append(
            {
                "name": PROGRESS_SQLITE,
                "part": "hub",
                "kind": "sqlite",
                "what": "course progress (workbench API)",
            }
        )
    copy_file(factory.data_dir / COOKIE_SECRET, folder / COOKIE_SECRET)
    entries.append(
        {
            "name": COOKIE_SECRET,
            "part": "hub",
            "kind": "file",
            "what": "hub cookie secret (users' cookies stay valid)",
        }
    )
    return entries


def backup_accounting(factory: Factory, folder: Path, compress: bool) -> list[dict]:
    name = f"{factory.accounting_database}.sql" + (".gz" if compress else "")
    run_to_file(
        mariadb_dump_argv(factory), folder / name, timeout=DUMP_TIMEOUT_S, compress=compress
    )
    return [
        {
            "name": name,
            "part": "accounting",
            "kind": "mariadb",
            "database": factory.accounting_database,
            "compressed": compress,
            "what": "Slurm accounting: jobs, usage, associations and budgets",
        }
    ]


def tool_versions(factory: Factory, parts) -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    if "hub" in parts and factory.hub_database == "postgresql":
        versions["pg_dump"] = tool_version(["pg_dump", "--version"])
    if "accounting" in parts:
        versions["mariadb-dump"] = tool_version(["mariadb-dump", "--version"])
    return versions


def write_manifest(
    factory: Factory, folder: Path, entries: list[dict], parts, created: datetime
) -> dict:
    for entry in entries:
        path = folder / entry["name"]
        os.chmod(path, 0o600)  # secrets: root's only, even outside this folder
        entry["bytes"] = path.stat().st_size
        entry["sha256"] = sha256_of(path)
    manifest = {
        "format": FORMAT,
        "created": created.isoformat(timespec="seconds"),
        "cluster_name": factory.cluster_name,
        "parts": list(parts),
        "hub_database": factory.hub_database if "hub" in parts else None,
        "accounting_database": (factory.accounting_database if "accounting" in parts else None),
        "tools": tool_versions(factory, parts),
        "files": entries,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    os.chmod(folder / MANIFEST, 0o600)
    return manifest


def make_folder(dest_dir: Path, created: datetime) -> Path:
    if not dest_dir.is_dir():
        raise BackupError(f"{dest_dir} is not a folder; create it first (mkdir -m 0700 {dest_dir})")
    folder = dest_dir / f"{FOLDER_PREFIX}{created.strftime(FOLDER_TIME)}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        raise BackupError(
            f"{folder} already exists (another backup this second?); try again"
        ) from None
    os.chmod(folder, 0o700)  # whatever the umask
    return folder


def backup(
    factory: Factory,
    dest_dir: Path,
    *,
    parts=PARTS,
    online: bool = False,
    compress: bool = True,
    created: datetime | None = None,
) -> Path:
    """Write a new backup folder under ``dest_dir``; return it. On any failure the
    partial folder is removed and BackupError raised."""
    if not online:
        refuse_running(factory, parts, "back up", online_hint=True)
    created = created or datetime.now().astimezone()
    folder = make_folder(Path(dest_dir), created)
    try:
        entries = []
        if "hub" in parts:
            entries += backup_hub(factory, folder)
        if "accounting" in parts:
            entries += backup_accounting(factory, folder, compress)
        write_manifest(factory, folder, entries, parts, created)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


# ---------------------------------------------------------------- checking a backup


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(
            f"{folder} has no {MANIFEST}: not a backup, or an incomplete one"
        ) from None
    except (OSError, ValueError) as err:
        raise BackupError(f"cannot read {path}: {err}") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("files"), list)
    ):
        raise BackupError(
            f"{path} is not a manifest of format {FORMAT} written by aiworkbench-backup"
        )
    return manifest


def verify(folder: Path) -> dict:
    """The manifest, once every file matches it (size and sha256); otherwise raise,
    listing every difference."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    problems = []
    listed = set()
    for entry in manifest["files"]:
        name = entry.get("name", "")
        listed.add(name)
        path = folder / name
        if not name or "/" in name or name.startswith("."):
            problems.append(f"the manifest names a file {name!r} outside the backup")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != entry.get("bytes"):
            problems.append(
                f"{name}: {path.stat().st_size} bytes, the manifest says {entry.get('bytes')}"
            )
        elif sha256_of(path) != entry.get("sha256"):
            problems.append(f"{name}: its sha256 differs from the manifest's (modified or damaged)")
    for path in sorted(folder.iterdir()):
        if path.name != MANIFEST and path.name not in listed:
            problems.append(f"{path.name}: not in the manifest")
    if problems:
        raise BackupError(
            f"{folder} does not match its manifest; nothing was restored:\n  - "
            + "\n  - ".join(problems)
            + "\nRestore from another backup (aiworkbench-backup list DEST_DIR)."
        )
    return manifest


def entries_of(manifest: dict, part: str) -> list[dict]:
    return [e for e in manifest["files"] if e.get("part") == part]


def check_restorable(factory: Factory, manifest: dict, parts) -> None:
    """Refuse a restore the backup cannot give: a part it lacks, another database kind
    or name than the site's."""
    problems = []
    for part in parts:
        if not entries_of(manifest, part):
            problems.append(
                f"it holds no {part} part (it was made with only "
                f"{', '.join(manifest.get('parts') or []) or 'nothing'}); "
                f"restore just that with --{'accounting' if part == 'hub' else 'hub'}"
            )
    if "hub" in parts and entries_of(manifest, "hub"):
        if manifest.get("hub_database") != factory.hub_database:
            problems.append(
                f"its hub database is {manifest.get('hub_database')}, the site's "
                f"hub.database is {factory.hub_database}"
            )
        if not any(e["name"] == COOKIE_SECRET for e in entries_of(manifest, "hub")):
            problems.append(f"it has no {COOKIE_SECRET}")
    if (
        "accounting" in parts
        and entries_of(manifest, "accounting")
        and manifest.get("accounting_database") != factory.accounting_database
    ):
        problems.append(
            f"its accounting database is {manifest.get('accounting_database')}"
            f", not {factory.accounting_database} (--accounting-database)"
        )
    if problems:
        raise BackupError(
            "cannot restore this backup here; nothing was restored:\n  - " + "\n  - ".join(problems)
        )


# ---------------------------------------------------------------- restore steps


def owner_ids(user: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise BackupError(
            f"there is no system user {user!r} (hub.user) on this machine; "
            f"run `make up` once to create it"
        ) from None
    return entry.pw_uid, entry.pw_gid


def prepare_data_dir(data_dir: Path, uid: int, gid: int) -> None:
    """The hub's data folder, made if missing: the hub user's, mode 0700."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chown(data_dir, uid, gid)
    os.chmod(data_dir, 0o700)


def put_file(source: Path, dest: Path, uid: int, gid: int) -> None:
    """Copy ``source`` to ``dest`` in one step (a temporary name, then a rename): the
    hub user's, mode 0600."""
    temporary = dest.with_name(f".{dest.name}.restoring")
    with open(source, "rb") as src, open(temporary, "wb") as dst:
        os.fchown(dst.fileno(), uid, gid)
        os.fchmod(dst.fileno(), 0o600)
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(temporary, dest)


def put_sqlite(source: Path, dest: Path, uid: int, gid: int) -> None:
    """Restore a SQLite file; an old journal or WAL beside it would be replayed into the
    restored database, so it goes."""
    for suffix in ("-journal", "-wal", "-shm"):
        dest.with_name(dest.name + suffix).unlink(missing_ok=True)
    put_file(source, dest, uid, gid)


def restore_postgresql(factory: Factory, dump: Path) -> None:
    """Load the dump into a new database (owned by the hub role), then put it in the
    hub database's place: a dump that does not load leaves the hub database as it was."""
    loading = f"{factory.pg_database[:48]}_restoring"
    replaced = f"{factory.pg_database[:48]}_replaced"
    run_checked(dropdb_argv(factory, loading))
    run_checked(createdb_argv(factory, loading))
    try:
        run_from_file(pg_restore_argv(factory, loading), dump, timeout=DUMP_TIMEOUT_S)
    except BackupError:
        run_checked(dropdb_argv(factory, loading))
        raise
    run_checked(dropdb_argv(factory, replaced))
    run_checked(pg_rename_argv(factory, factory.pg_database, replaced), PG_RENAME)
    run_checked(pg_rename_argv(factory, loading, factory.pg_database), PG_RENAME)
    run_checked(dropdb_argv(factory, replaced))


def restore_hub(factory: Factory, folder: Path, manifest: dict) -> list[str]:
    uid, gid = owner_ids(factory.hub_user)
    prepare_data_dir(factory.data_dir, uid, gid)
    done = []
    for entry in entries_of(manifest, "hub"):
        source, dest = folder / entry["name"], factory.data_dir / entry["name"]
        if entry["kind"] == "postgresql":
            restore_postgresql(factory, source)
            done.append(
                f"hub database: PostgreSQL database {factory.pg_database} recreated "
                f"(owner {factory.hub_user}) from {entry['name']}"
            )
        elif entry["kind"] == "sqlite":
            put_sqlite(source, dest, uid, gid)
            done.append(f"{dest} ({entry['what']})")
        else:
            put_file(source, dest, uid, gid)
            done.append(f"{dest} ({entry['what']})")
    if not any(e["name"] == PROGRESS_SQLITE for e in entries_of(manifest, "hub")):
        done.append(
            f"{PROGRESS_SQLITE}: not in the backup (there was none then); the one "
            f"here, if any, is left as it is"
        )
    return done


def restore_accounting(factory: Factory, folder: Path, manifest: dict) -> list[str]:
    done = []
    for entry in entries_of(manifest, "accounting"):
        run_from_file(
            mariadb_load_argv(factory),
            folder / entry["name"],
            timeout=DUMP_TIMEOUT_S,
            compressed=bool(entry.get("compressed")),
        )
        done.append(
            f"Slurm accounting: MariaDB database {factory.accounting_database} "
            f"recreated from {entry['name']}"
        )
    return done


def restore(factory: Factory, folder: Path, *, parts=PARTS) -> list[str]:
    """Check the backup, refuse while its writers run, restore ``parts``; what was done."""
    folder = Path(folder)
    manifest = verify(folder)
    check_restorable(factory, manifest, parts)
    refuse_running(factory, parts, "restore", online_hint=False)
    if "accounting" in parts:
        check_mariadb_answers(factory)
    done = []
    if "hub" in parts:
        done += restore_hub(factory, folder, manifest)
    if "accounting" in parts:
        done += restore_accounting(factory, folder, manifest)
    return done


# ---------------------------------------------------------------- listing


def list_backups(dest_dir: Path) -> list[str]:
    """One line per backup folder in ``dest_dir`` (oldest first): time and contents."""
    dest_dir = Path(dest_dir)
    if not dest_dir.is_dir():
        raise BackupError(f"{dest_dir} is not a folder")
    lines = []
    for folder in sorted(dest_dir.glob(f"{FOLDER_PREFIX}*")):
        if not folder.is_dir():
            continue
        try:
            manifest = read_manifest(folder)
        except BackupError as err:
            lines.append(f"{folder.name}  UNUSABLE: {err}")
            continue
        files = ", ".join(
            f"{e.get('name')} ({human_size(int(e.get('bytes') or 0))})" for e in manifest["files"]
        )
        lines.append(
            f"{folder.name}  {manifest.get('created')}  cluster "
            f"{manifest.get('cluster_name') or '?'}  {files}"
        )
    return lines


# ---------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiworkbench-backup",
        description="Back up and restore the hub's database, cookie secret and course "
        "progress and Slurm accounting (MariaDB). Run as root. See docs/backup.md.",
    )
    p.add_argument(
        "--site",
        default=default_site_file(),
        help=f"the site file (default: $AIWORKBENCH_SITE or {SITE_FILE})",
    )
    p.add_argument(
        "--accounting-database",
        default=ACCOUNTING_DATABASE,
        metavar="NAME",
        help=f"Slurm accounting's MariaDB database (default: {ACCOUNTING_DATABASE})",
    )
    p.add_argument(
        "--mariadb-socket",
        default="",
        metavar="PATH",
        help="MariaDB's socket (default: the client's default)",
    )
    p.add_argument(
        "--pg-admin-user",
        default=PG_ADMIN_USER,
        metavar="USER",
        help="system user that drops and recreates the hub's PostgreSQL database "
        f"on restore (peer authentication; default: {PG_ADMIN_USER})",
    )
    commands = p.add_subparsers(dest="command", required=True)
    b = commands.add_parser("backup", help="write a new backup folder under DEST_DIR")
    b.add_argument("dest_dir", metavar="DEST_DIR", type=Path)
    b.add_argument(
        "--online",
        action="store_true",
        help="back up while the hub and slurmdbd run (consistent online copies)",
    )
    b.add_argument(
        "--no-gzip",
        dest="compress",
        action="store_false",
        help="do not compress the accounting dump",
    )
    r = commands.add_parser("restore", help="restore a backup folder (daemons stopped)")
    r.add_argument("backup_dir", metavar="BACKUP_DIR", type=Path)
    for cmd in (b, r):
        cmd.add_argument(
            "--hub",
            action="store_true",
            help="only the hub's part (database, progress, cookie secret)",
        )
        cmd.add_argument("--accounting", action="store_true", help="only Slurm accounting")
    ls = commands.add_parser("list", help="the backups in DEST_DIR")
    ls.add_argument("dest_dir", metavar="DEST_DIR", type=Path)
    return p


def chosen_parts(args) -> tuple[str, ...]:
    chosen = tuple(part for part in PARTS if getattr(args, part))
    return chosen or PARTS


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "list":
            lines = list_backups(args.dest_dir)
            print("\n".join(lines) if lines else f"no backups in {args.dest_dir}")
            return 0
        if os.geteuid() != 0:
            raise BackupError(
                "run aiworkbench-backup as root (it reads the hub's private "
                "files and runs the database tools as their owners)"
            )
        try:
            site = load_site(args.site)
        except SiteError as err:
            raise BackupError(str(err)) from None
        factory = Factory.from_site(
            site,
            accounting_database=args.accounting_database,
            mariadb_socket=args.mariadb_socket,
            pg_admin_user=args.pg_admin_user,
        )
        if args.command == "backup":
            folder = backup(
                factory,
                args.dest_dir,
                parts=chosen_parts(args),
                online=args.online,
                compress=args.compress,
            )
            print(folder)
            return 0
        done = restore(factory, args.backup_dir, parts=chosen_parts(args))
        print(f"Restored from {args.backup_dir}:")
        for line in done:
            print(f"  - {line}")
        print("Start the factory again: make up")
        return 0
    except BackupError as err:
        print(f"aiworkbench-backup: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
