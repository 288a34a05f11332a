"""Schema versions of the workbench's own files: one rule for every SQLite and DuckDB store.

A store declares a :class:`Schema`: its migrations in order, ``migrations[n]`` taking a
file from version n to n + 1 (SQL text, or a function given the connection). Version 0
is a file without a version: a new, empty one, or one written before stores had
versions. Each store's first migration is the layout of then in ``CREATE ... IF NOT
EXISTS`` statements, so an empty file gets the whole layout and an old one keeps every
row. :func:`prepare` runs whenever a store opens its file:

* a file older than the code is migrated: the missing migrations run in order, in one
  transaction that also writes the new version (a failure leaves the file as it was);
  a read-only opener cannot migrate, so it reads a file from ``readable_from`` on as it
  is and otherwise says who upgrades it;
* a file newer than the code (a newer workbench wrote it) is refused with
  :class:`SchemaError`, which gives both versions and what to do; nothing in the file
  is changed.

Where the version lives: SQLite's ``PRAGMA user_version`` (in the file's header);
DuckDB has no such field, so a one-row table ``schema_version (version INTEGER)``.

Adding a migration: append it to the store's ``migrations`` (never change one that has
shipped: deployed files went through it), make the store's code use the new layout,
raise ``readable_from`` when the new code cannot read the layout before, and test that
a file of the previous version opens with its rows (tests/unit/test_store_schema.py).

The standard library only; DuckDB connections are recognised by their type's module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

Migration = str | Callable[[object], None]
VERSION_TABLE = "schema_version"  # DuckDB only: SQLite keeps PRAGMA user_version


class SchemaError(RuntimeError):
    """A store's file that this code cannot use as it is (the message says what to do)."""


@dataclass(frozen=True)
class Schema:
    store: str  # what the file is, for messages: "the course progress store"
    # migrations[n] takes version n to n + 1: SQL text, or a function given the
    # connection, which runs statements with db.execute() and never commits
    migrations: tuple[Migration, ...]
    writer: str  # who upgrades the file, for a reader's message
    readable_from: int = 0  # the oldest version read-only openers read as it is

    @property
    def version(self) -> int:
        """The version this code writes and reads."""
        return len(self.migrations)


def prepare(db, schema: Schema, path, readonly: bool = False) -> int:
    """Check the file open on ``db`` (a fresh connection, no transaction open) and, unless
    ``readonly``, bring it to ``schema.version``; the file's version then."""
    dialect = _dialect(db)
    found = dialect.read(db)
    _refuse_newer(found, schema, path)
    if found == schema.version:
        return found
    if readonly:
        if found < schema.readable_from:
            raise SchemaError(
                f"{path}: {schema.store} has schema version {found}, older than this "
                f"workbench reads ({schema.readable_from} to {schema.version}); "
                f"{schema.writer} upgrades it when it next opens it. The file was left "
                f"unchanged."
            )
        return found
    return _migrate(db, dialect, schema, path)


def _refuse_newer(found: int, schema: Schema, path) -> None:
    if found > schema.version:
        raise SchemaError(
            f"{path}: {schema.store} has schema version {found}, newer than this "
            f"workbench's {schema.version}: a newer workbench wrote it. Upgrade the "
            f"workbench to a version that knows it (or put back a file this version "
            f"wrote); the file was left unchanged."
        )


def _migrate(db, dialect, schema: Schema, path) -> int:
    dialect.begin(db)
    try:
        found = dialect.read(db)  # again, inside the transaction: another writer may
        _refuse_newer(found, schema, path)  # have migrated the file meanwhile
        for version in range(found, schema.version):
            step = schema.migrations[version]
            try:
                if callable(step):
                    step(db)
                else:
                    dialect.run(db, step)
            except Exception as err:
                raise SchemaError(
                    f"{path}: migrating {schema.store} from schema version {version} to "
                    f"{version + 1} failed ({err}); the file was left at version "
                    f"{found}"
                ) from err
        dialect.write(db, schema.version)
        dialect.commit(db)
    except BaseException:
        dialect.rollback(db)
        raise
    return schema.version


class _SQLite:
    @staticmethod
    def read(db) -> int:
        return db.execute("PRAGMA user_version").fetchone()[0]

    @staticmethod
    def write(db, version: int) -> None:
        db.execute(f"PRAGMA user_version = {int(version)}")

    @staticmethod
    def begin(db) -> None:
        db.execute("BEGIN IMMEDIATE")  # the write lock now: one migrating writer

    @staticmethod
    def run(db, sql: str) -> None:
        # executescript() would commit first; statements one by one stay in the
        # transaction (PRAGMA user_version, DDL included: SQLite's DDL is transactional).
        for statement in statements(sql):
            db.execute(statement)

    @staticmethod
    def commit(db) -> None:
        db.commit()

    @staticmethod
    def rollback(db) -> None:
        db.rollback()


class _DuckDB:
    @staticmethod
    def read(db) -> int:
        exists = db.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog = "
            "current_database() AND table_schema = 'main' AND table_name = ?",
            [VERSION_TABLE],
        ).fetchone()[0]
        if not exists:
            return 0
        return db.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}").fetchone()[0]

    @staticmethod
    def write(db, version: int) -> None:
        db.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
        db.execute(f"DELETE FROM {VERSION_TABLE}")
        db.execute(f"INSERT INTO {VERSION_TABLE} VALUES (?)", [int(version)])

    @staticmethod
    def begin(db) -> None:
        db.execute("BEGIN TRANSACTION")

    @staticmethod
    def run(db, sql: str) -> None:
        db.execute(sql)  # DuckDB runs every statement of the text

    @staticmethod
    def commit(db) -> None:
        db.execute("COMMIT")

    @staticmethod
    def rollback(db) -> None:
        db.execute("ROLLBACK")


def _dialect(db):
    if isinstance(db, sqlite3.Connection):
        return _SQLite
    if type(db).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        return _DuckDB
    raise TypeError(f"not a SQLite or DuckDB connection: {type(db).__name__}")


def statements(sql: str) -> list[str]:
    """The SQL statements of ``sql``, split where SQLite says a statement is complete
    (so a ';' in a string or a trigger's body does not split one)."""
    found, pending = [], ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                found.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        found.append(pending.strip().rstrip(";"))
    return found


def version_of(db) -> int:
    """The schema version of the file open on ``db`` (0: none recorded)."""
    return _dialect(db).read(db)
