"""Every store's file has a schema version: a file written before versions (today's
deployed factories) opens with all its rows and the current version, a new file gets the
current version, and a file from a newer workbench is refused with both versions and
what to do, and is left byte for byte as it was. The rule itself (store_schema): the
migrations run in order in one transaction, and a failing one leaves the file as it was.

The layouts below are the CREATE statements of the code before versions, copied word for
word: the files on deployed factories look like this (version 0, no version recorded)."""

import os
import sqlite3
from datetime import datetime

import duckdb
import pytest

from aiworkbench.catalog import cli
from aiworkbench.catalog import index as catalog_index
from aiworkbench.catalog.index import Index
from aiworkbench.core import store_schema
from aiworkbench.core.store_schema import Schema, SchemaError, prepare, version_of
from aiworkbench.courses import progress
from aiworkbench.courses.progress import ProgressStore
from aiworkbench.dashboards import store as dashboards_store
from aiworkbench.dashboards.store import Store, StoreError, open_store

from .test_catalog import dataset
from .test_catalog_cli import SITE

PROGRESS_BEFORE_VERSIONS = """
CREATE TABLE IF NOT EXISTS progress (
    user TEXT, course TEXT, exercise TEXT, attempts INTEGER, passed INTEGER,
    first_passed_at REAL, last_attempt_at REAL, PRIMARY KEY (user, course, exercise));
CREATE INDEX IF NOT EXISTS progress_by_course ON progress (course, user);
"""
CATALOG_BEFORE_VERSIONS = """
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY, title TEXT, description TEXT, owner TEXT, licence TEXT,
    citation TEXT, modality TEXT, format TEXT, access TEXT, tags TEXT,
    files INTEGER, bytes INTEGER, card_mtime_ns INTEGER, dir_mtime_ns INTEGER);
CREATE TABLE IF NOT EXISTS access (name TEXT, project TEXT);
CREATE INDEX IF NOT EXISTS access_by_project ON access (project, name);
CREATE INDEX IF NOT EXISTS access_by_name ON access (name);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
    name, title, description, tags, tokenize='unicode61');
CREATE TABLE IF NOT EXISTS files (dataset TEXT, parent TEXT, name TEXT, kind TEXT,
    size INTEGER);
CREATE INDEX IF NOT EXISTS files_by_folder ON files (dataset, parent, kind, name);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
DASHBOARDS_BEFORE_VERSIONS = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id BIGINT PRIMARY KEY, "user" VARCHAR, account VARCHAR, partition VARCHAR,
    submit TIMESTAMP, start TIMESTAMP, "end" TIMESTAMP, state VARCHAR, exit_code VARCHAR,
    cpus INTEGER, gpus INTEGER, elapsed_s BIGINT, limit_min INTEGER, reason VARCHAR,
    name VARCHAR, wait_s BIGINT, gpu_hours DOUBLE, cpu_hours DOUBLE);
CREATE TABLE IF NOT EXISTS budgets (
    project VARCHAR PRIMARY KEY, gpu_limit_min BIGINT, gpu_used_min BIGINT,
    cpu_limit_min BIGINT, cpu_used_min BIGINT, as_of TIMESTAMP);
CREATE TABLE IF NOT EXISTS sessions (
    "user" VARCHAR, server VARCHAR, job_id BIGINT, project VARCHAR, partition VARCHAR,
    gpus INTEGER, started TIMESTAMP, last_activity TIMESTAMP, gpu_idle_since TIMESTAMP,
    as_of TIMESTAMP);
CREATE TABLE IF NOT EXISTS gpu_idle (
    job_id BIGINT, "user" VARCHAR, project VARCHAR, partition VARCHAR, gpus INTEGER,
    idle_since TIMESTAMP, idle_until TIMESTAMP, PRIMARY KEY (job_id, idle_since));
CREATE TABLE IF NOT EXISTS pending (
    job_id BIGINT, "user" VARCHAR, account VARCHAR, partition VARCHAR, reason VARCHAR,
    submit TIMESTAMP, as_of TIMESTAMP);
CREATE TABLE IF NOT EXISTS progress (
    class VARCHAR, course VARCHAR, "user" VARCHAR, exercise VARCHAR, attempts INTEGER,
    passed BOOLEAN, last_attempt TIMESTAMP, learners INTEGER, as_of TIMESTAMP);
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
"""

T = datetime(2026, 11, 3, 9, 30)
PROGRESS_ROWS = {
    "progress": [
        ("ada", "first-steps", "q1", 2, 1, 10.0, 12.0),
        ("bob", "first-steps", "q1", 1, 0, None, 11.0),
        ("ada", "ml; basics", "q'2", 3, 1, 5.0, 9.0),
    ]
}
CATALOG_ROWS = {
    "datasets": [
        (
            "iris",
            "Iris flowers",
            "Fisher's irises",
            "ada",
            "CC-BY-4.0",
            "Fisher",
            "tabular",
            "csv",
            "[]",
            '["flowers"]',
            1,
            120,
            11,
            12,
        ),
        (
            "scans",
            "Scans",
            "restricted scans",
            "bob",
            "CC0-1.0",
            "",
            "image",
            "png",
            '["edu-intro"]',
            "[]",
            2,
            2048,
            21,
            22,
        ),
    ],
    "access": [("iris", "*"), ("scans", "edu-intro")],
    "search": [
        ("iris", "Iris flowers", "Fisher's irises", "flowers"),
        ("scans", "Scans", "restricted scans", ""),
    ],
    "files": [
        ("iris", "", "data.csv", "file", 120),
        ("scans", "", "a", "dir", 0),
        ("scans", "a", "1.png", "file", 1024),
        ("scans", "a", "2.png", "file", 1024),
    ],
    "meta": [("indexed_at", "1790000000.5")],
}
DASHBOARDS_ROWS = {
    "jobs": [
        (
            101,
            "ada",
            "edu-intro",
            "gpu",
            T,
            T,
            T,
            "COMPLETED",
            "0:0",
            4,
            1,
            3600,
            60,
            "None",
            "spawner-jupyterhub",
            0,
            1.0,
            4.0,
        ),
        (
            102,
            "bob",
            "ml",
            "cpu",
            T,
            None,
            None,
            "PENDING",
            "0:0",
            2,
            0,
            0,
            30,
            "Priority",
            "train",
            None,
            0.0,
            0.0,
        ),
    ],
    "budgets": [("edu-intro", 6000, 60, 12000, 240, T)],
    "sessions": [("ada", "", 101, "edu-intro", "gpu", 1, T, T, None, T)],
    "gpu_idle": [(101, "ada", "edu-intro", "gpu", 1, T, T)],
    "pending": [(102, "bob", "ml", "cpu", "Priority", T, T)],
    "progress": [("intro-2026", "first-steps", "ada", "q1", 2, True, T, 12, T)],
    "meta": [("sacct_until", T.isoformat()), ("read_sshare", T.isoformat())],
}


# --- files as each store's code before versions made them -------------------------
def sqlite_file(path, layout, rows):
    db = sqlite3.connect(path)
    db.executescript(layout)
    for table, values in rows.items():
        marks = ", ".join("?" * len(values[0]))
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    db.commit()
    db.close()
    return path


def duckdb_file(path, layout, rows):
    db = duckdb.connect(str(path))
    db.execute(layout).fetchall()
    for table, values in rows.items():
        marks = ", ".join("?" * len(values[0]))
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    db.close()
    return path


def rows_of(db, tables) -> dict:
    return {
        table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in tables
    }


def expected(rows) -> dict:
    return {table: sorted(values, key=repr) for table, values in rows.items()}


def stamp(path, version, kind) -> None:
    """Write ``version`` into the file as a newer workbench would."""
    if kind == "sqlite":
        with sqlite3.connect(path) as db:
            db.execute(f"PRAGMA user_version = {version}")
        db.close()
    else:
        db = duckdb.connect(str(path))
        db.execute("UPDATE schema_version SET version = ?", [version])
        db.close()


def refused(message: str, found: int, code: int) -> bool:
    return (
        f"has schema version {found}, newer than this workbench's {code}" in message
        and "Upgrade the workbench" in message
        and "left unchanged" in message
    )


# --- the layout from before versions is migrated with every row -------------------
def test_a_progress_file_from_before_versions_keeps_its_rows(tmp_path):
    path = sqlite_file(
        tmp_path / "workbench-progress.sqlite", PROGRESS_BEFORE_VERSIONS, PROGRESS_ROWS
    )
    store = ProgressStore(path)
    assert [r["attempts"] for r in store.of(["ada", "bob"])] == [2, 3, 1]
    assert rows_of(store.db, ["progress"]) == expected(PROGRESS_ROWS)
    assert version_of(store.db) == progress.SCHEMA.version == 1
    assert store.record("bob", "first-steps", "q1", True, now=20)["attempts"] == 2


def test_a_catalog_index_from_before_versions_keeps_its_rows(tmp_path):
    path = sqlite_file(tmp_path / "index.sqlite", CATALOG_BEFORE_VERSIONS, CATALOG_ROWS)
    index = Index(path)
    assert rows_of(index.db, CATALOG_ROWS) == expected(CATALOG_ROWS)
    assert version_of(index.db) == catalog_index.SCHEMA.version == 1
    assert index.search([], "fisher")[0] == 1  # the full-text table came through
    assert index.search(["edu-intro"])[0] == 2
    assert index.list_folder("scans", "a")[0] == 2
    assert index.meta("indexed_at") == "1790000000.5"


def test_a_dashboards_store_from_before_versions_keeps_its_rows(tmp_path):
    path = duckdb_file(tmp_path / "accounting.duckdb", DASHBOARDS_BEFORE_VERSIONS, DASHBOARDS_ROWS)
    with open_store(path, readonly=False) as store:  # what the ingestion does
        assert rows_of(store.db, DASHBOARDS_ROWS) == expected(DASHBOARDS_ROWS)
        assert version_of(store.db) == dashboards_store.SCHEMA.version == 1
        assert store.watermark() == T and store.count() == 2
    with open_store(path) as store:  # and a render after it
        assert version_of(store.db) == 1 and store.count() == 2


def test_readers_read_a_file_from_before_versions_as_it_is(tmp_path):
    """The API's index and the dashboards' renders cannot migrate: they read version 0
    (the same tables), and the file stays as it was until its writer opens it."""
    index_path = sqlite_file(tmp_path / "index.sqlite", CATALOG_BEFORE_VERSIONS, CATALOG_ROWS)
    store_path = duckdb_file(
        tmp_path / "accounting.duckdb", DASHBOARDS_BEFORE_VERSIONS, DASHBOARDS_ROWS
    )
    before = index_path.read_bytes(), store_path.read_bytes()
    index = Index(index_path, readonly=True)
    assert index.search(["edu-intro"])[0] == 2 and version_of(index.db) == 0
    index.db.close()
    with open_store(store_path) as store:
        assert store.count() == 2 and version_of(store.db) == 0
    assert (index_path.read_bytes(), store_path.read_bytes()) == before


# --- a new file gets the current version ------------------------------------------
def test_new_files_get_the_current_version(tmp_path):
    store = ProgressStore(tmp_path / "p.sqlite")
    assert store.of(["ada"]) == [] and version_of(store.db) == progress.SCHEMA.version
    assert version_of(Index(tmp_path / "i.sqlite").db) == catalog_index.SCHEMA.version
    with open_store(tmp_path / "a.duckdb", readonly=False) as accounting:
        assert version_of(accounting.db) == dashboards_store.SCHEMA.version
        assert accounting.sql("SELECT * FROM schema_version") == [(1,)]
    for memory in (ProgressStore().db, Index().db, Store().db):
        assert version_of(memory) == 1


def test_each_first_migration_is_the_layout_from_before_versions():
    """Version 1 is what deployed files already hold; a shipped migration never changes
    (add the next one instead)."""
    assert progress.SCHEMA.migrations[0] == PROGRESS_BEFORE_VERSIONS
    assert catalog_index.SCHEMA.migrations[0] == CATALOG_BEFORE_VERSIONS
    assert dashboards_store.SCHEMA.migrations[0] == DASHBOARDS_BEFORE_VERSIONS


# --- a file from a newer workbench is refused and left unchanged ------------------
def test_a_progress_file_from_a_newer_workbench_is_refused(tmp_path):
    path = tmp_path / "workbench-progress.sqlite"
    ProgressStore(path).record("ada", "first-steps", "q1", True, now=1)
    stamp(path, 2, "sqlite")
    before = path.read_bytes()
    store = ProgressStore(path)
    for attempt in (
        lambda: store.of(["ada"]),
        lambda: store.record("ada", "first-steps", "q1", False, now=2),
    ):
        with pytest.raises(SchemaError) as err:
            attempt()
        assert refused(str(err.value), 2, 1) and str(path) in str(err.value)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["workbench-progress.sqlite"]


def test_a_catalog_index_from_a_newer_workbench_is_refused(tmp_path, capsys):
    root, path = tmp_path / "datasets", tmp_path / "state" / "index.sqlite"
    root.mkdir()
    dataset(root, "iris")
    site = tmp_path / "site.toml"
    site.write_text(SITE.replace("[catalog]\n", f'[catalog]\nroot = "{root}"\nindex = "{path}"\n'))
    assert cli.main(["--site", str(site), "index"]) == 0
    stamp(path, 7, "sqlite")
    before = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(SchemaError) as err:
            Index(path, readonly=readonly)
        assert refused(str(err.value), 7, 1)
    assert cli.main(["--site", str(site), "index", "--full"]) == 2
    assert refused(capsys.readouterr().err, 7, 1)
    assert path.read_bytes() == before


def test_a_dashboards_store_from_a_newer_workbench_is_refused(tmp_path):
    path = tmp_path / "accounting.duckdb"
    with open_store(path, readonly=False) as store:
        store.set_meta("sacct_until", T.isoformat())
    stamp(path, 3, "duckdb")
    before = path.read_bytes()
    with pytest.raises(SchemaError) as err:
        Store(path)
    assert refused(str(err.value), 3, 1)
    for readonly in (True, False):
        with pytest.raises(StoreError) as err, open_store(path, readonly=readonly):
            pass
        assert refused(str(err.value), 3, 1)
    assert path.read_bytes() == before


# --- ProgressStore checks again when a restore puts a file in its place ------------
def test_a_restored_progress_file_is_checked_again(tmp_path):
    path = tmp_path / "workbench-progress.sqlite"
    store = ProgressStore(path)
    store.record("eve", "first-steps", "q1", True, now=1)
    old = sqlite_file(tmp_path / "old.sqlite", PROGRESS_BEFORE_VERSIONS, PROGRESS_ROWS)
    os.replace(old, path)  # a backup made before versions, restored
    assert [r["user"] for r in store.of(["ada", "bob", "eve"])] == ["ada", "ada", "bob"]
    assert version_of(store.db) == 1
    assert store.record("ada", "first-steps", "q1", False, now=30)["attempts"] == 3

    newer = tmp_path / "newer.sqlite"
    ProgressStore(newer).record("zoe", "first-steps", "q1", True, now=1)
    stamp(newer, 2, "sqlite")
    before = newer.read_bytes()
    os.replace(newer, path)  # a backup from a newer workbench
    with pytest.raises(SchemaError) as err:
        store.of(["zoe"])
    assert refused(str(err.value), 2, 1)
    assert path.read_bytes() == before

    good = tmp_path / "good.sqlite"
    ProgressStore(good).record("zoe", "first-steps", "q1", True, now=1)
    os.replace(good, path)  # the right backup, restored after all
    assert store.of(["zoe"])[0]["passed"] is True


# --- the rule: in order, in one transaction ---------------------------------------
def connect(kind, path):
    return sqlite3.connect(path) if kind == "sqlite" else duckdb.connect(str(path))


def steps(*extra):
    def add_two(db):
        db.execute("INSERT INTO a VALUES (2)")

    return (
        "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);",
        add_two,
        "INSERT INTO a VALUES (3)",
        *extra,
    )


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_migrations_run_in_order_from_the_files_version(tmp_path, kind):
    path = tmp_path / f"s.{kind}"
    db = connect(kind, path)
    assert prepare(db, Schema("a test store", steps()[:1], writer="the test"), path) == 1
    assert prepare(db, Schema("a test store", steps(), writer="the test"), path) == 3
    assert db.execute("SELECT x FROM a ORDER BY x").fetchall() == [(1,), (2,), (3,)]
    assert version_of(db) == 3
    assert prepare(db, Schema("a test store", steps(), writer="the test"), path) == 3
    assert db.execute("SELECT count(*) FROM a").fetchall() == [(3,)]  # nothing ran again


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, kind):
    path = tmp_path / f"s.{kind}"
    db = connect(kind, path)
    prepare(db, Schema("a test store", steps()[:1], writer="the test"), path)
    broken = Schema("a test store", steps("INSERT INTO nowhere VALUES (4)"), writer="t")
    with pytest.raises(
        SchemaError, match="(?s)from schema version 3 to 4 failed.*left at version 1"
    ):
        prepare(db, broken, path)
    assert version_of(db) == 1
    assert db.execute("SELECT x FROM a").fetchall() == [(1,)]


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_reader_refuses_a_file_older_than_it_reads(tmp_path, kind):
    path = tmp_path / f"s.{kind}"
    db = connect(kind, path)
    prepare(db, Schema("a test store", steps()[:1], writer="the test"), path)
    db.close()
    before = path.read_bytes()
    db = (
        sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        if kind == "sqlite"
        else duckdb.connect(str(path), read_only=True)
    )
    newer = Schema("a test store", steps(), writer="aiworkbench-test upgrade", readable_from=2)
    with pytest.raises(
        SchemaError,
        match=r"version 1, older than this workbench reads "
        r"\(2 to 3\); aiworkbench-test upgrade upgrades",
    ):
        prepare(db, newer, path, readonly=True)
    assert prepare(db, Schema("a test store", steps(), writer="t"), path, readonly=True) == 1
    db.close()
    assert path.read_bytes() == before


def test_sql_is_split_where_sqlite_says_a_statement_ends():
    sql = """CREATE TABLE t (x TEXT);
    INSERT INTO t VALUES ('a;b');
    CREATE TRIGGER t_copy AFTER INSERT ON t BEGIN INSERT INTO t2 VALUES (new.x); END;
    """
    assert store_schema.statements(sql) == [
        "CREATE TABLE t (x TEXT);",
        "INSERT INTO t VALUES ('a;b');",
        "CREATE TRIGGER t_copy AFTER INSERT ON t BEGIN INSERT INTO t2 VALUES (new.x); END;",
    ]
    assert store_schema.statements("SELECT 1") == ["SELECT 1;"]
