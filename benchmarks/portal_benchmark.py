"""Portal benchmark: what people wait for in the browser, and what the status bar costs.

    sudo .venv/bin/python benchmarks/portal_benchmark.py [--runs 5] [--tabs 3] [--window 180]

Needs the factory up (`make up`) and Debian's Chromium (`make test` installs it); run
it alone. As the demo's trainer, in Chromium driven by Playwright:

1. from clicking "Start the session" on the form (profile cpu-small) to JupyterLab's
   launcher drawn, --runs times (the session is stopped between runs), with the part
   until the browser is sent to the session, and JupyterLab's own load (its page
   reloaded in the running session, to the launcher) for comparison;
2. the home page with three session cards (two running, one ended): the hub's time
   to render it, 20 requests;
3. the status bar's cost: --tabs JupyterLab tabs of one session poll it for --window
   seconds; the workbench API's access log counts the budget requests that session's
   server made meanwhile (the target: at most one a minute, whatever the tabs).

The spawn itself against stock batchspawner is benchmarks/spawn_benchmark.py's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from aiworkbench.core.site import load_site  # noqa: E402

SITE = load_site(os.environ.get("SITE", REPO / "hub_config" / "site.toml"))
URL = f"http://127.0.0.1:{SITE.hub.port}"
USER = "trainer"
API_LOG = Path("/var/log/aiworkbench/workbench-api.log")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def jobs() -> list[str]:
    return subprocess.run(
        ["squeue", "--noheader", "--user", USER, "--format=%i"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


class Api:
    def __init__(self):
        answer = requests.post(
            f"{URL}/hub/api/users/{USER}/tokens",
            timeout=60,
            json={
                "auth": {"username": USER, "password": SITE.users[USER].password},
                "expires_in": 3600,
            },
        )
        answer.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {answer.json()['token']}"

    def path(self, server: str) -> str:
        return (
            f"{URL}/hub/api/users/{USER}/servers/{server}"
            if server
            else f"{URL}/hub/api/users/{USER}/server"
        )

    def servers(self) -> dict:
        return self.session.get(f"{URL}/hub/api/users/{USER}", timeout=60).json()["servers"]

    def start(self, server: str = "", options=None) -> None:
        self.session.post(
            self.path(server), json=options or {"profile": "cpu-small"}, timeout=300
        ).raise_for_status()
        deadline = time.monotonic() + 300
        while not (self.servers().get(server) or {}).get("ready"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{USER}'s server {server!r} is not ready")
            time.sleep(0.2)

    def stop_all(self) -> None:
        """Stop every session; named ones are removed too (a stopped one still counts
        against the hub's limit of named servers)."""
        for server in list(self.servers()):
            self.session.delete(
                self.path(server), json={"remove": True} if server else None, timeout=300
            )
        while self.servers() or jobs():
            time.sleep(0.3)


def log_in(page) -> None:
    page.goto(f"{URL}/hub/login")
    page.fill("#username_input", USER)
    page.fill("#password_input", SITE.users[USER].password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/hub/(home|spawn)"))


def click_to_launcher(page, api: Api, runs: int) -> tuple[list[float], list[float]]:
    """Click Start -> launcher drawn, and the part of it until the browser is sent to
    the session (the spawn, the hub's pages, the login to the session)."""
    times, to_session = [], []
    for _ in range(runs):
        api.stop_all()
        page.goto(f"{URL}/hub/spawn")
        page.select_option("select[name=profile]", "cpu-small")
        started = time.perf_counter()
        page.click("#spawn_form [type=submit]")
        page.wait_for_url(re.compile(rf"/user/{USER}/lab"), timeout=300_000, wait_until="commit")
        to_session.append(time.perf_counter() - started)
        page.locator(".jp-LauncherCard").first.wait_for(state="visible", timeout=300_000)
        times.append(time.perf_counter() - started)
    return times, to_session


def lab_reload(page, runs: int) -> list[float]:
    """JupyterLab's own load, for the session already running: its page -> launcher."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        page.goto(f"{URL}/user/{USER}/lab")
        page.locator(".jp-LauncherCard").first.wait_for(state="visible", timeout=120_000)
        times.append(time.perf_counter() - started)
    return times


def home_render(api: Api, requests_n: int = 20) -> list[float]:
    """Three cards: two running sessions and one that ended."""
    api.stop_all()
    api.start("second")
    [job] = jobs()
    subprocess.run(["scancel", job], check=True)  # it ends on Slurm's side: the card says how
    while "second" in {name for name, s in api.servers().items() if s.get("ready")}:
        time.sleep(1)
    api.start("")
    api.start("third")
    web = requests.Session()
    web.get(f"{URL}/hub/login", timeout=60)
    web.post(
        f"{URL}/hub/login",
        timeout=60,
        data={
            "username": USER,
            "password": SITE.users[USER].password,
            "_xsrf": web.cookies.get("_xsrf", ""),
        },
    )
    times = []
    for _ in range(requests_n):
        answer = web.get(f"{URL}/hub/home", timeout=60)
        answer.raise_for_status()
        assert answer.text.count('class="card session-card') == 3, "not three cards"
        times.append(answer.elapsed.total_seconds())
    return times


def status_cost(browser_context, api: Api, tabs: int, window: float) -> tuple[int, float]:
    """Budget requests the session's server made while ``tabs`` tabs polled."""
    api.stop_all()
    api.start("")
    pages = [browser_context.new_page() for _ in range(tabs)]
    for page in pages:
        page.goto(f"{URL}/user/{USER}/lab")
        page.locator(".aiwb-status-item").wait_for(state="visible", timeout=120_000)
    since = datetime.now()
    time.sleep(window)
    lines = [
        line
        for line in API_LOG.read_text().splitlines()
        if "GET " in line and "/api/budgets/" in line
    ]
    counted = 0
    for line in lines:
        stamp = re.match(r"\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", line)
        if stamp and datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S") >= since:
            counted += 1
    for page in pages:
        page.close()
    return counted, window / 60


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(q * (len(ordered) - 1))), len(ordered) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tabs", type=int, default=3)
    parser.add_argument("--window", type=float, default=180)
    args = parser.parse_args()
    api = Api()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        api.stop_all()  # logging in sends to a running session's JupyterLab
        log_in(page)
        try:
            launcher, to_session = click_to_launcher(page, api, args.runs)
            reload = lab_reload(page, args.runs)
            home = home_render(api)
            requests_made, minutes = status_cost(context, api, args.tabs, args.window)
        finally:
            browser.close()
            api.stop_all()
    print(
        f"portal benchmark, {datetime.now():%Y-%m-%d %H:%M}, "
        f"{os.cpu_count()} cores; command: sudo .venv/bin/python "
        f"benchmarks/portal_benchmark.py --runs {args.runs} --tabs {args.tabs} "
        f"--window {args.window:g}"
    )
    print(
        f"click Start -> launcher drawn (s), {args.runs} runs: p50 "
        f"{statistics.median(launcher):.2f}, min {min(launcher):.2f}, "
        f"max {max(launcher):.2f}"
    )
    print(
        f"  of which click -> sent to the session's JupyterLab (s): p50 "
        f"{statistics.median(to_session):.2f}; JupyterLab's own load for a running "
        f"session, page -> launcher (s): p50 {statistics.median(reload):.2f}"
    )
    print(
        f"home page with 3 session cards (ms), 20 requests: p50 "
        f"{1000 * statistics.median(home):.0f}, p95 {1000 * pct(home, 0.95):.0f}"
    )
    print(
        f"status bar, {args.tabs} tabs for {minutes:.1f} min: {requests_made} budget "
        f"requests to the workbench API ({requests_made / minutes:.2f} a minute)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
