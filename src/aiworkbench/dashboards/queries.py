"""What the dashboards show, as queries over the store: one function a panel.

Every function takes the store and a :class:`Filters` (date range, projects,
partitions) and returns :class:`Rows` (named columns), so the dashboards, the
CSV export and the tests read the same numbers. All values are computed by
DuckDB over the store's tables; nothing here calls Slurm.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from aiworkbench.budgets.accounting import Usage


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None  # jobs that ended at or after
    until: datetime | None = None  # jobs that ended before
    projects: tuple[str, ...] = field(default_factory=tuple)  # () means all
    partitions: tuple[str, ...] = field(default_factory=tuple)

    def where(
        self,
        time_column: str | None = '"end"',
        project_column: str = "account",
        partition_column: str | None = "partition",
    ) -> tuple[str, list]:
        """SQL conditions and their arguments; ``None`` columns are not filtered on
        (the dates of a table of what holds now, the partition of budgets)."""
        clauses, args = ["TRUE"], []
        if time_column and self.since is not None:
            clauses.append(f"{time_column} >= ?")
            args.append(self.since)
        if time_column and self.until is not None:
            clauses.append(f"{time_column} < ?")
            args.append(self.until)
        for column, values in (
            (project_column, self.projects),
            (partition_column, self.partitions),
        ):
            if column and values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        return " AND ".join(clauses), args


@dataclass
class Rows:
    columns: tuple[str, ...]
    rows: list[tuple]

    def column(self, name: str) -> list:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def dicts(self) -> list[dict]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(["" if v is None else v for v in r] for r in self.rows)
        return out.getvalue()


def _rows(store, sql: str, args: list) -> Rows:
    result = store.db.execute(sql, args)
    columns = tuple(d[0] for d in result.description)
    return Rows(columns, result.fetchall())


def choices(store) -> dict[str, list[str]]:
    """The filters' options: projects and partitions seen in the store."""
    projects = store.sql(
        "SELECT DISTINCT account FROM jobs WHERE account IS NOT NULL "
        "UNION SELECT project FROM budgets ORDER BY 1"
    )
    partitions = store.sql(
        "SELECT DISTINCT partition FROM jobs WHERE partition IS NOT NULL ORDER BY 1"
    )
    return {"projects": [r[0] for r in projects], "partitions": [r[0] for r in partitions]}


def latest(store) -> datetime | None:
    """The newest job end in the store: the dashboards' default date range ends there."""
    return store.sql('SELECT max("end") FROM jobs')[0][0]


def latest_attempt(store) -> datetime | None:
    """The newest exercise attempt in the store: the training dashboard's default date
    range ends there (course progress goes on when no job ends)."""
    return store.sql("SELECT max(last_attempt) FROM progress")[0][0]


def freshness(store) -> Rows:
    """When each source was last read, and its last error (empty when none)."""
    return _rows(
        store,
        """
        SELECT source, max(read_at) AS read_at, coalesce(max(error), '') AS error
        FROM (SELECT substr(key, 6) AS source, value AS read_at, NULL AS error FROM meta
              WHERE key LIKE 'read:%'
              UNION ALL
              SELECT substr(key, 7), NULL, value FROM meta WHERE key LIKE 'error:%')
        GROUP BY source ORDER BY source""",
        [],
    )


def usage(store, filters: Filters, by: str = "week") -> Rows:
    """GPU-hours and core-hours per project (and user) per ``by`` (day, week, month)."""
    if by not in ("day", "week", "month"):
        raise ValueError(f"by={by!r}: day, week or month")
    where, args = filters.where()
    return _rows(
        store,
        f"""
        SELECT date_trunc('{by}', "end") AS period, account AS project, "user",
               round(sum(gpu_hours), 3) AS gpu_hours, round(sum(cpu_hours), 3) AS core_hours,
               count(*) AS jobs
        FROM jobs WHERE {where} AND "end" IS NOT NULL
        GROUP BY ALL ORDER BY period, project, "user" """,
        args,
    )


def project_totals(store, filters: Filters) -> Rows:
    where, args = filters.where()
    return _rows(
        store,
        f"""
        SELECT account AS project, round(sum(gpu_hours), 3) AS gpu_hours,
               round(sum(cpu_hours), 3) AS core_hours, count(*) AS jobs,
               count(*) FILTER (WHERE state <> 'COMPLETED') AS not_completed
        FROM jobs WHERE {where} GROUP BY ALL ORDER BY gpu_hours DESC, project""",
        args,
    )


# A job's wait in the queue, in seconds: from submit to start; for a job that left the
# queue without starting (cancelled while pending: sacct's Start is Unknown, so the
# store's wait_s and start are NULL) from submit to its end, the moment it was
# cancelled. NULL for a job still pending.
WAIT_S = """CASE WHEN start IS NOT NULL THEN wait_s
                 WHEN "end" IS NOT NULL THEN date_diff('second', submit, "end") END"""
# A job that left the queue without running: in practice, cancelled while pending.
NEVER_STARTED = 'start IS NULL AND "end" IS NOT NULL'


def queue_waits(store, filters: Filters) -> Rows:
    """Wait in the queue per partition (:data:`WAIT_S`: until start, or until cancel
    for jobs cancelled while pending): p50, p95 (nearest rank), jobs, and how many of
    them were cancelled while pending (:data:`NEVER_STARTED`)."""
    where, args = filters.where("submit")
    return _rows(
        store,
        f"""
        SELECT partition, quantile_disc(wait, 0.5) AS p50_s,
               quantile_disc(wait, 0.95) AS p95_s, count(*) AS jobs,
               count(*) FILTER (WHERE never_started) AS cancelled_while_pending
        FROM (SELECT partition, {WAIT_S} AS wait, {NEVER_STARTED} AS never_started
              FROM jobs WHERE {where})
        WHERE wait IS NOT NULL
        GROUP BY ALL ORDER BY partition""",
        args,
    )


def pending_reasons(store, filters: Filters, top: int = 5) -> Rows:
    """Slurm's reasons for the jobs that waited (submitted in the range), the most
    frequent first, with how many of those jobs were cancelled before they started."""
    where, args = filters.where("submit")
    return _rows(
        store,
        f"""
        SELECT reason, count(*) AS jobs,
               count(*) FILTER (WHERE {NEVER_STARTED}) AS cancelled_while_pending FROM jobs
        WHERE {where} AND reason IS NOT NULL AND reason <> 'None'
        GROUP BY ALL ORDER BY jobs DESC, reason LIMIT {int(top)}""",
        args,
    )


def pending_now(store, filters: Filters) -> Rows:
    """Jobs waiting now, by partition and Slurm's reason (squeue at the last ingestion)."""
    where, args = filters.where("submit")
    return _rows(
        store,
        f"""
        SELECT partition, reason, count(*) AS jobs, min(submit) AS oldest_submit
        FROM pending WHERE {where} GROUP BY ALL ORDER BY jobs DESC, partition, reason""",
        args,
    )


# --- budgets ------------------------------------------------------------------------
KINDS = {
    "gpu": ("gpu_hours", "gpu_limit_min", "gpu_used_min"),
    "cpu": ("cpu_hours", "cpu_limit_min", "cpu_used_min"),
}
RATE_DAYS = 28  # the burn rate behind a projection: the mean of the last four weeks


NO_BUDGET = ("none", "unlimited")  # budget states without a limit to use up


def budget_state(limit_min: int | None, used_min: int | None) -> str:
    """A budget's state, as the workbench API's ``level`` says it
    (:attr:`aiworkbench.budgets.accounting.Usage.level`): "none" (a limit of 0: no
    allocation of this kind, e.g. no GPU for a CPU-only project), "unlimited" (Slurm
    has no limit of this kind), "exhausted" (used >= limit > 0), or "ok", "warning",
    "critical". Only a budget with a limit above 0 can be exhausted."""
    return Usage(limit=limit_min, used=used_min or 0).level


def budget_status(store, filters: Filters, kind: str = "gpu", today: date | None = None) -> Rows:
    """Per project: its budget's state (:func:`budget_state`), limit, used and left
    (hours, as Slurm reports them), the burn rate over the last :data:`RATE_DAYS` days
    of accounting, and the projected exhaustion date at that rate (None: no allocation,
    no limit, or no use)."""
    hours, limit, used = KINDS[kind]
    where, args = filters.where(None, "b.project", None)
    end = today or (latest(store) or datetime.now()).date()
    day = datetime.combine(end, datetime.min.time())
    rows = store.sql(
        f"""
        SELECT b.project, b.{limit}, b.{used},
               coalesce((SELECT sum({hours}) FROM jobs j WHERE j.account = b.project
                         AND j."end" >= ? AND j."end" < ?), 0) / {RATE_DAYS}
        FROM budgets b WHERE {where} ORDER BY b.project""",
        [day - timedelta(days=RATE_DAYS - 1), day + timedelta(days=1), *args],
    )
    out = []
    for project, cap_min, spent_min, rate in rows:
        state = budget_state(cap_min, spent_min)
        cap = None if cap_min is None else cap_min / 60
        spent = (spent_min or 0) / 60
        left = None if state in NO_BUDGET else cap - spent
        out.append(
            (
                project,
                state,
                _r(cap),
                _r(spent),
                _r(left),
                None if state in NO_BUDGET else round(100 * spent / cap, 1),
                _r(rate),
                None if state in NO_BUDGET else exhaustion(left, rate, end),
            )
        )
    return Rows(
        (
            "project",
            "state",
            f"limit_{kind}_hours",
            f"used_{kind}_hours",
            f"left_{kind}_hours",
            "used_percent",
            f"{kind}_hours_per_day",
            "exhausted_on",
        ),
        out,
    )


def _r(value):
    return None if value is None else round(value, 1)


def exhaustion(left: float | None, per_day: float, today: date) -> date | None:
    """The day ``left`` hours run out at ``per_day``: today when none are left; None
    without a limit or without use."""
    if left is None:
        return None
    if left <= 0:
        return today
    if per_day <= 0:
        return None
    days = left / per_day
    return today + timedelta(days=int(days)) if days < 36500 else None


def burn_down(store, filters: Filters, project: str, kind: str = "gpu") -> Rows:
    """Per day of the date range: hours used so far and left of the project's budget,
    anchored on what Slurm reports now (used before a day = used now - used since);
    "left" is None for a budget without a limit (:data:`NO_BUDGET`)."""
    hours, limit, used = KINDS[kind]
    budget = store.sql(f"SELECT {limit}, {used} FROM budgets WHERE project = ?", [project])
    cap_min, spent_min = budget[0] if budget else (None, None)
    cap = None if budget_state(cap_min, spent_min) in NO_BUDGET else cap_min / 60
    spent = None if spent_min is None else spent_min / 60
    where, args = Filters(filters.since, filters.until, (project,)).where()
    daily = store.sql(
        f"""
        SELECT date_trunc('day', "end")::DATE AS day, sum({hours}) FROM jobs
        WHERE {where} AND "end" IS NOT NULL GROUP BY ALL ORDER BY day""",
        args,
    )
    if spent is None:  # no budget known: cumulative use over the range
        spent = sum(v for _, v in daily)
    after = store.sql(
        f"""SELECT coalesce(sum({hours}), 0) FROM jobs
                          WHERE account = ? AND "end" >= ?""",
        [project, filters.until or datetime.max],
    )[0][0]
    total = sum(v for _, v in daily)
    running = spent - after - total  # used before the range
    out = []
    for day, value in daily:
        running += value
        out.append((day, round(running, 3), None if cap is None else round(cap - running, 3)))
    return Rows(("day", f"used_{kind}_hours", f"left_{kind}_hours"), out)


# --- sessions and idle GPUs ---------------------------------------------------------
def sessions_now(store, filters: Filters) -> Rows:
    """Running notebook sessions (the hub's view at the last ingestion), idle ones first."""
    where, args = filters.where(None, "project")  # running now: no dates
    return _rows(
        store,
        f"""
        SELECT "user", server, job_id, project, partition, gpus, started, last_activity,
               gpu_idle_since,
               CASE WHEN gpu_idle_since IS NULL THEN NULL
                    ELSE round(date_diff('second', gpu_idle_since, as_of) / 3600.0, 2)
               END AS idle_hours
        FROM sessions WHERE {where}
        ORDER BY gpu_idle_since NULLS LAST, started""",
        args,
    )


def wasted_gpu_hours(store, filters: Filters) -> Rows:
    """GPU-hours wasted by idle sessions per project and user: idle time x GPUs, over
    idle periods that ended in the date range."""
    where, args = filters.where("idle_until", "project")
    return _rows(
        store,
        f"""
        SELECT project, "user", count(DISTINCT job_id) AS sessions,
               round(sum(date_diff('second', idle_since, idle_until) * gpus) / 3600.0, 3)
                   AS wasted_gpu_hours
        FROM gpu_idle WHERE {where} GROUP BY ALL ORDER BY wasted_gpu_hours DESC, project,
        "user" """,
        args,
    )


def session_summary(store, filters: Filters) -> Rows:
    """Notebook sessions (jobs named jupyter-USER) per project in the date range: how
    many, their GPU-hours, and the GPU-hours their idle GPUs wasted."""
    where, args = filters.where()
    idle_where, idle_args = filters.where("idle_until", "project")
    return _rows(
        store,
        f"""
        WITH s AS (SELECT account AS project, count(*) AS sessions,
                          round(sum(gpu_hours), 3) AS gpu_hours
                   FROM jobs WHERE {where} AND name LIKE 'jupyter-%' GROUP BY ALL),
             w AS (SELECT project, round(sum(date_diff('second', idle_since, idle_until)
                                             * gpus) / 3600.0, 3) AS wasted
                   FROM gpu_idle WHERE {idle_where} GROUP BY ALL)
        SELECT coalesce(s.project, w.project) AS project, coalesce(s.sessions, 0) AS sessions,
               coalesce(s.gpu_hours, 0) AS gpu_hours,
               coalesce(w.wasted, 0) AS wasted_gpu_hours,
               CASE WHEN coalesce(s.gpu_hours, 0) > 0
                    THEN round(100 * coalesce(w.wasted, 0) / s.gpu_hours, 1) END
                   AS wasted_percent
        FROM s FULL JOIN w ON s.project = w.project
        ORDER BY wasted_gpu_hours DESC, project""",
        [*args, *idle_args],
    )


# --- training -----------------------------------------------------------------------
STUCK_ATTEMPTS = 3  # as the trainers' class table: 3 tries or more, not passed


def training(store, filters: Filters) -> Rows:
    """Per class and course: learners, who started, exercises passed, who is stuck.
    The date range applies to the last attempt; projects and partitions do not. A
    class whose learners tried no exercise in the range is one row without a course,
    nobody started: its learners still show."""
    where, args = Filters(filters.since, filters.until).where("last_attempt")
    return _rows(
        store,
        f"""
        WITH tried AS (
            SELECT class, course, count(DISTINCT "user") AS started,
                   count(*) FILTER (WHERE passed) AS exercises_passed,
                   count(DISTINCT exercise) AS exercises_tried,
                   count(DISTINCT "user") FILTER (WHERE NOT passed
                                                  AND attempts >= {STUCK_ATTEMPTS}) AS stuck
            FROM progress WHERE course IS NOT NULL AND {where} GROUP BY ALL),
             classes AS (SELECT class, max(learners) AS learners FROM progress GROUP BY ALL)
        SELECT c.class, t.course, c.learners, coalesce(t.started, 0) AS started,
               coalesce(t.exercises_passed, 0) AS exercises_passed,
               coalesce(t.exercises_tried, 0) AS exercises_tried,
               coalesce(t.stuck, 0) AS stuck
        FROM classes c LEFT JOIN tried t ON t.class = c.class
        ORDER BY c.class, t.course NULLS LAST""",
        args,
    )
