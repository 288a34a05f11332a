"""The dashboards' analytical store: Slurm accounting in DuckDB, ingested incrementally.

``Store.ingest_text(text)`` takes what ``sacct --parsable2 --noheader
--format=FORMAT`` prints (see :data:`~.history.FORMAT`) and upserts it by job
id: a job seen again (still running then, finished now) replaces its row, so
ingesting overlapping windows is safe. ``watermark()`` is where the next
``sacct --starttime`` should begin. Dashboards query the ``jobs`` table, never
``sacct``.
"""

from __future__ import annotations

import io
from pathlib import Path

from .history import FORMAT

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id BIGINT PRIMARY KEY, "user" VARCHAR, account VARCHAR, partition VARCHAR,
    submit TIMESTAMP, start TIMESTAMP, "end" TIMESTAMP, state VARCHAR, exit_code VARCHAR,
    cpus INTEGER, gpus INTEGER, elapsed_s BIGINT, limit_min INTEGER, reason VARCHAR,
    wait_s BIGINT, gpu_hours DOUBLE, cpu_hours DOUBLE);
"""
TRANSFORM = """
SELECT CAST(JobIDRaw AS BIGINT), "User", Account, Partition,
       TRY_CAST(Submit AS TIMESTAMP), TRY_CAST("Start" AS TIMESTAMP),
       TRY_CAST("End" AS TIMESTAMP), split_part(State, ' ', 1), ExitCode,
       coalesce(TRY_CAST(regexp_extract(AllocTRES, 'cpu=([0-9]+)', 1) AS INTEGER), 0),
       coalesce(TRY_CAST(regexp_extract(AllocTRES, 'gres/gpu=([0-9]+)', 1) AS INTEGER), 0),
       coalesce(TRY_CAST(ElapsedRaw AS BIGINT), 0), TRY_CAST(TimelimitRaw AS INTEGER),
       Reason,
       CASE WHEN TRY_CAST("Start" AS TIMESTAMP) IS NULL THEN NULL
            ELSE date_diff('second', TRY_CAST(Submit AS TIMESTAMP),
                           TRY_CAST("Start" AS TIMESTAMP)) END,
       coalesce(TRY_CAST(ElapsedRaw AS BIGINT), 0) * coalesce(TRY_CAST(regexp_extract(
           AllocTRES, 'gres/gpu=([0-9]+)', 1) AS INTEGER), 0) / 3600.0,
       coalesce(TRY_CAST(ElapsedRaw AS BIGINT), 0) * coalesce(TRY_CAST(regexp_extract(
           AllocTRES, 'cpu=([0-9]+)', 1) AS INTEGER), 0) / 3600.0
FROM incoming WHERE TRY_CAST(JobIDRaw AS BIGINT) IS NOT NULL
"""


class Store:
    def __init__(self, path: str | Path = ":memory:", readonly: bool = False):
        import duckdb

        self.db = duckdb.connect(str(path), read_only=readonly)
        if not readonly:
            self.db.execute(SCHEMA).fetchall()

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
            parse_options=csv.ParseOptions(delimiter="|", quote_char=False),
            convert_options=csv.ConvertOptions(
                column_types={name: pa.string() for name in FORMAT}))
        self.db.register("incoming", table)
        try:
            self.db.execute(f"INSERT OR REPLACE INTO jobs {TRANSFORM}").fetchall()
        finally:
            self.db.unregister("incoming")
        return table.num_rows

    def watermark(self):
        """The latest submit time stored (None when empty): ingest from a little before."""
        return self.db.execute("SELECT max(submit) FROM jobs").fetchall()[0][0]

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM jobs").fetchall()[0][0]
