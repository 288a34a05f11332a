"""Idle protection against the real hub and cluster, with a quick policy (a config drop-in
and a hub restart): jupyterhub-idle-culler stops a session without activity, and a GPU
session whose (simulated) GPUs stay idle is warned, then stopped; the home page says why."""

import pwd
import re
import subprocess
import time
from pathlib import Path

import pytest

from aiworkbench.hub import services

from ..conftest import restart_hub, run, user_jobs, wait_for
from .test_sessions import ready, start

pytestmark = pytest.mark.integration
DROP_IN = Path("/etc/aiworkbench/jupyterhub_config.d/50-tests-quick-idle.py")
SIMULATED = Path("/var/lib/aiworkbench-gpu-sim")  # sessions.spawner.SIMULATED_GPU_DIR
CULL_S, GPU_WARN_S, GPU_STOP_S, REPORT_S = 30, 8, 20, 2


@pytest.fixture(scope="module")
def quick_idle_policy(hub_url, cluster_up, site):
    """The spawner's quick idle policy (a drop-in, the hub restarted), with the supervised
    culler (whose timings are the site's) stopped meanwhile."""
    DROP_IN.parent.mkdir(exist_ok=True)
    DROP_IN.write_text(
        "# Written by tests/integration/test_idle.py; removed when they end.\n"
        "from aiworkbench.hub.config import apply_idle\n"
        "[culler] = [s for s in c.JupyterHub.services if s['name'] == 'idle-culler']\n"
        f"apply_idle(c, culler=culler, cull_idle_s={CULL_S}, gpu_threshold=5,\n"
        f"           gpu_warn_s={GPU_WARN_S}, gpu_stop_s={GPU_STOP_S}, gpu_report_s={REPORT_S})\n"
    )
    DROP_IN.chmod(0o644)
    try:
        restart_hub(hub_url)
        run(["supervisorctl", "stop", services.CULLER_SERVICE])
        yield
    finally:
        DROP_IN.unlink()
        restart_hub(hub_url)
        run(["supervisorctl", "start", services.CULLER_SERVICE])


@pytest.fixture
def quick_culler(quick_idle_policy, site):
    """The real jupyterhub-idle-culler with the quick policy's timeout, as the hub's
    user, while one test runs (it stops every session idle for CULL_S)."""
    account = pwd.getpwnam(site.hub.user)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": account.pw_dir,
        "LANG": "C.UTF-8",
        "JUPYTERHUB_API_TOKEN": services.read_token(services.CULLER_SERVICE),
        "JUPYTERHUB_API_URL": services.hub_api_url(site),
    }
    culler = subprocess.Popen(
        [
            f"{site.factory.hub_env}/bin/python3",
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={CULL_S}",
            "--cull-every=5",
        ],
        env=env,
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        culler.terminate()
        culler.wait(30)


def home_text(web, user):
    page = web.get(f"{user.hub_url}/hub/home", timeout=30)
    return re.sub(r"\s+", " ", page.content.decode().replace("&#39;", "'"))


def test_idle_gpus_are_warned_then_stopped_and_the_home_page_says_why(
    quick_idle_policy, hub_user, site
):
    sme = hub_user("sme")
    web = sme.web(site.users["sme"].password)
    start(sme, "", {"profile": "gpu-1", "project": "sme-vision"})
    ready(sme, "")
    [job] = user_jobs("sme")
    utilisation = SIMULATED / job["id"]
    try:
        utilisation.write_text("80\n")  # working: never warned
        time.sleep(GPU_WARN_S + 2 * REPORT_S)
        assert sme.server() is not None
        assert "gpu-idle" not in home_text(web, sme)
        # The card shows the utilisation of the session's last report.
        shown = r"GPU utilisation</dt> ?<dd>80% at \d\d:\d\d"
        wait_for(
            lambda: re.search(shown, home_text(web, sme)), 60, what="the card's GPU utilisation"
        )

        utilisation.write_text("1\n")  # idle from now on
        warned = wait_for(
            lambda: (lambda t: t if "gpu-idle" in t else None)(home_text(web, sme)),
            GPU_WARN_S + 4 * REPORT_S + 10,
            what="the idle-GPU warning",
        )
        assert re.search(
            r"Your session: its GPUs have been idle \(below 5% utilisation\) for "
            r"\d+ seconds?; it will be stopped in \d+ seconds? unless they are used",
            warned,
        ), warned[-2000:]
        wait_for(
            lambda: sme.server() is None,
            GPU_STOP_S + 4 * REPORT_S + 20,
            what="the idle GPU session to be stopped",
        )
        wait_for(lambda: not user_jobs("sme"), 60, what="its job to end")
        assert re.search(
            r"Your session stopped: its GPUs were idle \(below 5% utilisation\) "
            r"for \d+ seconds?, so it was stopped to free them for others",
            home_text(web, sme),
        )
    finally:
        utilisation.unlink(missing_ok=True)


def test_a_session_without_activity_is_culled_and_the_home_page_says_why(
    quick_culler, hub_user, site
):
    trainer = hub_user("trainer")
    web = trainer.web(site.users["trainer"].password)
    start(trainer, "", {"profile": "cpu-small"})
    ready(trainer, "")
    wait_for(
        lambda: trainer.server() is None,
        CULL_S + 60,
        interval=2,
        what="the idle culler to stop the session",
    )
    wait_for(lambda: not user_jobs("trainer"), 60, what="its job to end")
    assert re.search(
        r"Your session stopped: it had no activity for \d+ (seconds|minutes) "
        rf"\(sessions without activity are stopped after {CULL_S} seconds\)",
        home_text(web, trainer),
    ), home_text(web, trainer)[-2000:]
