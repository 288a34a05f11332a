"""What the dashboards show, as queries over the store: one function a panel.

Every function takes the store and a :class:`Filters` (date range, projects,
partitions) and returns plain rows (lists of tuples with named columns), so the
dashboards, the CSV export and the tests read the same numbers. All values are
computed by DuckDB over the ``jobs`` table; nothing here calls Slurm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None  # jobs that ended at or after
    until: datetime | None = None  # jobs that ended before
    projects: tuple[str, ...] = field(default_factory=tuple)  # () means all
    partitions: tuple[str, ...] = field(default_factory=tuple)

    def where(self, time_column: str = '"end"') -> tuple[str, list]:
        clauses, args = ["TRUE"], []
        if self.since is not None:
            clauses.append(f"{time_column} >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append(f"{time_column} < ?")
            args.append(self.until)
        for column, values in (("account", self.projects), ("partition", self.partitions)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        return " AND ".join(clauses), args


@dataclass
class Rows:
    columns: tuple[str, ...]
    rows: list[tuple]


def _rows(store, sql: str, args: list) -> Rows:
    result = store.db.execute(sql, args)
    columns = tuple(d[0] for d in result.description)
    return Rows(columns, result.fetchall())


def usage(store, filters: Filters, by: str = "week") -> Rows:
    """GPU-hours and core-hours per project (and user) per ``by`` (day, week, month)."""
    if by not in ("day", "week", "month"):
        raise ValueError(f"by={by!r}: day, week or month")
    where, args = filters.where()
    return _rows(store, f"""
        SELECT date_trunc('{by}', "end") AS period, account AS project, "user",
               round(sum(gpu_hours), 3) AS gpu_hours, round(sum(cpu_hours), 3) AS core_hours,
               count(*) AS jobs
        FROM jobs WHERE {where} AND "end" IS NOT NULL
        GROUP BY ALL ORDER BY period, project, "user" """, args)


def project_totals(store, filters: Filters) -> Rows:
    where, args = filters.where()
    return _rows(store, f"""
        SELECT account AS project, round(sum(gpu_hours), 3) AS gpu_hours,
               round(sum(cpu_hours), 3) AS core_hours, count(*) AS jobs,
               count(*) FILTER (WHERE state <> 'COMPLETED') AS not_completed
        FROM jobs WHERE {where} GROUP BY ALL ORDER BY gpu_hours DESC, project""", args)


def queue_waits(store, filters: Filters) -> Rows:
    """Wait from submit to start per partition: p50, p95 (nearest rank), jobs."""
    where, args = filters.where("submit")
    return _rows(store, f"""
        SELECT partition, quantile_disc(wait_s, 0.5) AS p50_s,
               quantile_disc(wait_s, 0.95) AS p95_s, count(*) AS jobs
        FROM jobs WHERE {where} AND wait_s IS NOT NULL
        GROUP BY ALL ORDER BY partition""", args)


def pending_reasons(store, filters: Filters, top: int = 5) -> Rows:
    where, args = filters.where("submit")
    return _rows(store, f"""
        SELECT reason, count(*) AS jobs FROM jobs
        WHERE {where} AND reason IS NOT NULL AND reason <> 'None'
        GROUP BY ALL ORDER BY jobs DESC, reason LIMIT {int(top)}""", args)


def burn_down(store, filters: Filters, project: str, budget_gpu_hours: float) -> Rows:
    """Per day: GPU-hours used so far and left of ``budget_gpu_hours``."""
    where, args = filters.where()
    return _rows(store, f"""
        SELECT day, sum(used) OVER (ORDER BY day) AS used_gpu_hours,
               ? - sum(used) OVER (ORDER BY day) AS left_gpu_hours
        FROM (SELECT date_trunc('day', "end") AS day, sum(gpu_hours) AS used FROM jobs
              WHERE {where} AND account = ? AND "end" IS NOT NULL GROUP BY ALL)
        ORDER BY day""", [budget_gpu_hours, *args, project])
