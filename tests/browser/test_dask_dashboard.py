"""The Dask dashboard inside JupyterLab: in a real session, a cluster from
aiworkbench.dask_cluster() gets a worker job, and its dashboard link opens through the
session's jupyter-server-proxy; closing the cluster leaves no worker job."""

import re

import pytest

from ..conftest import run, wait_for
from .conftest import SPAWN_TIMEOUT_MS, log_in, notebook_test, run_cell

pytestmark = pytest.mark.browser
CODE = (
    "import aiworkbench\n"
    "cluster = aiworkbench.dask_cluster(workers=1, adaptive=False, minutes=10, memory_gb=1)\n"
    "client = cluster.get_client(); client.wait_for_workers(1, timeout=240)\n"
    "print('DASHBOARD', cluster.dashboard_link, len(client.scheduler_info()['workers']))"
)


def test_the_dask_dashboard_opens_in_jupyterlab(
    cluster_up, hub_up, hub_url, site, hub_user, page, request
):
    sme = hub_user("sme")
    response = sme.api(
        "POST", "/users/sme/server", json={"profile": "cpu-small", "project": "sme-vision"}
    )
    assert response.status_code in (201, 202), response.text
    sme.wait_ready()
    with notebook_test(page, request, "sme"):
        log_in(page, hub_url, "sme", site.users["sme"].password)
        cell = run_cell(page, hub_url, "sme", CODE)
        printed = cell.locator(".jp-OutputArea-output").filter(has_text="DASHBOARD")
        printed.wait_for(state="visible", timeout=SPAWN_TIMEOUT_MS)
        link, workers = re.search(r"DASHBOARD (\S+) (\d+)", printed.inner_text()).groups()
        assert workers == "1" and link.startswith("/user/sme/proxy/"), link
        names = run(["squeue", "--noheader", "--user", "sme", "--format=%j|%a"]).stdout
        assert re.search(r"aiwb-dask-\d+-\w+\|sme-vision", names), names
        dashboard = page.context.new_page()
        answer = dashboard.goto(f"{hub_url}{link}")
        assert answer.status == 200, answer.status
        # The scheduler's status page, through the proxy: Bokeh draws its plots.
        wait_for(lambda: "Dask" in dashboard.title(), 60, interval=0.5, what="the Dask status page")
        dashboard.locator(".bk-Canvas, .bk-root, canvas").first.wait_for(
            state="attached", timeout=60_000
        )
        dashboard.close()
        run_more = cell.locator(".cm-content")
        run_more.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text("client.close(); cluster.close(); print('CLOSED')")
        page.keyboard.press("Shift+Enter")
        cell.locator(".jp-OutputArea-output").filter(has_text="CLOSED").wait_for(
            state="visible", timeout=120_000
        )
        wait_for(
            lambda: (
                "aiwb-dask"
                not in run(["squeue", "--noheader", "--user", "sme", "--format=%j"]).stdout
            ),
            60,
            what="the worker job to be cancelled",
        )
