"""The managers' dashboards: ipywidgets and bqplot charts over :mod:`.queries`.

Each dashboard is a class with the same frame: filters (date range, projects,
partitions), a status line saying how fresh the data is, its charts and tables,
and "Export CSV", which offers the dashboard's main table as a file. A filter
change runs the dashboard's queries again (one read-only opening of the store)
and updates the existing charts in place. The Voila notebooks in
``example_notebooks/dashboards/`` each show one of them::

    from aiworkbench.dashboards import views
    views.Usage()
"""

from __future__ import annotations

import base64
import os
import time
from datetime import date, datetime, timedelta

from aiworkbench.budgets.accounting import CRITICAL_AT, WARN_AT
from aiworkbench.dashboards import charts
from aiworkbench.dashboards import queries as q
from aiworkbench.dashboards.charts import PALETTE, BarChart, LineChart
from aiworkbench.dashboards.store import StoreError, open_store
from aiworkbench.widgets.base import STATUS_COLOURS, Shown, counted, status_line
from aiworkbench.widgets.templating import render

STORE_ENV = "AIWORKBENCH_DASHBOARDS_STORE"  # set by the dashboards service
DEFAULT_STORE = "/var/lib/aiworkbench/dashboards/accounting.duckdb"
DEFAULT_DAYS = 90  # the date range shown first: the last 90 days of accounting
TOP = 8  # series in a stacked chart; the rest are summed as "others"
TABLE_ROWS = 15
SIDE_BY_SIDE = {"grid_gap": "48px"}  # tables side by side, apart


def store_path() -> str:
    return os.environ.get(STORE_ENV) or DEFAULT_STORE


def number_text(value: float) -> str:
    """A number as a table writes it: two decimals under 10 (0.24 GPU-hours, not 0.2),
    one above, thousands separated."""
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def _cell_text(value) -> str:
    """A table cell in words: times to the minute, numbers as :func:`number_text`,
    None as ""."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return number_text(value)
    return "" if value is None else str(value)


def table_html(
    rows: q.Rows, limit: int = TABLE_ROWS, title: str = "", nothing: str = "Nothing in this range."
) -> str:
    """An HTML table of the first ``limit`` rows, every value escaped, columns of numbers
    aligned right; ``nothing``: what it says when there are no rows."""

    def number(value) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    right = [
        bool(rows.rows)
        and all(number(r[i]) or r[i] is None for r in rows.rows)
        and any(number(r[i]) for r in rows.rows)
        for i in range(len(rows.columns))
    ]
    return render(
        "dashboard_table.html",
        title=title,
        right=right,
        columns=[c.replace("_", " ") for c in rows.columns],
        rows=[[_cell_text(v) for v in r] for r in rows.rows[:limit]],
        empty=not rows.rows,
        more=max(len(rows.rows) - limit, 0),
        nothing=nothing,
    )


def pivot(
    rows: q.Rows, x: str, series: str, value: str, top: int = TOP, domain: list | None = None
):
    """(x values, series names, values[series][x]) for a stacked chart: the ``top``
    series by total, the rest summed as "others". The x values: with a ``domain`` (e.g.
    every period of the date range, zero where nothing ran), it and any others the rows
    hold, sorted; else the rows' in their first order."""
    totals: dict[str, float] = {}
    cells: dict[tuple, float] = {}
    seen: dict = dict.fromkeys(domain or ())  # x values in their order
    for r in rows.dicts():
        seen.setdefault(r[x], None)
        totals[r[series]] = totals.get(r[series], 0) + (r[value] or 0)
        cells[(r[series], r[x])] = cells.get((r[series], r[x]), 0) + (r[value] or 0)
    xs = sorted(seen) if domain else list(seen)
    names = sorted(totals, key=lambda n: (-totals[n], n))
    shown, rest = names[:top], names[top:]
    values = [[cells.get((n, v), 0) for v in xs] for n in shown]
    if rest:
        shown.append("others")
        values.append([sum(cells.get((n, v), 0) for n in rest) for v in xs])
    return xs, shown, values


def _nav(current: str) -> dict:
    """What the links to every dashboard need: (name, title) of each, and the one shown."""
    return {"dashboards": [(n, n.title()) for n in DASHBOARDS], "current": current}


def nav_html(current: str) -> str:
    """Links to every dashboard (sibling notebooks under Voila's render/)."""
    return render("dashboard_nav.html", **_nav(current))


def hint_html(text: str) -> str:
    """A hint in small print (below the filters)."""
    return render("dashboard_hint.html", text=text)


def csv_link(name: str, rows: q.Rows) -> str:
    """A link that saves ``rows`` as NAME.csv (the file is in the link itself)."""
    return render(
        "dashboard_csv_link.html",
        name=name,
        data=base64.b64encode(rows.to_csv().encode()).decode(),
        rows=counted(len(rows.rows), "row", "rows"),
    )


class Dashboard(Shown):
    """The frame every dashboard shares; subclasses give :meth:`build`, :meth:`compute`
    and :meth:`show`, and name the table :attr:`export` saves."""

    name = ""  # the notebook's name: NAME.ipynb
    title = ""
    export = ""  # the key of compute()'s table that "Export CSV" saves
    uses_projects = True  # False: the project filter does not apply (it is disabled)
    uses_partitions = True
    _updating = False

    def __init__(self, path: str | None = None, *, today: date | None = None):
        import ipywidgets as w

        self.path = path or store_path()
        self.tables: dict[str, q.Rows] = {}
        self.elapsed_ms = 0.0
        end = today
        options = {"projects": [], "partitions": []}
        try:
            with open_store(self.path) as store:
                options = q.choices(store)
                newest = self.newest(store)
                end = end or (newest.date() if newest else None)
        except StoreError as err:
            self._problem = str(err)
        else:
            self._problem = ""
        end = end or date.today()
        self.since = w.DatePicker(description="From", value=end - timedelta(days=DEFAULT_DAYS))
        self.until = w.DatePicker(description="To", value=end)
        self.projects = w.SelectMultiple(
            options=options["projects"],
            rows=4,
            description="Projects",
            disabled=not self.uses_projects,
        )
        self.partitions = w.SelectMultiple(
            options=options["partitions"],
            rows=4,
            description="Partitions",
            disabled=not self.uses_partitions,
        )
        hint = w.HTML(hint_html("No selection: all. Ctrl-click selects several."))
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.export_button = w.Button(description="Export CSV", icon="download")
        self.download = w.HTML()
        self.status = w.HTML()
        for control in (self.since, self.until, self.projects, self.partitions):
            control.observe(self.refresh, names="value")
        self.refresh_button.on_click(self.refresh)
        self.export_button.on_click(self.export_csv)
        filters = w.HBox(
            [
                w.VBox([self.since, self.until, hint]),
                self.projects,
                self.partitions,
                w.VBox([self.refresh_button]),
            ]
        )
        self.widget = w.VBox(
            [
                w.HTML(render("dashboard_title.html", title=self.title, **_nav(self.name))),
                filters,
                self.status,
                self.build(),
                w.HBox([self.export_button, self.download]),
            ]
        )
        self.widget.add_class("aiwb-dashboard")
        self.refresh()

    def __repr__(self) -> str:
        return f"<{self.title} dashboard: {self.status_text}>"

    # --- the frame ------------------------------------------------------------------
    def filters(self) -> q.Filters:
        since, until = self.since.value, self.until.value
        return q.Filters(
            since=datetime.combine(since, datetime.min.time()) if since else None,
            until=datetime.combine(until + timedelta(days=1), datetime.min.time())
            if until
            else None,
            projects=tuple(self.projects.value),
            partitions=tuple(self.partitions.value),
        )

    def refresh(self, *_args) -> None:
        if self._updating:
            return
        filters = self.filters()
        if filters.since and filters.until and filters.since >= filters.until:
            self.say("The start date is after the end date: nothing to show.", "error")
            return
        started = time.perf_counter()
        try:
            with open_store(self.path) as store:
                self.tables = self.compute(store, filters)
                fresh = q.freshness(store)
        except StoreError as err:
            self.say(f"No data: {err}", "error")
            return
        self.show(self.tables)
        self.download.value = ""
        self.elapsed_ms = (time.perf_counter() - started) * 1000
        errors = [f"{r['source']}: {r['error']}" for r in fresh.dicts() if r["error"]]
        read = max((r["read_at"] for r in fresh.dicts() if r["read_at"]), default=None)
        text = (
            f"Accounting as of {read.replace('T', ' ')}"
            if read
            else "Not ingested from Slurm yet (generated or imported data)"
        )
        text += f"; computed in {self.elapsed_ms:.0f} ms."
        if errors:
            self.say(text + " Last ingestion problems: " + "; ".join(errors), "warning")
        else:
            self.say(text, "info")

    def say(self, text: str, kind: str) -> None:
        """Show ``text`` on the status line; ``kind``: info, warning or error."""
        self.status_text = text
        self.status.value = status_line(
            text, STATUS_COLOURS[kind], mark=kind != "info", bold=kind != "info"
        )

    def export_csv(self, *_args) -> None:
        rows = self.tables.get(self.export)
        if rows is not None:
            self.download.value = csv_link(self.export, rows)

    def dates(self) -> tuple[date | None, date | None]:
        """The first and last day the date filter selects (None where it is cleared)."""
        return self.since.value, self.until.value

    # --- per dashboard ----------------------------------------------------------------
    def newest(self, store) -> datetime | None:
        """Where the default date range ends: the newest job end."""
        return q.latest(store)

    def build(self):
        raise NotImplementedError

    def compute(self, store, filters: q.Filters) -> dict[str, q.Rows]:
        raise NotImplementedError

    def show(self, tables: dict[str, q.Rows]) -> None:
        raise NotImplementedError


# --- usage ------------------------------------------------------------------------------
UNITS = {"gpu_hours": "GPU-hours", "core_hours": "core-hours"}  # the hours' names, once
USAGE_EMPTY = {
    "gpu_hours": "No GPU usage in this range yet: jobs appear here once they end.",
    "core_hours": "No CPU usage in this range yet: jobs appear here once they end.",
}


def period_axis(
    days: list[date], since: date | None, until: date | None, by: str
) -> tuple[list[str], dict[str, str]]:
    """The usage chart's x values (ISO days) and their tick labels: every period of the
    filters' date range (one week is one bar among the range's weeks), and any other
    period the rows hold."""
    periods = set(days)
    if since and until and since <= until:
        periods |= set(charts.period_starts(since, until, by))
    ordered = sorted(periods)
    with_year = bool(ordered) and ordered[0].year != ordered[-1].year
    return (
        [d.isoformat() for d in ordered],
        {d.isoformat(): charts.period_label(d, by, with_year) for d in ordered},
    )


class Usage(Dashboard):
    """GPU-hours and core-hours per project and user over time."""

    name = "usage"
    title = "Usage: GPU-hours and core-hours"
    export = "usage"

    def build(self):
        import ipywidgets as w

        self.kind = w.ToggleButtons(options=[(_capital(v), k) for k, v in UNITS.items()])
        self.by = w.ToggleButtons(options=["day", "week", "month"], value="week")
        self.kind.observe(self.refresh, names="value")
        self.by.observe(self.refresh, names="value")
        self.chart = BarChart("Per project", UNITS["gpu_hours"])
        self.figure, self.bars = self.chart.figure, self.chart.bars
        self.projects_table, self.users_table = w.HTML(), w.HTML()
        return w.VBox(
            [
                w.HBox([self.kind, self.by]),
                self.chart.widget,
                w.HBox([self.projects_table, self.users_table], layout=SIDE_BY_SIDE),
            ]
        )

    def compute(self, store, filters):
        usage = q.usage(store, filters, self.by.value)
        return {"usage": usage, "projects": q.project_totals(store, filters)}

    def show(self, tables):
        usage, kind, by = tables["usage"], self.kind.value, self.by.value
        days = [_day(r[0]) for r in usage.rows]
        xs, labels = period_axis(days, *self.dates(), by)
        periods = q.Rows(usage.columns, [(d.isoformat(), *r[1:]) for d, r in zip(days, usage.rows)])
        self.chart.y_axis.label = UNITS[kind]
        self.chart.show(
            *pivot(periods, "period", "project", kind, domain=xs),
            empty=USAGE_EMPTY[kind],
            labels=labels,
            shown=charts.MAX_DATE_LABELS,
        )
        self.figure.title = f"{_capital(UNITS[kind])} per project and {by}"
        users: dict[tuple, float] = {}
        for r in usage.dicts():
            key = (r["project"], r["user"])
            users[key] = users.get(key, 0) + r[kind]
        top = sorted(users.items(), key=lambda item: -item[1])
        self.projects_table.value = table_html(
            tables["projects"], title="Per project", nothing="No job ended in this range."
        )
        self.users_table.value = table_html(
            q.Rows(("project", "user", kind), [(*k, round(v, 3)) for k, v in top]),
            title="Top users",
            nothing="No job ended in this range.",
        )


def _day(value) -> date:
    """A period's start as a date (DuckDB's date_trunc gives a timestamp)."""
    return value.date() if isinstance(value, datetime) else value


# --- budgets ----------------------------------------------------------------------------
STATE_WORDS = {
    "none": "no {kind} allocation",
    "unlimited": "no {kind} limit in Slurm",
    "ok": "within budget",
    "warning": f"{WARN_AT:.0%} or more used",
    "critical": f"{CRITICAL_AT:.0%} or more used",
    "exhausted": "exhausted",
}
BUDGET_UNITS = {"gpu": UNITS["gpu_hours"], "cpu": UNITS["core_hours"]}


def state_words(state: str, kind: str) -> str:
    """A budget's state (:func:`.queries.budget_state`) in words: "no GPU allocation",
    "exhausted", ..."""
    return STATE_WORDS[state].format(kind=kind.upper())


def budget_title(project: str, state: str, kind: str, end: date | None) -> str:
    """The burn-down's title: what the budget's state and the projection say."""
    if state in q.NO_BUDGET:
        return f"{project}: {state_words(state, kind)}; {BUDGET_UNITS[kind]} used"
    if state == "exhausted":
        return f"Burn-down of {project}: exhausted"
    if end is None:
        return (
            f"Burn-down of {project}: no exhaustion in sight at the last {q.RATE_DAYS} days' rate"
        )
    return (
        f"Burn-down of {project}: runs out by {end:%d %b %Y} at the last {q.RATE_DAYS} days' rate"
    )


class Budgets(Dashboard):
    """Each project's budget: used, left, burn rate and projected exhaustion date; a
    project without an allocation of the kind shown is said so, never "exhausted"."""

    name = "budgets"
    title = "Budgets: burn-down and projected exhaustion"
    export = "budgets"
    uses_partitions = False

    def build(self):
        import ipywidgets as w

        self.kind = w.ToggleButtons(options=[("GPU", "gpu"), ("CPU", "cpu")])
        self.kind.observe(self.refresh, names="value")
        self.project = w.Dropdown(
            description="Burn-down of",
            options=[],
            style={"description_width": "initial"},
            layout={"width": "480px"},
        )
        self.project.observe(self.refresh, names="value")
        self.chart = BarChart("Budget used", "% of budget", stacked=False)
        self.figure, self.bars = self.chart.figure, self.chart.bars
        self.without = w.HTML()  # the projects without a budget of this kind
        self.burn = LineChart(
            "Burn-down",
            BUDGET_UNITS["gpu"],
            [
                ("used", PALETTE[0], "solid"),
                ("limit", "#d62728", "dashed"),
                ("projected", "#ff7f0e", "dotted"),
            ],
        )
        self.table = w.HTML()
        return w.VBox(
            [self.kind, self.chart.widget, self.without, self.project, self.burn.widget, self.table]
        )

    def compute(self, store, filters):
        kind = self.kind.value
        status = q.budget_status(store, filters, kind)
        options = [
            (
                r["project"]
                if r["state"] in ("ok", "warning", "critical")
                else f"{r['project']} ({state_words(r['state'], kind)})",
                r["project"],
            )
            for r in status.dicts()
        ]
        if list(self.project.options) != options:
            current = self.project.value
            names = status.column("project")
            budgeted = [r for r in status.dicts() if r["state"] not in q.NO_BUDGET]
            self._updating = True  # no refresh for the choices we set here
            try:
                self.project.options = options
                self.project.value = (
                    current
                    if current in names
                    else (
                        max(budgeted, key=lambda r: r["used_percent"])["project"]
                        if budgeted
                        else names[0]
                        if names
                        else None
                    )
                )
            finally:
                self._updating = False
        tables = {"budgets": status}
        if self.project.value:
            tables["burn_down"] = q.burn_down(store, filters, self.project.value, kind)
        return tables

    def show(self, tables):
        status, kind = tables["budgets"], self.kind.value
        self.show_used(status, kind)
        words = q.Rows(
            status.columns, [(r[0], state_words(r[1], kind), *r[2:]) for r in status.rows]
        )
        self.table.value = table_html(
            words,
            limit=50,
            title="Budgets (as Slurm reports them now)",
            nothing="No budgets: Slurm reports no project.",
        )
        mine = next((r for r in status.dicts() if r["project"] == self.project.value), None)
        self.show_burn(tables.get("burn_down"), mine, kind)

    def show_used(self, status: q.Rows, kind: str) -> None:
        """The used-% chart of the projects with a budget of ``kind``, and a line naming
        those without one."""
        rows = status.dicts()
        budgeted = [r for r in rows if r["state"] not in q.NO_BUDGET]
        word = kind.upper()
        empty = (
            "No budgets: Slurm reports no project."
            if not rows
            else f"No project has a {word} allocation."
            if not budgeted
            else f"No project has used any of its {word} allocation yet."
        )
        self.chart.show(
            [r["project"] for r in budgeted],
            [f"{word} budget used (%)"],
            [[r["used_percent"] for r in budgeted]],
            empty=empty,
        )
        self.figure.title = f"{word} budget used (% of each project's allocation)"
        notes = [
            f"{_capital(state_words(state, kind))}: "
            + ", ".join(r["project"] for r in rows if r["state"] == state)
            + "."
            for state in q.NO_BUDGET
            if any(r["state"] == state for r in rows)
        ]
        self.without.value = (
            status_line(" ".join(notes), "#333", mark=False, bold=False) if notes else ""
        )

    def show_burn(self, burn: q.Rows | None, mine: dict | None, kind: str) -> None:
        """The chosen project's burn-down: used per day, its limit and the projection."""
        unit = BUDGET_UNITS[kind]
        self.burn.y_axis.label = unit
        since, until = self.dates()
        if burn is None or mine is None:
            self.burn.show(
                {},
                since,
                until,
                title="Burn-down",
                empty="No project to show: Slurm reports no budget.",
            )
            return
        project, state = mine["project"], mine["state"]
        days, used = burn.column("day"), burn.column(burn.columns[1])
        limit, end = mine[f"limit_{kind}_hours"], mine["exhausted_on"]
        since, until = since or (days[0] if days else None), until or (days[-1] if days else None)
        if days and until > days[-1]:  # nothing more was used until the range's end
            days, used = [*days, until], [*used, used[-1]]
        points = {"used": (days, used)}
        if days and state not in q.NO_BUDGET:
            projected = end is not None and state != "exhausted"
            points["limit"] = ([since, max(until, end) if projected else until], [limit, limit])
            if projected:
                points["projected"] = ([days[-1], end], [used[-1], limit])
        without = f" {project} has {state_words(state, kind)}." if state in q.NO_BUDGET else ""
        self.burn.show(
            points,
            since,
            until,
            title=budget_title(project, state, kind, end),
            empty=f"{project} used no {unit} in this range.{without}",
        )


def _capital(text: str) -> str:
    """``text`` with its first letter capital (and "GPU" left as it is)."""
    return text[:1].upper() + text[1:]


# --- queue ------------------------------------------------------------------------------
def wait_unit(longest_s: float) -> tuple[str, int]:
    """(unit, seconds in it) of the waits chart: minutes while the longest wait is under
    two hours, hours beyond."""
    return ("minutes", 60) if longest_s < 2 * 3600 else ("hours", 3600)


def queue_empty(jobs: int) -> str:
    """The waits chart's words when it has no bar: no job, or no job that waited."""
    if not jobs:
        return "No job was submitted in this range."
    return (
        f"{counted(jobs, 'job', 'jobs')} submitted in this range, none waited: each "
        f"started as soon as it was submitted."
    )


class Queue(Dashboard):
    """Wait times per partition (p50, p95) and why jobs pend. A job cancelled while
    pending waited too: until it was cancelled (:data:`.queries.WAIT_S`)."""

    name = "queue"
    title = "Queue: waits and pending reasons"
    export = "waits"

    def build(self):
        import ipywidgets as w

        self.chart = BarChart("Wait in the queue", "minutes", stacked=False)
        self.figure, self.bars = self.chart.figure, self.chart.bars
        self.waits, self.reasons, self.now = w.HTML(), w.HTML(), w.HTML()
        return w.VBox(
            [self.chart.widget, self.waits, w.HBox([self.reasons, self.now], layout=SIDE_BY_SIDE)]
        )

    def compute(self, store, filters):
        return {
            "waits": q.queue_waits(store, filters),
            "reasons": q.pending_reasons(store, filters),
            "pending_now": q.pending_now(
                store, q.Filters(projects=filters.projects, partitions=filters.partitions)
            ),
        }

    def show(self, tables):
        waits = tables["waits"]
        unit, seconds = wait_unit(max(waits.column("p95_s"), default=0))
        self.chart.y_axis.label = unit
        self.chart.show(
            waits.column("partition"),
            ["median (p50)", "95th percentile (p95)"],
            [
                [v / seconds for v in waits.column("p50_s")],
                [v / seconds for v in waits.column("p95_s")],
            ],
            empty=queue_empty(sum(waits.column("jobs"))),
        )
        self.figure.title = (
            "Wait from submit to start (jobs cancelled while pending: "
            "to their cancel), per partition"
        )
        self.waits.value = table_html(
            q.Rows(
                ("partition", f"p50_{unit}", f"p95_{unit}", "jobs", "cancelled_while_pending"),
                [
                    (
                        r["partition"],
                        r["p50_s"] / seconds,
                        r["p95_s"] / seconds,
                        r["jobs"],
                        r["cancelled_while_pending"],
                    )
                    for r in waits.dicts()
                ],
            ),
            title="Waits per partition (jobs submitted in this range)",
            nothing="No job was submitted in this range.",
        )
        self.reasons.value = table_html(
            tables["reasons"],
            title="Top pending reasons (jobs that waited)",
            nothing="No job waited for a reason Slurm gave in this range.",
        )
        self.now.value = table_html(
            tables["pending_now"], title="Pending now", nothing="No job is pending now."
        )


# --- sessions ---------------------------------------------------------------------------
class Sessions(Dashboard):
    """Notebook sessions now, idle GPU sessions, GPU-hours wasted by idle GPUs."""

    name = "sessions"
    title = "Sessions: active, idle GPUs, wasted GPU-hours"
    export = "wasted"

    def build(self):
        import ipywidgets as w

        self.summary = w.HTML()
        self.chart = BarChart("GPU-hours of notebook sessions per project", "GPU-hours")
        self.figure, self.bars = self.chart.figure, self.chart.bars
        self.active, self.per_user = w.HTML(), w.HTML()
        return w.VBox([self.summary, self.chart.widget, self.active, self.per_user])

    def compute(self, store, filters):
        return {
            "sessions": q.sessions_now(store, filters),
            "summary": q.session_summary(store, filters),
            "wasted": q.wasted_gpu_hours(store, filters),
        }

    def show(self, tables):
        now, summary = tables["sessions"], tables["summary"]
        idle = [r for r in now.dicts() if r["gpu_idle_since"] is not None]
        wasted = sum(summary.column("wasted_gpu_hours"))
        self.summary.value = render(
            "dashboard_sessions.html",
            sessions=counted(len(now.rows), "session", "sessions"),
            idle=counted(len(idle), "with idle GPUs", "with idle GPUs"),
            wasted=number_text(float(wasted)),
        )
        top = summary.dicts()[: TOP * 2]
        self.chart.show(
            [r["project"] for r in top],
            ["used", "wasted (idle GPUs)"],
            [
                [max((r["gpu_hours"] or 0) - (r["wasted_gpu_hours"] or 0), 0) for r in top],
                [r["wasted_gpu_hours"] or 0 for r in top],
            ],
            empty="No GPU-hours in notebook sessions in this range: sessions "
            "appear here once they end.",
        )
        self.active.value = table_html(
            now,
            limit=50,
            title="Running now (idle GPUs first)",
            nothing="No notebook session runs now.",
        )
        self.per_user.value = table_html(
            tables["wasted"],
            title="Wasted by project and user",
            nothing="No GPU was idle in a session in this range.",
        )


# --- training ---------------------------------------------------------------------------
def training_label(klass: str, course: str | None) -> str:
    """A bar's label: "class / course", or the class alone when nobody tried a course."""
    return f"{klass} / {course}" if course else f"{klass} (no exercise tried)"


class Training(Dashboard):
    """Course progress per class (the date range applies to the last attempt; projects
    and partitions do not apply)."""

    name = "training"
    title = "Training: course progress per class"
    export = "training"
    uses_projects = False
    uses_partitions = False

    def build(self):
        import ipywidgets as w

        self.chart = BarChart(
            "Learners per class and course", "learners", stacked=False, whole=True
        )
        self.figure, self.bars = self.chart.figure, self.chart.bars
        self.table = w.HTML()
        return w.VBox([self.chart.widget, self.table])

    def newest(self, store):
        """Where the default date range ends: the newest attempt (else the newest job)."""
        return q.latest_attempt(store) or q.latest(store)

    def compute(self, store, filters):
        return {"training": q.training(store, filters)}

    def show(self, tables):
        rows = tables["training"]
        empty = (
            "No classes yet: a class and its learners' progress appear here once a "
            "trainer has created it."
            if not rows.rows
            else "No learners in these classes yet."
        )
        self.chart.show(
            [training_label(r[0], r[1]) for r in rows.rows],
            ["learners", "started", "stuck"],
            [rows.column("learners"), rows.column("started"), rows.column("stuck")],
            empty=empty,
        )
        self.table.value = table_html(
            rows, limit=50, title="Progress per class and course", nothing="No class yet."
        )


DASHBOARDS = {
    "usage": Usage,
    "budgets": Budgets,
    "queue": Queue,
    "sessions": Sessions,
    "training": Training,
}
