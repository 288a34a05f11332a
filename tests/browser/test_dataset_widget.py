"""The dataset browser in JupyterLab: one short line opens it; search, open a dataset, see
its preview (read in the session, as the user), insert its loader into the next cell."""

import pytest

from ..conftest import wait_for
from .conftest import SPAWN_TIMEOUT_MS, log_in, notebook_test, run_cell

pytestmark = pytest.mark.browser


def test_search_open_preview_and_insert_a_loader(
    cluster_up, hub_up, hub_url, site, hub_user, page, request
):
    student = hub_user("student")  # its teardown stops the session
    response = student.api(
        "POST", "/users/student/server", json={"profile": "cpu-small", "project": "edu-intro"}
    )
    assert response.status_code in (201, 202), response.text
    student.wait_ready()
    with notebook_test(page, request, "student"):
        log_in(page, hub_url, "student", site.users["student"].password)
        cell = run_cell(page, hub_url, "student", "import aiworkbench; aiworkbench.datasets()")
        browser = cell.locator(".aiwb-ds")
        browser.wait_for(state="visible", timeout=SPAWN_TIMEOUT_MS)
        results = browser.locator(".aiwb-ds-result")
        results.first.wait_for(state="visible")
        titles = results.all_inner_texts()
        assert not any("breast" in t.lower() for t in titles), titles  # sme-vision only

        # Search.
        browser.locator(".aiwb-ds-search input").fill("iris")
        browser.locator(".aiwb-ds-search button").click()
        wait_for(
            lambda: [t[:4] for t in results.all_inner_texts()] == ["Iris"],
            30,
            interval=0.5,
            what="the search to show iris alone",
        )
        iris = results.filter(has_text="Iris")

        # Open it: the datacard, its files; preview the CSV (schema and first rows).
        iris.first.click()
        detail = browser.locator(".aiwb-ds-detail")
        detail.filter(has_text="CC-BY-4.0").wait_for(state="visible")
        browser.locator(".aiwb-ds-entry").filter(has_text="iris.csv").first.click()
        preview = browser.locator(".aiwb-ds-preview")
        preview.locator("table").wait_for(state="visible")
        text = preview.inner_text()
        assert "sepal_length" in text and "setosa" in text and "150" in text, text

        # "Use it" with pandas: inserted into the next cell, which loads the data.
        browser.locator(".aiwb-ds-insert").click()
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").last
        inserted = notebook.locator(".jp-CodeCell").nth(1)
        inserted.filter(has_text="read_csv").wait_for(state="visible", timeout=30_000)
        assert "/iris" in inserted.locator(".cm-content").inner_text()
