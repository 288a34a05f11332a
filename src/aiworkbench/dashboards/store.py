"""The dashboards' analytical store: Slurm accounting in DuckDB, ingested incrementally.

Tables (the dashboards read these, never ``sacct``):

* ``jobs``: one row per job from ``sacct`` (:data:`~.history.FORMAT`), upserted by job
  id, so a job seen again (running then, finished now) replaces its row and
  overlapping windows are safe;
* ``budgets``: each project's limit and use as Slurm reports them (``sshare``),
  replaced at each ingestion;
* ``sessions``: the notebook sessions running now, with their GPUs' idle state (the
  hub's view), replaced at each ingestion;
* ``gpu_idle``: periods in which a session's GPUs were idle, one row per session and
  start of idleness, extended while it lasts;
* ``pending``: jobs waiting now, with Slurm's reason (``squeue``);
* ``progress``: exercise progress per class, course and learner (the workbench API);
* ``meta``: the ingestion watermark and when each source was last read;
* ``schema_version``: the file's schema version (:mod:`aiworkbench.core.store_schema`): the
  ingestion migrates a file from an older workbench, and every opening refuses one
  from a newer workbench.

One process writes (the dashboards service's ingestion); dashboards open the file
read-only for the time of one render. DuckDB lets one process hold the file for
writing and refuses readers meanwhile, so both sides open it briefly and retry:
:func:`open_store`.
"""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from aiworkbench.core.store_schema import Schema, SchemaError, prepare
from aiworkbench.dashboards.history import DELIMITER, FORMAT

# Version 1: the layout from before versions, unchanged (a file of then keeps its rows).
V1 = """
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
SCHEMA = Schema(
    "the dashboards' accounting store",
    migrations=(V1,),
    writer="the dashboards' ingestion (aiworkbench-dashboards-ingest)",
)
_GPUS = "coalesce(TRY_CAST(regexp_extract(AllocTRES, 'gres/gpu[^=,]*=([0-9]+)', 1) AS INTEGER), 0)"
_CPUS = "coalesce(TRY_CAST(regexp_extract(AllocTRES, '(?:^|,)cpu=([0-9]+)', 1) AS INTEGER), 0)"
_ELAPSED = "coalesce(TRY_CAST(ElapsedRaw AS BIGINT), 0)"
TRANSFORM = f"""
SELECT CAST(JobIDRaw AS BIGINT), "User", Account, Partition,
       TRY_CAST(Submit AS TIMESTAMP), TRY_CAST("Start" AS TIMESTAMP),
       TRY_CAST("End" AS TIMESTAMP), split_part(State, ' ', 1), ExitCode,
       {_CPUS}, {_GPUS}, {_ELAPSED}, TRY_CAST(TimelimitRaw AS INTEGER), Reason, JobName,
       CASE WHEN TRY_CAST("Start" AS TIMESTAMP) IS NULL THEN NULL
            ELSE date_diff('second', TRY_CAST(Submit AS TIMESTAMP),
                           TRY_CAST("Start" AS TIMESTAMP)) END,
       {_ELAPSED} * {_GPUS} / 3600.0, {_ELAPSED} * {_CPUS} / 3600.0
FROM incoming WHERE TRY_CAST(JobIDRaw AS BIGINT) IS NOT NULL
"""
LOCK_WAIT_S = 20.0  # how long to retry while the other side holds the file


class StoreError(RuntimeError):
    """The store could not be opened (its message says why)."""


class Store:
    """A DuckDB connection with the tables above (created or migrated when writable; a
    file from a newer workbench raises :class:`~aiworkbench.core.store_schema.SchemaError`)."""

    def __init__(self, path: str | Path = ":memory:", readonly: bool = False):
        import duckdb

        self.path = str(path)
        self.db = duckdb.connect(self.path, read_only=readonly)
        try:
            prepare(self.db, SCHEMA, self.path, readonly=readonly)
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def sql(self, query: str, args: list | tuple = ()) -> list[tuple]:
        return self.db.execute(query, list(args)).fetchall()

    # --- writing ------------------------------------------------------------------
    def ingest_text(self, text: str | bytes) -> int:
        """Upsert the jobs in ``sacct`` output; how many rows it held."""
        import pyarrow as pa
        import pyarrow.csv as csv

        data = text.encode() if isinstance(text, str) else text
        if not data.strip():
            return 0
        table = csv.read_csv(
            io.BytesIO(data),
            read_options=csv.ReadOptions(column_names=list(FORMAT)),
            parse_options=csv.ParseOptions(
                delimiter=DELIMITER, quote_char=False, newlines_in_values=False
            ),
            convert_options=csv.ConvertOptions(column_types={name: pa.string() for name in FORMAT}),
        )
        self.db.register("incoming", table)
        try:
            self.db.execute(f"INSERT OR REPLACE INTO jobs {TRANSFORM}").fetchall()
        finally:
            self.db.unregister("incoming")
        return table.num_rows

    def replace(self, table: str, rows: list[tuple]) -> None:
        """Replace a snapshot table (budgets, sessions, pending, progress) by ``rows``."""
        if table not in ("budgets", "sessions", "pending", "progress"):
            raise ValueError(f"{table!r} is not a snapshot table")
        self.db.execute("BEGIN").fetchall()
        try:
            self.db.execute(f"DELETE FROM {table}").fetchall()
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                self.db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            self.db.execute("COMMIT").fetchall()
        except Exception:
            self.db.execute("ROLLBACK").fetchall()
            raise

    def record_idle(self, rows) -> None:
        """Upsert idle periods: (job id, user, project, partition, gpus, since, until)."""
        rows = list(rows)
        if rows:
            self.db.executemany(
                "INSERT OR REPLACE INTO gpu_idle VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value]).fetchall()

    # --- reading ------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self.sql("SELECT value FROM meta WHERE key = ?", [key])
        return rows[0][0] if rows else None

    def watermark(self) -> datetime | None:
        """When the last successful ``sacct`` read began: the next one starts before it."""
        value = self.meta("sacct_until")
        return datetime.fromisoformat(value) if value else None

    def count(self) -> int:
        return self.sql("SELECT count(*) FROM jobs")[0][0]


def _locked(err: Exception) -> bool:
    return "lock" in str(err).lower()


@contextmanager
def open_store(path: str | Path, readonly: bool = True, wait: float = LOCK_WAIT_S):
    """The store at ``path`` for one read or one ingestion, retried while the other side
    holds it; :class:`StoreError` when it is missing, stays locked or has a schema
    version this code cannot use."""
    import duckdb

    if readonly and not Path(path).exists():
        raise StoreError(
            f"no accounting store at {path} yet: the dashboards service "
            f"creates it at its first ingestion"
        )
    deadline = time.monotonic() + wait
    while True:
        try:
            store = Store(path, readonly=readonly)
            break
        except SchemaError as err:
            raise StoreError(str(err)) from err
        except duckdb.Error as err:
            if not _locked(err):
                raise StoreError(f"cannot open the accounting store {path}: {err}") from err
            if time.monotonic() > deadline:
                raise StoreError(
                    f"the accounting store {path} stayed locked for "
                    f"{wait:.0f} s (an ingestion or a render holds it)"
                ) from err
            time.sleep(0.05)
    try:
        yield store
    finally:
        store.close()
