"""The managers' dashboards in Chromium: a manager logs in, opens the dashboards from the
hub, sees the charts drawn and every project, changes a filter, exports a CSV and moves
to the budgets; every dashboard reads at a glance at 1400x900 (plain decimals on its
axes, labels inside the figure, the legend beside the plot, words where there is no
data), each saved as a screenshot; a student gets 403."""

import base64
import re

import pytest

from ..conftest import run, user_jobs, wait_for
from ..integration.test_dashboards import read_store
from .conftest import log_in, screenshot

pytestmark = pytest.mark.browser
RENDER_MS = 120_000  # Voila starts a kernel and runs the notebook on the first request
DASHBOARDS = ("usage", "budgets", "queue", "sessions", "training")
SI_TICK = re.compile(r"\d[munµkMGT]$")  # "240m": d3's SI format, which reads as minutes


def test_a_manager_sees_charts_filters_and_exports(hub_up, hub_url, site, page, request):
    try:
        log_in(page, hub_url, "manager", site.users["manager"].password)
        page.goto(f"{hub_url}/services/dashboards/", timeout=RENDER_MS)
        assert page.url.endswith("/voila/render/usage.ipynb"), page.url
        board = page.locator(".aiwb-dashboard")
        board.wait_for(state="visible", timeout=RENDER_MS)
        # bqplot drew its figure: an SVG with axes.
        page.locator(".aiwb-dashboard .bqplot svg").first.wait_for(state="visible")
        assert page.locator(".aiwb-dashboard .bqplot .axis").count() >= 2
        # Every project of the factory is offered, not only the manager's own.
        projects = page.locator(".aiwb-dashboard select").first
        options = projects.locator("option").all_inner_texts()
        assert set(site.projects) <= set(options), options

        # A filter change recomputes: the status line's timing changes with it.
        status = page.locator(".aiwb-dashboard").get_by_text(re.compile("computed in"))
        before = status.inner_text()
        projects.select_option("edu-intro")
        wait_for(
            lambda: status.inner_text() != before,
            30,
            interval=0.3,
            what="the dashboard to recompute",
        )

        # Export CSV: a link to a file holding the usage table's header.
        page.get_by_role("button", name="Export CSV").click()
        link = page.locator("a.aiwb-csv")
        link.wait_for(state="visible")
        assert link.get_attribute("download") == "usage.csv"
        data = base64.b64decode(link.get_attribute("href").split("base64,", 1)[1]).decode()
        assert data.splitlines()[0] == "period,project,user,gpu_hours,core_hours,jobs"
        assert all(",edu-intro," in row for row in data.splitlines()[1:])

        # The budgets dashboard: every project's budget as Slurm reports it.
        page.locator(".aiwb-nav a", has_text="Budgets").click()
        page.locator(".aiwb-dashboard .aiwb-table").first.wait_for(
            state="visible", timeout=RENDER_MS
        )
        table = page.locator(".aiwb-dashboard .aiwb-table").first.inner_text()
        for project in site.projects:
            assert project in table, (project, table)
        page.locator(".aiwb-dashboard .bqplot svg").first.wait_for(state="visible")
    except Exception as err:
        shot = screenshot(page, request.node.name)
        raise AssertionError(f"{type(err).__name__}: {err}\npage at {page.url}; {shot}") from err


def test_a_student_is_refused(hub_up, hub_url, site, page):
    log_in(page, hub_url, "student", site.users["student"].password)
    response = page.goto(f"{hub_url}/services/dashboards/")
    assert response.status == 403
    assert "aiwb-dashboard" not in page.content()


def boxes(locator) -> list[dict]:
    return [box for box in (e.bounding_box() for e in locator.all()) if box]


def inside(box: dict, frame: dict, slack: float = 2) -> bool:
    return (
        box["x"] >= frame["x"] - slack
        and box["y"] >= frame["y"] - slack
        and box["x"] + box["width"] <= frame["x"] + frame["width"] + slack
        and box["y"] + box["height"] <= frame["y"] + frame["height"] + slack
    )


def check_charts(page, name: str) -> int:
    """Every figure of the dashboard on screen reads: plain-decimal ticks, every tick
    label inside its figure, a legend beside it with a name per entry. Returns how many
    figures are drawn (the others show their empty state in words)."""
    drawn = 0
    for chart in page.locator(".aiwb-dashboard .bqplot").all():
        if not chart.is_visible():
            continue
        drawn += 1
        frame = chart.bounding_box()
        ticks = chart.locator(".axis .tick text")
        texts = [t for t in ticks.all_text_contents() if t.strip()]  # SVG: no innerText
        assert texts, f"{name}: a figure without tick labels"
        assert not [t for t in texts if SI_TICK.search(t)], (name, texts)
        assert all(inside(box, frame) for box in boxes(ticks)), f"{name}: a label is cut off"
        row = chart.locator("xpath=..")
        legend = row.locator(".aiwb-legend")
        names = [n.strip() for n in legend.locator(".aiwb-legend-item").all_inner_texts()]
        assert names and all(names), (name, names)
        assert legend.bounding_box()["x"] >= frame["x"] + frame["width"] - 2, (
            f"{name}: the legend is over the plot"
        )
    return drawn


def cancelled_while_pending(site) -> str:
    """A GPU job of the project without GPU-minutes, which Slurm keeps pending for its
    budget (AssocGrpGRESMinutes) and which is cancelled there, once it is in the
    dashboards' store (the queue dashboard counts such jobs): its id."""
    account = min(site.projects, key=lambda name: site.projects[name].gpu_minutes)
    user = site.projects[account].members[0]
    job = run(
        ["sbatch", "--parsable", "--partition=gpu", f"--account={account}", "--gres=gpu:1"]
        + ["--time=5", "--chdir=/tmp", "--output=/dev/null", "--wrap=true"],
        user=user,
    ).stdout.strip()
    try:
        wait_for(
            lambda: [j for j in user_jobs(user) if j["id"] == job and j["reason"] != "None"],
            30,
            what=f"job {job} to pend for its budget",
        )
    finally:
        run(["scancel", job])

    def stored():
        return any(str(r[0]) == job and r[2] == "CANCELLED" for r in read_store(site)["jobs"])

    wait_for(stored, site.dashboards.ingest_seconds * 3 + 60, interval=5, what=f"job {job}")
    return job


def test_every_dashboard_reads_at_a_glance(hub_up, hub_url, site, page, request):
    cancelled_while_pending(site)
    log_in(page, hub_url, "manager", site.users["manager"].password)
    seen = {}
    for name in DASHBOARDS:
        try:
            page.goto(f"{hub_url}/services/dashboards/voila/render/{name}.ipynb", timeout=RENDER_MS)
            board = page.locator(".aiwb-dashboard")
            board.wait_for(state="visible", timeout=RENDER_MS)
            board.get_by_text(re.compile("computed in")).first.wait_for(timeout=RENDER_MS)
            page.wait_for_timeout(1500)  # bqplot's transitions end
            empty = [t.strip() for t in page.locator(".aiwb-empty").all_inner_texts() if t.strip()]
            drawn = check_charts(page, name)
            assert drawn or empty, f"{name}: neither a chart nor words"
            assert all(len(t) > 20 for t in empty), (name, empty)
            seen[name] = page.locator(".aiwb-dashboard").inner_text()
        finally:
            screenshot(page, f"dashboard-{name}")
    # The demo's CPU-only project has no GPU allocation: said so, never "exhausted".
    budgets = seen["budgets"]
    assert "no GPU allocation" in budgets, budgets
    assert (
        "factory-ops (no GPU allocation)" in budgets or "No GPU allocation: factory-ops" in budgets
    ), budgets
    assert "cancelled while pending" in seen["queue"], seen["queue"]
