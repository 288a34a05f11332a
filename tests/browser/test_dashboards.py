"""The managers' dashboards in Chromium: a manager logs in, opens the dashboards from the
hub, sees the charts drawn and every project, changes a filter, exports a CSV and moves
to the budgets; a student gets 403."""

import base64
import re

import pytest

from ..conftest import wait_for
from .conftest import log_in, screenshot

pytestmark = pytest.mark.browser
RENDER_MS = 120_000  # Voila starts a kernel and runs the notebook on the first request


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
        wait_for(lambda: status.inner_text() != before, 30, interval=0.3,
                 what="the dashboard to recompute")

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
            state="visible", timeout=RENDER_MS)
        table = page.locator(".aiwb-dashboard .aiwb-table").first.inner_text()
        for project in site.projects:
            assert project in table, (project, table)
        page.locator(".aiwb-dashboard .bqplot svg").first.wait_for(state="visible")
    except Exception as err:
        shot = screenshot(page, request.node.name)
        raise AssertionError(f"{type(err).__name__}: {err}\npage at {page.url}; {shot}") \
            from err


def test_a_student_is_refused(hub_up, hub_url, site, page):
    log_in(page, hub_url, "student", site.users["student"].password)
    response = page.goto(f"{hub_url}/services/dashboards/")
    assert response.status == 403
    assert "aiwb-dashboard" not in page.content()
