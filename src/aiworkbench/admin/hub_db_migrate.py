"""``aiworkbench-hub-db-migrate``: move the hub's SQLite database into PostgreSQL.

A factory set up with ``hub.database = "sqlite"`` keeps its JupyterHub database in
``<hub.data_dir>/jupyterhub.sqlite``. When the site switches to ``"postgresql"``, the
hub would start on the new, empty database: users, groups, roles, tokens and the
sessions' spawner state (their Slurm job ids) would be lost. This tool moves them:

1. a private copy of the SQLite file (SQLite's backup API, in ``data_dir``) is brought
   to the schema of the installed JupyterHub by JupyterHub's own upgrade
   (``jupyterhub upgrade-db``: ``jupyterhub.dbutil.upgrade_if_needed``); the original
   file is not changed;
2. in ONE PostgreSQL transaction: the target is checked to be empty (a database that
   holds users is never overwritten), JupyterHub's schema is created from
   ``jupyterhub.orm``'s metadata and stamped at the same alembic head, every row of
   every JupyterHub table is copied in foreign-key order (values copied as stored:
   JSON text stays byte for byte), and each table's id sequence is set to its
   largest id, so that the hub's new rows do not collide;
3. after the commit, the SQLite file is renamed ``jupyterhub.sqlite.migrated-to-
   postgresql`` (kept, never deleted): a second run finds nothing to migrate.

Run it as the hub user (PostgreSQL's peer authentication maps that system user to the
hub's role), with the hub stopped, before the hub starts on PostgreSQL. Hub-side only:
it imports nothing from the notebook package.

Exit status: 0 migrated, or nothing to migrate; 1 refused or failed (the target is left
as it was, the SQLite file where it was; only a failed final rename, after the commit,
says that the rows were moved); 2 bad arguments (including an unusable site file).
The first line of standard output starts with ``migrated``, ``would migrate``
(``--dry-run``) or ``nothing to migrate``; refusals and failures go to standard error.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Column, MetaData, Table, create_engine, func, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from aiworkbench.core.daemons import hub_pidfile
from aiworkbench.core.preflight import running_pid
from aiworkbench.core.site import SITE_FILE, SiteError, default_site_file, load_site

LEGACY_HUB_PIDFILE = "/run/aiworkbench/jupyterhub.pid"  # an older factory's hub
HUB_SQLITE = "jupyterhub.sqlite"  # hub.config.db_url with hub.database = "sqlite"
MIGRATED_SUFFIX = ".migrated-to-postgresql"
VERSION_TABLE = "alembic_version"
BATCH = 1000  # rows per INSERT

MIGRATED, WOULD_MIGRATE, NOTHING = "migrated", "would migrate", "nothing to migrate"

log = logging.getLogger(__name__)


class MigrationError(Exception):
    """The migration failed; the target database is as it was and the SQLite file kept."""


class MigrationRefused(MigrationError):
    """The migration was refused before anything was written, with what to do."""


@dataclass
class Report:
    """What a migration did (or, with ``dry_run``, would do)."""

    outcome: str  # MIGRATED, WOULD_MIGRATE or NOTHING
    source: Path
    target: str  # the target URL, any password hidden
    reason: str = ""  # why there was nothing to migrate
    rows: dict[str, int] = field(default_factory=dict)  # per table, foreign-key order
    from_revision: str | None = None  # the SQLite file's alembic revision (None: untagged)
    to_revision: str | None = None  # JupyterHub's head, the target's revision
    kept_as: Path | None = None  # where the SQLite file now is

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def lines(self) -> list[str]:
        """The report as printed; the first line starts with the outcome."""
        if self.outcome == NOTHING:
            return [f"{NOTHING}: {self.reason}"]
        lines = [f"{self.outcome} {self.source} into {self.target}: {self.total} rows"]
        lines += [f"  {name}: {count}" for name, count in self.rows.items()]
        if self.from_revision != self.to_revision:
            was = self.from_revision or "untagged"
            lines.append(
                f"schema: the SQLite copy was upgraded from JupyterHub revision "
                f"{was} to {self.to_revision} (the SQLite file itself is unchanged)"
            )
        else:
            lines.append(f"schema: JupyterHub revision {self.to_revision}")
        if self.kept_as:
            lines.append(f"kept the SQLite file as {self.kept_as}")
        elif self.outcome == WOULD_MIGRATE:
            lines.append(f"would keep the SQLite file as {kept_name(self.source)}")
        return lines


def kept_name(source: Path) -> Path:
    return source.with_name(source.name + MIGRATED_SUFFIX)


def hidden(url: str) -> str:
    """``url`` fit to print: any password replaced by ``***``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(an unreadable database URL)"
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path:
    """The file of a ``sqlite:///ABSOLUTE/PATH`` URL."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise MigrationRefused(f"not a database URL: {url!r} ({err})") from None
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
        or not parsed.database.startswith("/")
    ):
        raise MigrationRefused(
            f"the source must be a SQLite file given by an absolute "
            f"path, sqlite:////path/to/{HUB_SQLITE}; got {url!r}"
        )
    return Path(parsed.database)


def check_target_url(url: str) -> None:
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as err:
        raise MigrationRefused(f"not a database URL: {hidden(url)} ({err})") from None
    if backend != "postgresql":
        raise MigrationRefused(
            f"the target must be a PostgreSQL database "
            f"(postgresql+psycopg2://...); got {hidden(url)}"
        )


# ---------------------------------------------------------------- the migration


def migrate(sqlite_url: str, target_url: str, *, dry_run: bool = False) -> Report:
    """Copy every row of JupyterHub's tables from the SQLite database at ``sqlite_url``
    into the empty PostgreSQL database at ``target_url``, in one transaction; then
    rename the SQLite file (``MIGRATED_SUFFIX``). ``dry_run``: check and count
    everything, write nothing. Raises MigrationRefused (nothing written) or
    MigrationError (the transaction rolled back)."""
    source = sqlite_file(sqlite_url)
    check_target_url(target_url)
    kept = kept_name(source)
    if not source.exists():
        reason = f"{source} does not exist"
        if kept.exists():  # worded without "migrated": a check may look for that word
            reason += f" (an earlier run moved it into PostgreSQL; the file is kept as {kept})"
        return Report(NOTHING, source, hidden(target_url), reason=reason)
    if kept.exists():
        raise MigrationRefused(
            f"both {source} and {kept} exist: an earlier migration already moved a SQLite "
            f"database into PostgreSQL. Move one of them away, then run again"
        )
    if not os.access(source.parent, os.W_OK | os.X_OK):
        raise MigrationRefused(
            f"cannot rename {source} after the migration: {source.parent} "
            f"is not writable by this user (run as the hub user)"
        )
    with tempfile.TemporaryDirectory(prefix=".hub-db-migrate-", dir=source.parent) as work:
        copy = Path(work) / HUB_SQLITE
        snapshot(source, copy)
        from_revision = sqlite_revision(copy)
        head = upgrade_copy(copy)
        report = Report(
            WOULD_MIGRATE if dry_run else MIGRATED,
            source,
            hidden(target_url),
            from_revision=from_revision,
            to_revision=head,
        )
        report.rows = copy_rows(copy, target_url, head, dry_run=dry_run)
    if dry_run:
        return report
    try:
        source.rename(kept)
    except OSError as err:
        raise MigrationError(
            f"the rows were migrated (committed), but {source} could not be renamed to "
            f"{kept}: {err.strerror}. Rename it by hand, or a later run will be refused "
            f"(the target now holds users)"
        ) from None
    report.kept_as = kept
    return report


def snapshot(source: Path, copy: Path) -> None:
    """A consistent copy of the SQLite database (its journal applied), to upgrade."""
    try:
        src = sqlite3.connect(source)
        try:
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as err:
        raise MigrationRefused(f"cannot read {source} as a SQLite database: {err}") from None


def sqlite_revision(path: Path) -> str | None:
    """The alembic revision a SQLite hub database is stamped with (None: untagged)."""
    db = sqlite3.connect(path)
    try:
        row = db.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    except sqlite3.OperationalError:  # no alembic_version table: JupyterHub before 0.8
        return None
    finally:
        db.close()
    return row[0] if row else None


def upgrade_copy(copy: Path) -> str:
    """Bring the SQLite copy to the installed JupyterHub's schema with JupyterHub's own
    upgrade (what ``jupyterhub upgrade-db`` runs); JupyterHub's alembic head."""
    from jupyterhub import dbutil, orm

    url = f"sqlite:///{copy}"
    try:
        with _alembic_on_path():
            dbutil.upgrade_if_needed(url, backup=False, log=log)
        # As the hub does at start: checks the revision, creates any table the
        # database never had (a hub that never used that feature).
        orm.new_session_factory(url)().close()
    except subprocess.CalledProcessError as err:
        raise MigrationRefused(
            f"JupyterHub's upgrade of a copy of the SQLite database "
            f"failed ({err}); see alembic's messages above. The SQLite "
            f"file is unchanged"
        ) from None
    except (SQLAlchemyError, orm.DatabaseSchemaMismatch, ValueError) as err:
        raise MigrationRefused(
            f"the SQLite database could not be brought to JupyterHub's schema: {err}"
        ) from None
    return alembic_head()


def alembic_head() -> str:
    from alembic.script import ScriptDirectory
    from jupyterhub import dbutil

    return ScriptDirectory(dbutil.ALEMBIC_DIR).get_current_head()


@contextmanager
def _alembic_on_path():
    """``dbutil.upgrade`` runs the ``alembic`` command: find this environment's first
    (the hub's environment need not be on PATH)."""
    bin_dir = str(Path(sys.executable).parent)
    before = os.environ.get("PATH")
    if (Path(bin_dir) / "alembic").exists():
        os.environ["PATH"] = os.pathsep.join([bin_dir, before] if before else [bin_dir])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = before


def raw_tables() -> list[Table]:
    """JupyterHub's tables in foreign-key order, with plain column types: values are
    copied as stored (JSON as its text), not decoded and encoded again."""
    from jupyterhub import orm

    raw = MetaData()
    tables = []
    for table in orm.Base.metadata.sorted_tables:
        columns = [
            Column(
                c.name,
                c.type.impl if isinstance(c.type, TypeDecorator) else c.type,
                primary_key=c.primary_key,
                autoincrement=False,
            )
            for c in table.columns
        ]
        tables.append(Table(table.name, raw, *columns))
    return tables


def copy_rows(copy: Path, target_url: str, head: str, *, dry_run: bool) -> dict[str, int]:
    """Rows per table, copied from the upgraded SQLite ``copy`` into the target in one
    transaction (counted only, with ``dry_run``)."""
    tables = raw_tables()
    source = create_engine(f"sqlite:///{copy}", poolclass=NullPool)
    target = create_engine(target_url, poolclass=NullPool)
    step = "connecting"
    try:
        with source.connect() as src:
            dangling_rows(src)
            with target.connect() as dst, dst.begin():
                step = "checking the target"
                check_target_empty(dst, head, target_url)
                if dry_run:  # nothing written: the transaction ends with only the check
                    return {t.name: src.scalar(select(func.count()).select_from(t)) for t in tables}
                step = "creating JupyterHub's tables"
                create_schema(dst, head)
                rows = {}
                for table in tables:
                    step = f"copying table {table.name}"
                    rows[table.name] = copy_table(src, dst, table)
                step = "setting the id sequences"
                reset_sequences(dst, tables)
                step = "committing"
        return rows
    except (SQLAlchemyError, ValueError) as err:  # psycopg2 refuses some values: ValueError
        detail = str(getattr(err, "orig", None) or err).strip()
        if step == "connecting":
            raise MigrationError(
                f"cannot connect to {hidden(target_url)} (run as the hub user?): {detail}"
            ) from None
        raise MigrationError(
            f"the migration into {hidden(target_url)} failed while {step} "
            f"and was rolled back: {detail}"
        ) from None
    finally:
        source.dispose()
        target.dispose()


def dangling_rows(src: Connection) -> None:
    """Refuse rows that refer to rows that are gone (PostgreSQL would reject them)."""
    found = src.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if found:
        shown = "; ".join(
            f"{table} row {rowid} refers to a missing {parent} row"
            for table, rowid, parent, _ in found[:10]
        )
        raise MigrationRefused(
            f"the SQLite database has {len(found)} rows that refer to "
            f"missing rows ({shown}); delete them, then run again"
        )


def check_target_empty(dst: Connection, head: str, target_url: str) -> None:
    """Refuse a target that holds any of JupyterHub's rows, or its tables at another
    schema revision (checked inside the migration's transaction, ``users`` locked)."""
    from jupyterhub import orm

    names = set(inspect(dst).get_table_names())
    where = hidden(target_url)
    if "users" in names:
        dst.execute(text("LOCK TABLE users IN EXCLUSIVE MODE"))
        users = dst.scalar(text("SELECT count(*) FROM users"))
        if users:
            raise MigrationRefused(
                f"{where} already holds {users} users: a live hub database is never "
                f"overwritten. If the hub has already started on it (and so made its users "
                f"afresh), drop and recreate the database empty (ansible role postgresql), "
                f"then run again"
            )
    hub_tables = [t for t in orm.Base.metadata.sorted_tables if t.name in names]
    filled = {
        t.name: n for t in hub_tables if (n := dst.scalar(select(func.count()).select_from(t)))
    }
    if filled:
        shown = ", ".join(f"{name} ({n})" for name, n in filled.items())
        raise MigrationRefused(
            f"{where} already holds rows (no users): {shown}; only an "
            f"empty database is migrated into. Drop and recreate it empty, "
            f"then run again"
        )
    if hub_tables:
        revision = (
            dst.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            if VERSION_TABLE in names
            else None
        )
        if revision != head:
            raise MigrationRefused(
                f"{where} has JupyterHub's tables at schema revision {revision or 'unknown'}, "
                f"not {head} (this JupyterHub's): drop and recreate it empty, then run again"
            )


def create_schema(dst: Connection, head: str) -> None:
    """JupyterHub's tables (its ORM metadata) and the alembic stamp, as a hub starting on
    an empty database makes them; inside the migration's transaction."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from jupyterhub import dbutil, orm

    orm.Base.metadata.create_all(dst)
    MigrationContext.configure(dst).stamp(ScriptDirectory(dbutil.ALEMBIC_DIR), head)


def copy_table(src: Connection, dst: Connection, table: Table) -> int:
    count = 0
    result = src.execute(select(table))
    for part in result.partitions(BATCH):
        rows = [dict(row._mapping) for row in part]
        dst.execute(table.insert(), rows)
        count += len(rows)
    return count


def reset_sequences(dst: Connection, tables: list[Table]) -> None:
    """Each id sequence (serial column) to the largest id copied, so that the next row
    the hub inserts gets the next id (an empty table: the next id is 1)."""
    quote = dst.dialect.identifier_preparer.quote
    for table in tables:
        for column in table.primary_key.columns:
            sequence = dst.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": quote(table.name), "column": column.name},
            )
            if sequence:
                top = func.max(column)
                dst.execute(
                    select(
                        func.setval(sequence, func.coalesce(top, 1), top.is_not(None))
                    ).select_from(table)
                )


# ---------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiworkbench-hub-db-migrate",
        description="Move the hub's users, groups, roles, tokens and sessions from its old "
        f"SQLite database (<hub.data_dir>/{HUB_SQLITE}) into the empty "
        'PostgreSQL database of a site with hub.database = "postgresql". Run it '
        "AS THE HUB USER (hub.user, e.g. runuser -u jupyterhub -- "
        "aiworkbench-hub-db-migrate): PostgreSQL's peer authentication maps that "
        "system user to the hub's role, and the SQLite file is its own. Run it "
        "with the hub stopped, before the hub starts on PostgreSQL.",
        epilog="A database that already holds users is never overwritten. After a "
        f"migration the SQLite file is kept as {HUB_SQLITE}{MIGRATED_SUFFIX}, so a "
        "second run has nothing to migrate. Output: the first line starts with "
        "'migrated', 'would migrate' or 'nothing to migrate'. Exit status: 0 migrated "
        "or nothing to migrate, 1 refused or failed (nothing written), 2 bad "
        "arguments or an unusable site file.",
    )
    p.add_argument(
        "--site",
        default=default_site_file(),
        metavar="FILE",
        help=f"the site file (default: $AIWORKBENCH_SITE or {SITE_FILE}); the "
        f"source is hub.data_dir/{HUB_SQLITE}, the target the database "
        "the hub uses (hub.postgresql_*)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check both databases and print what would be migrated; write nothing",
    )
    p.add_argument(
        "--hub-pidfile",
        default=None,
        metavar="FILE",
        help="refuse while the hub whose pid this file holds runs (default: the "
        "hub's own, hub.data_dir/jupyterhub.pid, and an older factory's, "
        f"{LEGACY_HUB_PIDFILE})",
    )
    return p


def current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    prog = "aiworkbench-hub-db-migrate"
    try:
        site = load_site(args.site)
    except SiteError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    from aiworkbench.hub.config import db_url

    hub = site.hub
    source = Path(hub.data_dir) / HUB_SQLITE
    if hub.database != "postgresql":
        print(
            f"{NOTHING}: hub.database is {hub.database!r} in {args.site}; the hub keeps "
            f"using {source}"
        )
        return 0
    try:
        user = current_user()
        if user != hub.user:
            raise MigrationRefused(
                f"run as the hub user {hub.user!r}, not {user!r} (peer authentication): "
                f"runuser -u {hub.user} -- {shutil.which(prog) or prog} --site {args.site}"
            )
        pidfiles = (
            [args.hub_pidfile] if args.hub_pidfile else [hub_pidfile(site), LEGACY_HUB_PIDFILE]
        )
        for pidfile in pidfiles if source.exists() else []:
            if pid := running_pid(pidfile):
                raise MigrationRefused(
                    f"the hub runs (pid {pid}, {pidfile}); stop it first, "
                    f"so that its SQLite database stops changing"
                )
        report = migrate(f"sqlite:///{source}", db_url(site), dry_run=args.dry_run)
    except MigrationRefused as err:
        print(f"{prog}: refused: {err}", file=sys.stderr)
        return 1
    except MigrationError as err:
        print(f"{prog}: failed: {err}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
