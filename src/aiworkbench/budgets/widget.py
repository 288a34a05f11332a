"""Your projects' GPU and CPU budgets in the notebook: ``aiworkbench.budget()``.

The numbers come from the workbench API (``GET {AIWORKBENCH_API_URL}/budgets``),
never from Slurm directly. Three layers, each testable on its own:

* :func:`fetch_budgets` asks the API (urllib, one request, a timeout);
* :func:`build_view` turns its JSON into a :class:`BudgetView` (hours, percent,
  warnings, this session's burn rate and walltime); :func:`format_table` and the
  widget both draw from it, so the CLI and the notebook show the same numbers;
* :class:`BudgetWidget` shows a :class:`BudgetMonitor` (the last good numbers, and
  since when fetching fails) and refreshes it from a daemon thread until closed.

Minutes are Slurm's TRES-minutes: one GPU held for an hour is 60 GPU-minutes.
"""

from __future__ import annotations

import math
import os
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from aiworkbench.core import names
from aiworkbench.widgets.api_client import WorkbenchAPIError, WorkbenchAPIUnreachable, api_get
from aiworkbench.widgets.base import STATUS_COLOURS, Shown, clock_time, counted, status_line
from aiworkbench.widgets.templating import render

KINDS = ("gpu", "cpu")
UNIT = {"gpu": "GPU-h", "cpu": "core-h"}
NAME = {"gpu": "GPU", "cpu": "CPU"}
COUNTED = {"gpu": ("GPU", "GPUs"), "cpu": ("core", "cores")}
# A budget's level in colour: the shared status colours, and a darker red for a budget
# used up (the budget widget's alone).
COLOUR = {
    "none": STATUS_COLOURS["none"],
    "unlimited": STATUS_COLOURS["info"],
    "ok": STATUS_COLOURS["ok"],
    "warning": STATUS_COLOURS["warning"],
    "critical": STATUS_COLOURS["error"],
    "exhausted": "#6a1b1b",
}
# The status line's colour for each state of BudgetMonitor.status.
STATE_COLOUR = {
    "loading": STATUS_COLOURS["info"],
    "fresh": STATUS_COLOURS["info"],
    "stale": STATUS_COLOURS["warning"],
    "unreachable": STATUS_COLOURS["error"],
    "error": STATUS_COLOURS["error"],
}
DEFAULT_REFRESH = 60  # seconds between fetches
MIN_REFRESH = 5
TICK = 10  # seconds between redraws (walltime and "ago" count down between fetches)


BudgetError = WorkbenchAPIError  # the budgets could not be read; the message says why
BudgetUnreachable = WorkbenchAPIUnreachable  # no answer, or 5xx: worth retrying


def check_refresh(refresh) -> float:
    """``refresh`` as seconds; ValueError unless it is a number >= 5."""
    if (
        isinstance(refresh, bool)
        or not isinstance(refresh, (int, float))
        or not math.isfinite(refresh)
        or refresh < MIN_REFRESH
    ):
        raise ValueError(
            f"refresh must be a number of seconds, at least {MIN_REFRESH} (got {refresh!r})"
        )
    return float(refresh)


# --- the client -------------------------------------------------------------------------


def fetch_budgets(
    *,
    all_projects: bool = False,
    project: str | None = None,
    environ: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> dict:
    """The API's ``/budgets`` JSON (``/budgets/PROJECT``: one project; ``?all=true``: every
    project, for managers and admins). Raises :class:`BudgetError` (not configured, or
    refused: 4xx with the API's message) or :class:`BudgetUnreachable` (no answer, 5xx)."""
    path, params = "budgets", None
    if project is not None:
        if all_projects:
            raise ValueError("give either all_projects or project, not both")
        path += "/" + urllib.parse.quote(names.PROJECT.check(project), safe="")
    elif all_projects:
        params = {"all": "true"}
    payload = api_get(path, params, environ=environ, timeout=timeout)
    if not isinstance(payload.get("projects"), list):
        raise BudgetError(
            f"the API's {path} did not answer with budgets (is AIWORKBENCH_API_URL right?)"
        )
    return payload


# --- the model --------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """One budget (GPU or CPU) of one project, in TRES-minutes."""

    project: str
    kind: str  # "gpu" or "cpu"
    level: str  # none | unlimited | ok | warning | critical | exhausted
    limit: float | None  # None: no limit; 0: the project has no such budget
    used: float
    left: float | None
    available: float | None  # left minus what running jobs hold
    in_use: int  # GPUs or cores the project's running jobs hold now
    yours: float  # minutes the calling user used
    session: int  # GPUs or cores this session's job holds (0: not charged here)

    @property
    def percent(self) -> float | None:
        return 100 * self.used / self.limit if self.limit else None

    @property
    def warning(self) -> str:
        """The level in words with the numbers, e.g. 'warning: 82% of the GPU budget used'."""
        name = NAME[self.kind]
        if self.level == "none":
            return f"no {name} budget"
        if self.level == "unlimited" or self.percent is None:
            return f"no {name} limit"
        if self.level == "exhausted":
            return f"exhausted: {name} budget used up ({int(self.percent)}%)"
        text = f"{int(self.percent)}% of the {name} budget used"
        return text if self.level == "ok" else f"{self.level}: {text}"

    def lasts(self, count: int) -> float | None:
        """Seconds until what is left runs out at ``count`` GPUs/cores; None: never."""
        if not count or self.left is None or self.level == "none":
            return None
        return max(self.left, 0) * 60 / count


@dataclass(frozen=True)
class Session:
    """This notebook session's job, as of the read."""

    job_id: str
    project: str
    gpus: int
    cpus: int
    elapsed_s: float
    time_left_s: float | None  # None: no time limit


@dataclass(frozen=True)
class BudgetView:
    """One API answer, ready to show."""

    user: str
    read_at: float  # epoch seconds when the hub read the numbers from Slurm
    budgets: tuple[Budget, ...]
    job_id: str | None  # this session's job (SLURM_JOB_ID)
    session: Session | None  # None: the job is not among the answer's running jobs
    stale: bool  # the hub's last Slurm read failed; these are its last good numbers
    error: str  # why it failed

    @property
    def projects(self) -> list[str]:
        return list(dict.fromkeys(b.project for b in self.budgets))

    def walltime_left(self, now: float) -> float | None:
        if self.session is None or self.session.time_left_s is None:
            return None
        return max(self.session.time_left_s - (now - self.read_at), 0.0)


def _number(value) -> float | None:
    return None if value is None else float(value)


def build_view(
    payload: dict, job_id: str | None = None, fetched_at: float | None = None
) -> BudgetView:
    """The view of an API answer received at ``fetched_at`` (default: now) for the session
    running as Slurm job ``job_id``."""
    fetched_at = time.time() if fetched_at is None else fetched_at
    user = str(payload.get("user", ""))
    session = None
    for project in payload["projects"]:
        for job in project.get("jobs", ()):
            if job_id and str(job.get("job_id")) == str(job_id):
                session = Session(
                    str(job_id),
                    project["project"],
                    int(job.get("gpus", 0)),
                    int(job.get("cpus", 0)),
                    float(job.get("elapsed_s", 0)),
                    _number(job.get("time_left_s")),
                )
    budgets = []
    for project in payload["projects"]:
        yours = project.get("users", {}).get(user, {})
        for kind in KINDS:
            b = project.get(kind)
            if b is None:
                continue
            mine = session is not None and session.project == project["project"]
            budgets.append(
                Budget(
                    project=project["project"],
                    kind=kind,
                    level=b["level"],
                    limit=_number(b["limit_minutes"]),
                    used=float(b["used_minutes"]),
                    left=_number(b.get("left_minutes")),
                    available=_number(b.get("available_minutes")),
                    in_use=int(b.get("in_use", 0)),
                    yours=float(yours.get(f"{kind}_minutes", 0)),
                    session=(session.gpus if kind == "gpu" else session.cpus) if mine else 0,
                )
            )
    return BudgetView(
        user=user,
        read_at=fetched_at - float(payload.get("age_s") or 0),
        budgets=tuple(budgets),
        job_id=str(job_id) if job_id else None,
        session=session,
        stale=bool(payload.get("stale")),
        error=str(payload.get("error") or ""),
    )


def hours(minutes: float | None) -> str:
    return "—" if minutes is None else f"{minutes / 60:.1f}"


def duration(seconds: float | None) -> str:
    """'2 h 30 min', '3 d 4 h', '45 min', 'under 1 min'; '—' for None."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return "under 1 min"
    minutes = int(seconds // 60)
    days, hours_, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours_} h"
    return f"{hours_} h {mins} min" if hours_ else f"{mins} min"


def _count(kind: str, n: int) -> str:
    return counted(n, *COUNTED[kind])


def burn_text(b: Budget, walltime_left: float | None) -> str:
    """This session's burn of one budget and how long what is left lasts at that rate."""
    name = NAME[b.kind]
    if b.level == "none":
        return f"{name}: no {name} budget"
    if not b.session:
        return f"{name}: this session uses none"
    text = f"{name}: this session burns {b.session} {UNIT[b.kind]}/h"
    if b.left is None:
        return text + " (no limit)"
    lasts = b.lasts(b.session)
    text += f"; what is left lasts {duration(lasts)} at this rate"
    if walltime_left is not None and lasts < walltime_left:
        text += ", before this session ends"
    if b.in_use > b.session:
        text += (
            f", {duration(b.lasts(b.in_use))} at the project's rate "
            f"({_count(b.kind, b.in_use)} in use)"
        )
    return text


def session_lines(view: BudgetView, now: float) -> list[str]:
    """This session's job, walltime and burn rates in words (empty outside a job)."""
    if view.job_id is None:
        return []
    s = view.session
    if s is None:
        return [f"This session (job {view.job_id}) is not among these projects' running jobs."]
    left = view.walltime_left(now)
    lines = [
        f"This session: job {s.job_id}, project {s.project}, "
        f"{_count('gpu', s.gpus)} and {_count('cpu', s.cpus)}, walltime left "
        f"{'no limit' if left is None else duration(left)}"
    ]
    return lines + ["  " + burn_text(b, left) for b in view.budgets if b.project == s.project]


def table_rows(view: BudgetView) -> list[list[str]]:
    rows = [["project", "budget", "used", "limit", "left", "yours", "status"]]
    for b in view.budgets:
        limit = "none" if b.level == "none" else "no limit" if b.limit is None else hours(b.limit)
        rows.append(
            [
                b.project,
                UNIT[b.kind],
                hours(b.used),
                limit,
                hours(b.left) if b.limit else "—",
                hours(b.yours),
                b.warning,
            ]
        )
    return rows


def format_view(view: BudgetView, now: float, status: str | None = None) -> str:
    """The text table: a status line, one line per project and budget, this session."""
    if status is None:
        status = view_status(view, now)[1]
    rows = table_rows(view)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [status]
    for row in rows:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    if not view.budgets:
        lines.append("You belong to no project with a budget.")
    return "\n".join(lines + session_lines(view, now))


def format_table(payload: dict, job_id: str | None = None) -> str:
    """The text table of an API ``/budgets`` answer (what ``aiworkbench-budget`` prints)."""
    now = time.time()
    return format_view(build_view(payload, job_id, now), now)


def view_status(view: BudgetView, now: float) -> tuple[str, str]:
    since = f"numbers from {clock_time(view.read_at)}"
    if view.stale:
        why = f": {view.error}" if view.error else ""
        return "stale", (
            f"Stale: Slurm accounting did not answer{why}; {since} "
            f"({duration(now - view.read_at)} ago)"
        )
    return "fresh", f"Budgets of {view.user}, {since}"


class BudgetMonitor:
    """The last good numbers and, while fetching fails, why and since when."""

    def __init__(
        self,
        fetch: Callable[[], dict],
        job_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.fetch, self.job_id, self.clock = fetch, job_id, clock
        self.view: BudgetView | None = None
        self.error = ""  # why the last fetch failed; "" when it worked
        self.unreachable = False
        self.failing_since: float | None = None

    def refresh(self) -> bool:
        """Fetch once; on failure keep the last numbers and note why. True if it worked."""
        try:
            view = build_view(self.fetch(), self.job_id, self.clock())
        except BudgetError as err:
            return self._failed(str(err), isinstance(err, BudgetUnreachable))
        except Exception as err:  # an odd answer or a bug: shown, never kills the refresher
            return self._failed(f"unexpected {type(err).__name__}: {err}", False)
        self.view, self.error, self.unreachable, self.failing_since = view, "", False, None
        return True

    def _failed(self, error: str, unreachable: bool) -> bool:
        if self.failing_since is None:
            self.failing_since = self.clock()
        self.error, self.unreachable = error, unreachable
        return False

    def status(self, now: float | None = None) -> tuple[str, str]:
        """(state, text); state: loading, fresh, stale, unreachable or error."""
        now = self.clock() if now is None else now
        if not self.error:
            return view_status(self.view, now) if self.view else ("loading", "Loading budgets…")
        since = (
            f"; numbers from {clock_time(self.view.read_at)}" if self.view else "; no numbers yet"
        )
        if self.unreachable:
            return "unreachable", (
                f"API unreachable since {clock_time(self.failing_since)}: {self.error}{since}"
            )
        return "error", self.error + since

    def text(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        status = self.status(now)[1]
        return format_view(self.view, now, status) if self.view else status


# --- HTML (the template budget_project.html) -------------------------------------------


def status_html(state: str, text: str) -> str:
    return status_line(
        text, STATE_COLOUR[state], mark=state not in ("fresh", "loading"), bold=state != "fresh"
    )


def budget_row(b: Budget) -> dict:
    """One budget's row: its name, its bar's fill (None: no bar), colour, level and numbers."""
    if b.level == "none":
        numbers = ""
    elif b.limit is None:
        numbers = f"{hours(b.used)} {UNIT[b.kind]} used, yours {hours(b.yours)}"
    else:
        numbers = (
            f"{hours(b.used)} of {hours(b.limit)} {UNIT[b.kind]} used, "
            f"{hours(b.left)} left ({hours(b.available)} free for new sessions), "
            f"yours {hours(b.yours)}"
        )
    return {
        "name": NAME[b.kind],
        "percent": None if b.percent is None else f"{min(b.percent, 100):.1f}",
        "colour": COLOUR[b.level],
        "warning": b.warning,
        "numbers": numbers,
    }


def project_html(view: BudgetView, project: str, now: float, stale: bool) -> str:
    """One project's block: a bar and the numbers per budget, this session's burn."""
    in_project = view.session is not None and view.session.project == project
    return render(
        "budget_project.html",
        project=project,
        stale=stale,
        rows=[budget_row(b) for b in view.budgets if b.project == project],
        notes=[line.strip() for line in session_lines(view, now)] if in_project else [],
    )


# --- the widget -------------------------------------------------------------------------


class BudgetWidget(Shown):
    """The budget panel. ``widget`` (also ``box``) is the ipywidgets VBox the notebook
    shows (a status line, then one block per project). A daemon thread fetches every
    ``refresh`` seconds and redraws every few seconds (so walltime counts down) until
    :meth:`close`."""

    def __init__(
        self,
        fetch: Callable[[], dict],
        job_id: str | None = None,
        refresh: float = DEFAULT_REFRESH,
        clock: Callable[[], float] = time.time,
        start: bool = True,
    ):
        import ipywidgets  # only here: the model and the CLI work without it

        self._html = ipywidgets.HTML
        self.refresh = check_refresh(refresh)
        self.monitor = BudgetMonitor(fetch, job_id, clock)
        self.header = ipywidgets.HTML()
        self.rows: dict[str, ipywidgets.HTML] = {}
        self.widget = ipywidgets.VBox([self.header])
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aiworkbench-budget", daemon=True)
        self.draw()
        if start:
            self._thread.start()

    @property
    def box(self):
        """The VBox the notebook shows (``widget``)."""
        return self.widget

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def update(self) -> None:
        """Fetch now and redraw."""
        with self._lock:
            self.monitor.refresh()
            self._draw()

    def draw(self) -> None:
        with self._lock:
            self._draw()

    def _draw(self) -> None:
        now = self.monitor.clock()
        state, text = self.monitor.status(now)
        if state == "fresh":
            text += f", refreshed every {self.refresh:g} s"
        self.header.value = status_html(state, text)
        view = self.monitor.view
        for name in view.projects if view else ():
            if name not in self.rows:
                self.rows[name] = self._html()
            self.rows[name].value = project_html(view, name, now, state != "fresh")
        children = (self.header, *(self.rows[n] for n in (view.projects if view else ())))
        if self.widget.children != children:
            self.widget.children = children

    def _run(self) -> None:
        due = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= due:
                self.monitor.refresh()
                due = time.monotonic() + self.refresh
            if self._stop.is_set():
                return
            self.draw()
            self._stop.wait(min(TICK, max(due - time.monotonic(), 0)))

    def close(self) -> None:
        """Stop refreshing and close the widgets."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1)
        super().close()
        for row in self.rows.values():  # a project no longer answered is not in the box
            row.close()

    def __repr__(self) -> str:
        return self.monitor.text()


def budget(
    refresh: float = DEFAULT_REFRESH, *, all_projects: bool = False, project: str | None = None
) -> BudgetWidget:
    """Show your projects' budgets, refreshed every ``refresh`` seconds (at least 5).
    ``all_projects``: every project (managers); ``project``: only that one."""
    refresh = check_refresh(refresh)
    if project is not None:
        names.PROJECT.check(project)
        if all_projects:
            raise ValueError("give either all_projects or project, not both")

    def fetch() -> dict:
        return fetch_budgets(all_projects=all_projects, project=project)

    return BudgetWidget(fetch, job_id=os.environ.get("SLURM_JOB_ID"), refresh=refresh)
