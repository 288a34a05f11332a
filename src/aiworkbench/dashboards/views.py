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

from aiworkbench.widgets.templating import render
from aiworkbench.widgets.base import Shown, counted, status_line
from aiworkbench.dashboards import queries as q
from aiworkbench.dashboards.store import StoreError, open_store

STORE_ENV = "AIWORKBENCH_DASHBOARDS_STORE"  # set by the dashboards service
DEFAULT_STORE = "/var/lib/aiworkbench/dashboards/accounting.duckdb"
DEFAULT_DAYS = 90  # the date range shown first: the last 90 days of accounting
TOP = 8  # series in a stacked chart; the rest are summed as "others"
TABLE_ROWS = 15


def store_path() -> str:
    return os.environ.get(STORE_ENV) or DEFAULT_STORE


def _cell_text(value) -> str:
    """A table cell in words: times to the minute, numbers to one decimal, None as ""."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:,.1f}"
    return "" if value is None else str(value)


def table_html(rows: q.Rows, limit: int = TABLE_ROWS, title: str = "") -> str:
    """An HTML table of the first ``limit`` rows, every value escaped."""
    return render("dashboard_table.html", title=title,
                  columns=[c.replace("_", " ") for c in rows.columns],
                  rows=[[_cell_text(v) for v in r] for r in rows.rows[:limit]],
                  empty=not rows.rows, more=max(len(rows.rows) - limit, 0))


def pivot(rows: q.Rows, x: str, series: str, value: str, top: int = TOP):
    """(x values, series names, values[series][x]) for a stacked chart: the ``top``
    series by total, the rest summed as "others"."""
    totals: dict[str, float] = {}
    cells: dict[tuple, float] = {}
    seen: dict = {}  # x values in their first order
    for r in rows.dicts():
        seen.setdefault(r[x], None)
        totals[r[series]] = totals.get(r[series], 0) + (r[value] or 0)
        cells[(r[series], r[x])] = cells.get((r[series], r[x]), 0) + (r[value] or 0)
    xs = list(seen)
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


def csv_link(name: str, rows: q.Rows) -> str:
    """A link that saves ``rows`` as NAME.csv (the file is in the link itself)."""
    return render("dashboard_csv_link.html", name=name,
                  data=base64.b64encode(rows.to_csv().encode()).decode(),
                  rows=counted(len(rows.rows), "row", "rows"))


def _bars(title: str, y_label: str, stacked: bool = True, horizontal: bool = False):
    import bqplot as bq

    x, y = bq.OrdinalScale(), bq.LinearScale(min=0)
    bars = bq.Bars(x=[], y=[], scales={"x": x, "y": y},
                   type="stacked" if stacked else "grouped", display_legend=True,
                   orientation="horizontal" if horizontal else "vertical",
                   tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ".1f"]))
    axes = [bq.Axis(scale=x, side="left" if horizontal else "bottom",
                    tick_rotate=0 if horizontal else -30),
            bq.Axis(scale=y, side="bottom" if horizontal else "left",
                    label=y_label, tick_format=".3s")]
    figure = bq.Figure(marks=[bars], axes=axes, title=title,
                       legend_location="top-left", layout={"width": "100%", "height": "360px"},
                       fig_margin={"top": 50, "bottom": 70, "left": 80, "right": 20})
    return figure, bars


def _set_bars(bars, xs, names, values) -> None:
    with bars.hold_sync():
        bars.x = [str(v) for v in xs] or [""]
        bars.y = values if values else [[0] * max(len(xs), 1)]
        bars.labels = list(names)
        bars.colors = PALETTE[:max(len(names), 1)]


def _dates(days: list):
    """Days as bqplot's date scale takes them."""
    import numpy as np

    return np.array(days, dtype="datetime64[D]").astype("datetime64[ms]")


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


class Dashboard(Shown):
    """The frame every dashboard shares; subclasses give :meth:`build`, :meth:`compute`
    and :meth:`show`, and name the table :attr:`export` saves."""

    name = ""  # the notebook's name: NAME.ipynb
    title = ""
    export = ""  # the key of compute()'s table that "Export CSV" saves
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
                newest = q.latest(store)
                end = end or (newest.date() if newest else None)
        except StoreError as err:
            self._problem = str(err)
        else:
            self._problem = ""
        end = end or date.today()
        self.since = w.DatePicker(description="From", value=end - timedelta(days=DEFAULT_DAYS))
        self.until = w.DatePicker(description="To", value=end)
        self.projects = w.SelectMultiple(options=options["projects"], rows=4,
                                         description="Projects")
        self.partitions = w.SelectMultiple(options=options["partitions"], rows=4,
                                           description="Partitions",
                                           disabled=not self.uses_partitions)
        hint = w.HTML("<small>No selection: all. Ctrl-click selects several.</small>")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.export_button = w.Button(description="Export CSV", icon="download")
        self.download = w.HTML()
        self.status = w.HTML()
        for control in (self.since, self.until, self.projects, self.partitions):
            control.observe(self.refresh, names="value")
        self.refresh_button.on_click(self.refresh)
        self.export_button.on_click(self.export_csv)
        filters = w.HBox([w.VBox([self.since, self.until, hint]), self.projects,
                          self.partitions, w.VBox([self.refresh_button])])
        self.widget = w.VBox([w.HTML(render("dashboard_title.html", title=self.title,
                                            **_nav(self.name))),
                              filters,
                              self.status, self.build(),
                              w.HBox([self.export_button, self.download])])
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
            if until else None,
            projects=tuple(self.projects.value), partitions=tuple(self.partitions.value))

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
        text = (f"Accounting as of {read.replace('T', ' ')}" if read else
                "Not ingested from Slurm yet (generated or imported data)")
        text += f"; computed in {self.elapsed_ms:.0f} ms."
        if errors:
            self.say(text + " Last ingestion problems: " + "; ".join(errors), "warn")
        else:
            self.say(text, "info")

    def say(self, text: str, kind: str) -> None:
        self.status_text = text
        colour = {"info": "#555", "warn": "#a60", "error": "#b00"}[kind]
        self.status.value = status_line(text, colour, mark=kind != "info", bold=kind != "info")

    def export_csv(self, *_args) -> None:
        rows = self.tables.get(self.export)
        if rows is not None:
            self.download.value = csv_link(self.export, rows)

    # --- per dashboard ----------------------------------------------------------------
    def build(self):
        raise NotImplementedError

    def compute(self, store, filters: q.Filters) -> dict[str, q.Rows]:
        raise NotImplementedError

    def show(self, tables: dict[str, q.Rows]) -> None:
        raise NotImplementedError


KIND_WORDS = {"gpu_hours": "GPU-hours", "core_hours": "Core-hours"}


class Usage(Dashboard):
    """GPU-hours and core-hours per project and user over time."""

    name = "usage"
    title = "Usage: GPU-hours and core-hours"
    export = "usage"

    def build(self):
        import ipywidgets as w

        self.kind = w.ToggleButtons(options=[(v, k) for k, v in KIND_WORDS.items()])
        self.by = w.ToggleButtons(options=["day", "week", "month"], value="week")
        self.kind.observe(self.refresh, names="value")
        self.by.observe(self.refresh, names="value")
        self.figure, self.bars = _bars("Per project", "hours")
        self.projects_table, self.users_table = w.HTML(), w.HTML()
        return w.VBox([w.HBox([self.kind, self.by]), self.figure,
                       w.HBox([self.projects_table, self.users_table])])

    def compute(self, store, filters):
        usage = q.usage(store, filters, self.by.value)
        return {"usage": usage, "projects": q.project_totals(store, filters)}

    def show(self, tables):
        usage, kind = tables["usage"], self.kind.value
        periods = q.Rows(usage.columns, [(r[0].strftime("%Y-%m-%d"), *r[1:])
                                         for r in usage.rows])
        _set_bars(self.bars, *pivot(periods, "period", "project", kind))
        self.bars.scales["y"].min = 0
        self.figure.title = f"{KIND_WORDS[kind]} per project and {self.by.value}"
        users: dict[tuple, float] = {}
        for r in usage.dicts():
            key = (r["project"], r["user"])
            users[key] = users.get(key, 0) + r[kind]
        top = sorted(users.items(), key=lambda item: -item[1])
        self.projects_table.value = table_html(tables["projects"], title="Per project")
        self.users_table.value = table_html(
            q.Rows(("project", "user", kind), [(*k, round(v, 1)) for k, v in top]),
            title="Top users")


class Budgets(Dashboard):
    """Each project's budget: used, left, burn rate and projected exhaustion date."""

    name = "budgets"
    title = "Budgets: burn-down and projected exhaustion"
    export = "budgets"
    uses_partitions = False

    def build(self):
        import bqplot as bq
        import ipywidgets as w

        self.kind = w.ToggleButtons(options=[("GPU", "gpu"), ("CPU", "cpu")])
        self.kind.observe(self.refresh, names="value")
        self.project = w.Dropdown(description="Burn-down of", options=[])
        self.project.observe(self.refresh, names="value")
        self.figure, self.bars = _bars("Budget used (%)", "% used", stacked=False)
        x, y = bq.DateScale(), bq.LinearScale(min=0)
        self.used_line = bq.Lines(x=[], y=[], scales={"x": x, "y": y}, labels=["used"],
                                  display_legend=True, colors=["#1f77b4"])
        self.limit_line = bq.Lines(x=[], y=[], scales={"x": x, "y": y}, labels=["limit"],
                                   display_legend=True, colors=["#d62728"],
                                   line_style="dashed")
        self.projection = bq.Lines(x=[], y=[], scales={"x": x, "y": y},
                                   labels=["projected"], display_legend=True,
                                   colors=["#ff7f0e"], line_style="dotted")
        self.burn = bq.Figure(marks=[self.used_line, self.limit_line, self.projection],
                              axes=[bq.Axis(scale=x, label="day", side="bottom"),
                                    bq.Axis(scale=y, side="left", label="hours",
                                            tick_format=".3s")],
                              title="Burn-down", legend_location="top-left",
                              layout={"width": "100%", "height": "360px"})
        self.table = w.HTML()
        return w.VBox([self.kind, self.figure, self.project, self.burn, self.table])

    def compute(self, store, filters):
        status = q.budget_status(store, filters, self.kind.value)
        names = status.column("project")
        if list(self.project.options) != names:
            current = self.project.value
            self._updating = True  # no refresh for the choices we set here
            try:
                self.project.options = names
                self.project.value = current if current in names else (
                    max(status.rows, key=lambda r: r[4] or 0)[0] if status.rows else None)
            finally:
                self._updating = False
        tables = {"budgets": status}
        if self.project.value:
            tables["burn_down"] = q.burn_down(store, filters, self.project.value,
                                              self.kind.value)
        return tables

    def show(self, tables):
        status = tables["budgets"]
        _set_bars(self.bars, status.column("project"), ["used %"],
                  [[v or 0 for v in status.column("used_percent")]])
        self.table.value = table_html(status, limit=50, title="Budgets (as Slurm reports "
                                                               "them now)")
        burn = tables.get("burn_down")
        mine = next((r for r in status.dicts() if r["project"] == self.project.value), None)
        if burn is None or mine is None:
            return
        days = burn.column("day")
        used = burn.column(burn.columns[1])
        limit = mine[status.columns[1]]
        end = mine["exhausted_on"]
        with self.burn.hold_sync():
            self.used_line.x, self.used_line.y = _dates(days), used
            self.limit_line.x = _dates(days[:1] + days[-1:] if limit is not None else [])
            self.limit_line.y = [limit, limit] if days and limit is not None else []
            if days and end is not None and limit is not None:
                self.projection.x, self.projection.y = _dates([days[-1], end]), [used[-1], limit]
            else:
                self.projection.x, self.projection.y = _dates([]), []
            self.burn.title = (f"Burn-down of {self.project.value}: "
                               + (f"exhausted by {end:%Y-%m-%d} at the last "
                                  f"{q.RATE_DAYS} days' rate" if end else
                                  "no exhaustion in sight"))


class Queue(Dashboard):
    """Wait times per partition (p50, p95) and why jobs pend."""

    name = "queue"
    title = "Queue: waits and pending reasons"
    export = "waits"

    def build(self):
        import ipywidgets as w

        self.figure, self.bars = _bars("Wait from submit to start", "minutes", stacked=False)
        self.reasons, self.now = w.HTML(), w.HTML()
        return w.VBox([self.figure, w.HBox([self.reasons, self.now])])

    def compute(self, store, filters):
        return {"waits": q.queue_waits(store, filters),
                "reasons": q.pending_reasons(store, filters),
                "pending_now": q.pending_now(store, q.Filters(projects=filters.projects,
                                                              partitions=filters.partitions))}

    def show(self, tables):
        waits = tables["waits"]
        _set_bars(self.bars, waits.column("partition"), ["p50", "p95"],
                  [[v / 60 for v in waits.column("p50_s")],
                   [v / 60 for v in waits.column("p95_s")]])
        self.reasons.value = table_html(tables["reasons"], title="Top pending reasons "
                                                                 "(jobs that waited)")
        self.now.value = table_html(tables["pending_now"], title="Pending now")


class Sessions(Dashboard):
    """Notebook sessions now, idle GPU sessions, GPU-hours wasted by idle GPUs."""

    name = "sessions"
    title = "Sessions: active, idle GPUs, wasted GPU-hours"
    export = "wasted"

    def build(self):
        import ipywidgets as w

        self.summary = w.HTML()
        self.figure, self.bars = _bars("GPU-hours of notebook sessions", "GPU-hours",
                                       stacked=True)
        self.active, self.per_user = w.HTML(), w.HTML()
        return w.VBox([self.summary, self.figure, self.active, self.per_user])

    def compute(self, store, filters):
        return {"sessions": q.sessions_now(store, filters),
                "summary": q.session_summary(store, filters),
                "wasted": q.wasted_gpu_hours(store, filters)}

    def show(self, tables):
        now, summary = tables["sessions"], tables["summary"]
        idle = [r for r in now.dicts() if r["gpu_idle_since"] is not None]
        wasted = sum(summary.column("wasted_gpu_hours"))
        self.summary.value = render(
            "dashboard_sessions.html", sessions=counted(len(now.rows), "session", "sessions"),
            idle=counted(len(idle), "with idle GPUs", "with idle GPUs"),
            wasted=f"{wasted:,.1f}")
        top = summary.rows[:TOP * 2]
        used = [max((r[2] or 0) - (r[3] or 0), 0) for r in top]
        _set_bars(self.bars, [r[0] for r in top], ["used", "wasted (idle)"],
                  [used, [r[3] or 0 for r in top]])
        self.active.value = table_html(now, limit=50, title="Running now (idle GPUs first)")
        self.per_user.value = table_html(tables["wasted"], title="Wasted by project and user")


class Training(Dashboard):
    """Course progress per class (the date range applies to the last attempt)."""

    name = "training"
    title = "Training: course progress per class"
    export = "training"
    uses_partitions = False

    def build(self):
        import ipywidgets as w

        self.figure, self.bars = _bars("Learners per class and course", "learners",
                                       stacked=False)
        self.table = w.HTML()
        return w.VBox([self.figure, self.table])

    def compute(self, store, filters):
        return {"training": q.training(store, filters)}

    def show(self, tables):
        rows = tables["training"]
        labels = [f"{r[0]} / {r[1]}" for r in rows.rows]
        _set_bars(self.bars, labels, ["learners", "started", "stuck"],
                  [rows.column("learners"), rows.column("started"), rows.column("stuck")])
        self.table.value = table_html(rows, limit=50, title="Progress per class and course")


DASHBOARDS = {"usage": Usage, "budgets": Budgets, "queue": Queue, "sessions": Sessions,
              "training": Training}
