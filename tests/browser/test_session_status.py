"""Inside JupyterLab, in Chromium: the workbench's status bar shows the session's project
and time left, and when Slurm signals the end of the job (the batch script's
--signal=B:USR1@300, sent here at once with scancel --signal) every open notebook with
unsaved changes is saved and a toast says so."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ..conftest import restart_hub, run, user_jobs, wait_for
from .conftest import log_in, remove_notebook, run_cell, screenshot

pytestmark = pytest.mark.browser


def test_the_status_bar_counts_down_and_the_end_signal_saves_open_notebooks(
    hub_user, hub_url, site, page, request
):
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
        item.click()  # the session panel, with the way to get help about this session
        panel = page.locator("#aiwb-session-panel")
        expect(panel).to_contain_text(f"Job{job['id']}")
        expect(panel.get_by_role("link", name="Get help")).to_have_attribute(
            "href", re.compile(r"/hub/help\?server=$")
        )
        screenshot(page, "lab-session-panel")

        # A change the user has not saved, then Slurm's end signal.
        cell.locator(".cm-content").click()
        page.keyboard.press("End")
        page.keyboard.insert_text("  # unsaved-marker")
        run(["scancel", "--signal=USR1", "--batch", job["id"]])
        expect(
            page.get_by_text(re.compile(r"1 document with unsaved changes was saved"))
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


IDLE_DROP_IN = Path("/etc/aiworkbench/jupyterhub_config.d/50-tests-idle-toast.py")
SIMULATED = Path("/var/lib/aiworkbench-gpu-sim")  # sessions.spawner.SIMULATED_GPU_DIR


@pytest.fixture
def warn_only_gpu_policy(hub_url, cluster_up):
    """Idle GPUs are warned after 6 s and never stopped (a drop-in; the hub restarted)."""
    IDLE_DROP_IN.parent.mkdir(exist_ok=True)
    IDLE_DROP_IN.write_text(
        "# Written by tests/browser/test_session_status.py; removed when it ends.\n"
        "from aiworkbench.hub.config import apply_idle\n"
        "[culler] = [s for s in c.JupyterHub.services if s['name'] == 'idle-culler']\n"
        "apply_idle(c, culler=culler, cull_idle_s=c.WorkbenchSpawner.cull_idle_timeout,\n"
        "           gpu_threshold=5, gpu_warn_s=6, gpu_stop_s=0, gpu_report_s=2)\n"
    )
    IDLE_DROP_IN.chmod(0o644)
    try:
        restart_hub(hub_url)
        yield
    finally:
        IDLE_DROP_IN.unlink()
        restart_hub(hub_url)


def test_idle_gpus_are_toasted_in_jupyterlab_and_released_from_there(
    warn_only_gpu_policy, hub_user, hub_url, site, page, request
):
    sme = hub_user("sme")
    response = sme.api(
        "POST", "/users/sme/server", json={"profile": "gpu-1", "project": "sme-vision"}
    )
    assert response.status_code in (201, 202), response.text
    sme.wait_ready()
    [job] = user_jobs("sme")
    utilisation = SIMULATED / job["id"]
    try:
        utilisation.write_text("1\n")  # idle from the start
        log_in(page, hub_url, "sme", site.users["sme"].password)
        page.goto(f"{hub_url}/user/sme/lab")
        expect(page.locator(".aiwb-status-item")).to_contain_text("sme-vision", timeout=120_000)
        toast = page.get_by_text(re.compile(r"This session: its GPUs have been idle"))
        expect(toast).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name="I am still using them")).to_be_visible()
        page.wait_for_timeout(1000)  # the toast slides in
        screenshot(page, "lab-idle-gpus")
        page.get_by_role("button", name="Release the GPUs").click()
        expect(
            page.get_by_text(re.compile(r"session is stopping: its GPUs are free"))
        ).to_be_visible(timeout=30_000)
        screenshot(page, "lab-idle-gpus-released")
        wait_for(lambda: sme.server() is None, 90, what="the released session to stop")
        wait_for(lambda: not user_jobs("sme"), 60, what="its job to end")
    except Exception as err:
        shot = screenshot(page, request.node.name)
        raise AssertionError(f"{type(err).__name__}: {err}\npage at {page.url}; {shot}") from err
    finally:
        utilisation.unlink(missing_ok=True)
        page.close()
        sme.stop_server()
