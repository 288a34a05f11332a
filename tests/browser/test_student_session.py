"""A student logs in through the browser, fills in the session form (a refused
request shows its message and keeps the choices), watches the spawn's progress,
and runs a notebook cell inside the Slurm job that the hub submitted for them."""

import json
import re

import pytest
from playwright.sync_api import expect

from ..conftest import run, user_jobs, wait_for
from .conftest import SPAWN_TIMEOUT_MS, log_in, remove_notebook, run_cell, screenshot

pytestmark = pytest.mark.browser

CELL_CODE = 'import os; print("SLURM_JOB_ID=" + os.environ["SLURM_JOB_ID"])'


def refused_request_keeps_the_form(page, hub_url):
    """The form follows the project's limits and shows the cost; a request beyond them
    (the browser's own check removed, as a hostile client would) is refused by the hub
    with its message, in the form, with the choices kept."""
    page.goto(f"{hub_url}/hub/spawn")
    page.select_option("select[name=project]", "edu-intro")
    page.select_option("select[name=profile]", "gpu-1")  # fills in partition, GPUs, hours
    expect(page.locator("select[name=partition]")).to_have_value("gpu")
    expect(page.locator("#aiwb-cost-text")).to_have_text(
        "up to 1 GPU-hour and 2 core-hours from edu-intro"
    )
    expect(page.locator("input[name=gpus]")).to_have_attribute("max", "1")  # the course's
    page.select_option("select[name=project]", "sme-trial")
    expect(page.locator("input[name=gpus]")).to_have_attribute("max", "2")  # the partition's
    page.fill("input[name=gpus]", "2")
    page.fill("input[name=hours]", "3")
    expect(page.locator("#aiwb-cost-text")).to_have_text(
        "up to 6 GPU-hours and 6 core-hours from sme-trial"
    )

    page.select_option("select[name=project]", "edu-intro")  # 1 GPU and 4 hours at most
    page.select_option("select[name=partition]", "cpu")
    page.select_option("select[name=preset]", "large")
    page.locator("input[name=hours]").evaluate("input => input.removeAttribute('max')")
    page.fill("input[name=hours]", "9")
    expect(page.locator("#aiwb-cost-text")).to_have_text("up to 36 core-hours from edu-intro")
    page.click("form [type=submit]")

    error = page.locator(".spawn-error-msg")
    expect(error).to_contain_text(
        "hours = 9 is not allowed on partition 'cpu' for project 'edu-intro'; allowed: 1 to 4"
    )
    expect(page.locator("select[name=project]")).to_have_value("edu-intro")
    expect(page.locator("select[name=partition]")).to_have_value("cpu")
    expect(page.locator("select[name=preset]")).to_have_value("large")
    expect(page.locator("input[name=hours]")).to_have_value("9")


def start_from_the_form(page, hub_url):
    """Start a small CPU session from the form; the progress events the page got."""
    page.goto(f"{hub_url}/hub/spawn")
    page.select_option("select[name=profile]", "cpu-small")
    page.select_option("select[name=project]", "edu-intro")
    page.select_option("select[name=preset]", "medium")
    page.fill("input[name=hours]", "2")
    expect(page.locator("#aiwb-cost-text")).to_have_text("up to 4 core-hours from edu-intro")
    page.click("form [type=submit]")
    # The hub's progress page, then JupyterLab once the job has started.
    page.wait_for_url(re.compile(r"/user/student/lab"), timeout=SPAWN_TIMEOUT_MS)
    return json.loads(page.evaluate("sessionStorage.getItem('aiwb-progress') || '[]'"))


def run_a_cell(page, hub_url):
    """Run CELL_CODE in a new notebook; its output."""
    cell = run_cell(page, hub_url, "student", CELL_CODE)
    output = cell.locator(".jp-OutputArea-output").filter(has_text="SLURM_JOB_ID=")
    output.first.wait_for(state="visible", timeout=120_000)
    return output.first.inner_text()


def test_student_uses_the_form_and_runs_a_cell_in_their_slurm_job(
    cluster_up, hub_up, hub_url, site, hub_user, page, request
):
    student = hub_user("student")  # starts clean; its teardown stops the server again
    wait_for(lambda: not user_jobs("student"), 60, what="an earlier job of student's to end")
    try:
        try:
            log_in(page, hub_url, "student", site.users["student"].password)
            refused_request_keeps_the_form(page, hub_url)
            assert not user_jobs("student"), "a refused request submitted a job"

            events = start_from_the_form(page, hub_url)
            running = [job for job in user_jobs("student") if job["state"] == "RUNNING"]
            assert len(running) == 1, f"student's jobs: {user_jobs('student')}"
            job = running[0]
            # What the form asked for: preset medium (2 cores) for 2 hours on edu-intro.
            assert (job["partition"], job["account"], job["cpus"], job["time_limit"]) == (
                "cpu",
                "edu-intro",
                "2",
                "2:00:00",
            ), job
            messages = [event.get("message", "") for event in events]
            print("PROGRESS", events)
            assert (
                "Submitting the session to Slurm (up to 4 core-hours from edu-intro)" in messages
                or any(f"Job {job['id']} " in m for m in messages)
            ), messages
            assert events and events[-1].get("ready"), f"no ready event: {events}"

            text = run_a_cell(page, hub_url)
            match = re.search(r"SLURM_JOB_ID=(\d+)", text)
            assert match, f"unexpected cell output {text!r}"
            assert match.group(1) == job["id"], f"the cell printed {text!r}; Slurm has {job}"
        except Exception as err:
            shot = screenshot(page, request.node.name)
            raise AssertionError(
                f"{type(err).__name__}: {err}\npage at {page.url}; {shot}"
            ) from err
    finally:
        # Whatever happened: no server and no Slurm job of the student's is left.
        notebook_url = page.url
        page.close()  # no polling of a server that is going away
        student.stop_server()
        remove_notebook(notebook_url, "student")
        try:
            wait_for(lambda: not user_jobs("student"), 60, what="student's job to end")
        except AssertionError:
            run(["scancel", "--user", "student"], check=False)
            raise
