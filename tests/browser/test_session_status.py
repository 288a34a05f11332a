"""Inside JupyterLab, in Chromium: the workbench's status bar shows the session's project
and time left, and when Slurm signals the end of the job (the batch script's
--signal=B:USR1@300, sent here at once with scancel --signal) every open notebook with
unsaved changes is saved and a toast says so."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ..conftest import run, user_jobs, wait_for
from .conftest import log_in, remove_notebook, run_cell, screenshot

pytestmark = pytest.mark.browser


def test_the_status_bar_counts_down_and_the_end_signal_saves_open_notebooks(
        hub_user, hub_url, site, page, request):
    trainer = hub_user("trainer")
    response = trainer.api("POST", "/users/trainer/server", json={"profile": "cpu-small"})
    assert response.status_code in (201, 202), response.text
    trainer.wait_ready()
    [job] = user_jobs("trainer")
    notebook_url = ""
    try:
        log_in(page, hub_url, "trainer", site.users["trainer"].password)
        cell = run_cell(page, hub_url, "trainer", 'print("before the end")')
        notebook_url = page.url
        item = page.locator(".aiwb-status-item")
        expect(item).to_contain_text("edu-intro")
        expect(item).to_contain_text(re.compile(r"0 h 5\d min left"))
        expect(item).to_contain_text("core-h left")
        expect(page.get_by_text("get notified about official Jupyter news")).to_have_count(0)
        screenshot(page, "lab-status-bar")

        # A change the user has not saved, then Slurm's end signal.
        cell.locator(".cm-content").click()
        page.keyboard.press("End")
        page.keyboard.insert_text("  # unsaved-marker")
        run(["scancel", "--signal=USR1", "--batch", job["id"]])
        expect(page.get_by_text(re.compile(r"1 document with unsaved changes was saved"))
               ).to_be_visible(timeout=45_000)
        page.wait_for_timeout(1000)  # the toast slides in
        screenshot(page, "lab-end-signal-saved")
        name = re.search(r"/lab/tree/([^/?#]+\.ipynb)", page.url)[1]
        saved = Path("/home/trainer", name).read_text()
        assert "unsaved-marker" in saved, saved[:2000]
        assert trainer.server() is not None  # the signal only warns: the session goes on
    except Exception as err:
        shot = screenshot(page, request.node.name)
        raise AssertionError(f"{type(err).__name__}: {err}\npage at {page.url}; {shot}") from err
    finally:
        page.close()
        trainer.stop_server()
        if notebook_url:
            remove_notebook(notebook_url, "trainer")
        wait_for(lambda: not user_jobs("trainer"), 60, what="trainer's job to end")
