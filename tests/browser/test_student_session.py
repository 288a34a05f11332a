"""A student logs in through the browser, starts a session from the spawn form, and
runs a notebook cell inside the Slurm job that the hub submitted for them."""

import pwd
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import sync_playwright

from ..conftest import REPO, run, user_jobs, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# The machine has no internet: keep Chromium from reaching out for anything.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
RESULTS = REPO / "test-results"  # git-ignored; screenshots of failures

SPAWN_TIMEOUT_MS = 180_000  # queueing, the job's start and JupyterLab's first load
CELL_CODE = 'import os; print("SLURM_JOB_ID=" + os.environ["SLURM_JOB_ID"])'


@pytest.fixture
def page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(60_000)
            yield context.new_page()
        finally:
            browser.close()


def screenshot(page, name):
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as err:  # the page may be gone; the failure itself matters more
        return f"no screenshot: {err}"
    return f"screenshot: {path}"


def run_a_cell_as_student(page, hub_url, password):
    """Log in, spawn cpu-small on edu-intro, run CELL_CODE in a new notebook; the output."""
    page.goto(f"{hub_url}/hub/login")
    page.fill("input[name=username]", "student")
    page.fill("input[name=password]", password)
    page.click("form [type=submit]")
    page.wait_for_url(re.compile(r"/hub/(spawn|home)|/user/student/"))

    # The spawn form: profile and project.
    if "/hub/spawn" not in page.url:
        page.goto(f"{hub_url}/hub/spawn")
    page.select_option("select[name=profile]", "cpu-small")
    page.select_option("select[name=project]", "edu-intro")
    page.click("form [type=submit]")

    # The hub's progress page, then JupyterLab once the job has started.
    page.wait_for_url(re.compile(r"/user/student/lab"), timeout=SPAWN_TIMEOUT_MS)
    # A clean workspace: an earlier session's open notebooks would hide the Launcher.
    page.goto(f"{hub_url}/user/student/lab?reset")
    # The "Python 3 (ipykernel)" tile of the Launcher's Notebook section (JupyterLab 4
    # marks cards with data-category; else the first such card, as Notebook comes first).
    notebook_tile = page.locator(".jp-LauncherCard[data-category='Notebook']").or_(
        page.locator(".jp-Launcher-section").filter(has_text="Notebook").locator(
            ".jp-LauncherCard")).filter(has_text=re.compile(r"Python 3")).first
    notebook_tile.wait_for(state="visible", timeout=SPAWN_TIMEOUT_MS)

    # A new notebook; type into the first cell and run it.
    notebook_tile.click()
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").last
    cell = notebook.locator(".jp-CodeCell").first
    editor = cell.locator(".cm-content")
    editor.wait_for(state="visible", timeout=120_000)
    # Until the kernel is connected, Shift+Enter silently runs nothing. (The toolbar's
    # execution indicator says "idle" from the start, so it cannot tell; the status
    # bar goes "No Kernel | Initializing", "... | Connecting", "Python 3 ... | Idle".)
    page.locator(".jp-StatusBar-TextItem").filter(
        has_text=re.compile(r"^Python 3.*\| Idle$")).first.wait_for(timeout=120_000)
    editor.click()
    page.keyboard.insert_text(CELL_CODE)
    page.keyboard.press("Shift+Enter")

    output = cell.locator(".jp-OutputArea-output").filter(has_text="SLURM_JOB_ID=")
    output.first.wait_for(state="visible", timeout=120_000)
    return output.first.inner_text()


def remove_notebook(url):
    """Remove the notebook that the test created (its name is in the page's URL)."""
    match = re.search(r"/user/student/lab/tree/([^/?#]+\.ipynb)", url)
    if match:
        home = Path(pwd.getpwnam("student").pw_dir)
        name = unquote(match.group(1))
        stem = name.removesuffix(".ipynb")
        run(["rm", "-f", "--", str(home / name),
             str(home / ".ipynb_checkpoints" / f"{stem}-checkpoint.ipynb")],
            user="student", check=False)


def test_student_runs_a_cell_in_their_slurm_job(
        cluster_up, hub_up, hub_url, site, hub_user, page, request):
    student = hub_user("student")  # starts clean; its teardown stops the server again
    wait_for(lambda: not user_jobs("student"), 60, what="an earlier job of student's to end")
    try:
        try:
            text = run_a_cell_as_student(page, hub_url, site.users["student"].password)
            match = re.search(r"SLURM_JOB_ID=(\d+)", text)
            assert match, f"unexpected cell output {text!r}"
            running = [job for job in user_jobs("student") if job["state"] == "RUNNING"]
            assert len(running) == 1, f"student's jobs: {user_jobs('student')}"
            job = running[0]
            assert match.group(1) == job["id"], f"the cell printed {text!r}; Slurm has {job}"
            assert (job["partition"], job["account"]) == ("cpu", "edu-intro"), job
        except Exception as err:
            shot = screenshot(page, request.node.name)
            raise AssertionError(f"{type(err).__name__}: {err}\n"
                                 f"page at {page.url}; {shot}") from err
    finally:
        # Whatever happened: no server and no Slurm job of the student's is left.
        notebook_url = page.url
        page.close()  # no polling of a server that is going away
        student.stop_server()
        remove_notebook(notebook_url)
        try:
            wait_for(lambda: not user_jobs("student"), 60, what="student's job to end")
        except AssertionError:
            run(["scancel", "--user", "student"], check=False)
            raise
