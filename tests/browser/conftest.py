"""Shared by the browser tests: Debian's Chromium driven by Playwright, logging in,
running a cell in a new notebook of the user's JupyterLab."""

import pwd
import re
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import sync_playwright

from ..conftest import REPO, run

CHROMIUM = "/usr/bin/chromium"
# The machine has no internet: keep Chromium from reaching out for anything.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS = REPO / "test-results"  # git-ignored; screenshots of failures

SPAWN_TIMEOUT_MS = 180_000  # queueing, the job's start and JupyterLab's first load
# The spawn page redirects as soon as the server is ready: keep every progress event
# the page receives in sessionStorage, to read them afterwards.
RECORD_PROGRESS = """
(() => {
  const Original = window.EventSource;
  if (!Original) return;
  window.EventSource = function (url, config) {
    const source = new Original(url, config);
    if (String(url).includes("/progress")) {
      source.addEventListener("message", (event) => {
        const seen = JSON.parse(sessionStorage.getItem("aiwb-progress") || "[]");
        seen.push(JSON.parse(event.data));
        sessionStorage.setItem("aiwb-progress", JSON.stringify(seen));
      });
    }
    return source;
  };
})();
"""


@pytest.fixture
def page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(60_000)
            context.add_init_script(RECORD_PROGRESS)
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


@contextmanager
def notebook_test(page, request, user):
    """The body of a test that makes a notebook in ``user``'s JupyterLab: a failure is
    reported with the page's address and a screenshot; the page is closed and the
    notebook removed in every case."""
    try:
        yield
    except Exception as err:
        shot = screenshot(page, request.node.name)
        raise AssertionError(f"{type(err).__name__}: {err}\npage at {page.url}; {shot}") from err
    finally:
        url = page.url
        page.close()
        remove_notebook(url, user)


def log_in(page, hub_url, user, password):
    page.goto(f"{hub_url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("form [type=submit]")
    page.wait_for_url(re.compile(rf"/hub/(spawn|home)|/user/{user}/"))


def run_cell(page, hub_url, user, code):
    """Run ``code`` in the first cell of a new notebook in ``user``'s JupyterLab; the cell."""
    # A clean workspace: an earlier session's open notebooks would hide the Launcher.
    page.goto(f"{hub_url}/user/{user}/lab?reset")
    # The "Python 3 (ipykernel)" tile of the Launcher's Notebook section (JupyterLab 4
    # marks cards with data-category; else the first such card, as Notebook comes first).
    notebook_tile = (
        page.locator(".jp-LauncherCard[data-category='Notebook']")
        .or_(
            page.locator(".jp-Launcher-section")
            .filter(has_text="Notebook")
            .locator(".jp-LauncherCard")
        )
        .filter(has_text=re.compile(r"Python 3"))
        .first
    )
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
        has_text=re.compile(r"^Python 3.*\| Idle$")
    ).first.wait_for(timeout=120_000)
    editor.click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    return cell


def remove_notebook(url, user):
    """Remove the notebook that the test created (its name is in the page's URL)."""
    match = re.search(rf"/user/{user}/lab/tree/([^/?#]+\.ipynb)", url)
    if match:
        home = Path(pwd.getpwnam(user).pw_dir)
        name = unquote(match.group(1))
        stem = name.removesuffix(".ipynb")
        run(
            [
                "rm",
                "-f",
                "--",
                str(home / name),
                str(home / ".ipynb_checkpoints" / f"{stem}-checkpoint.ipynb"),
            ],
            user=user,
            check=False,
        )
