"""The budget widget in JupyterLab: one short line in a notebook of a GPU session shows the
session's project budgets with the API's numbers, this session's job, and keeps itself
up to date."""

import re

import pytest

from ..conftest import user_jobs, wait_for
from .conftest import SPAWN_TIMEOUT_MS, log_in, notebook_test, run_cell

pytestmark = pytest.mark.browser
API = "/services/workbench/api"


def test_budget_widget_renders_live_numbers_in_jupyterlab(
    cluster_up, hub_up, hub_url, site, hub_user, page, request
):
    sme = hub_user("sme")  # its teardown stops the session
    response = sme.api(
        "POST", "/users/sme/server", json={"profile": "gpu-1", "project": "sme-vision"}
    )
    assert response.status_code in (201, 202), response.text
    sme.wait_ready()
    [job] = user_jobs("sme")
    with notebook_test(page, request, "sme"):
        log_in(page, hub_url, "sme", site.users["sme"].password)
        cell = run_cell(page, hub_url, "sme", "import aiworkbench; aiworkbench.budget(refresh=5)")
        widget = cell.locator(".jp-OutputArea-output .widget-vbox")
        vision = widget.locator(".widget-html").filter(has_text="sme-vision")
        vision.first.wait_for(state="visible", timeout=SPAWN_TIMEOUT_MS)

        payload = sme.session.get(f"{hub_url}{API}/budgets", timeout=30).json()
        [gpu] = [p["gpu"] for p in payload["projects"] if p["project"] == "sme-vision"]
        text = vision.first.inner_text()
        used = f"{gpu['used_minutes'] / 60:.1f} of {gpu['limit_minutes'] / 60:.1f} GPU-h used"
        assert used in text, text
        assert "sme-trial" in widget.inner_text()  # sme's other project
        header = widget.locator(".widget-html").first
        first = header.inner_text()
        assert "refreshed every 5 s" in first, first

        # Live: the API reads accounting every 30 s; the widget, refreshing every 5 s,
        # picks up this session's job from the next read, with its walltime and burn.
        session = (
            rf"This session: job {job['id']}, project sme-vision, 1 GPU and \d+ cores?, "
            rf"walltime left \d+ min"
        )
        wait_for(
            lambda: re.search(session, vision.first.inner_text()),
            90,
            interval=2,
            what="the widget to show this session's job",
        )
        # ... and shows each new read of the API's numbers (every 30 s).
        wait_for(
            lambda: header.inner_text() != first,
            70,
            interval=2,
            what="the widget to show the API's next numbers",
        )
