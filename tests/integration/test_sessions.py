"""Session life cycle with the workbench spawner, against the real cluster and hub:
named servers and the per-user limit, progress with the pending reason, cancel,
an external scancel noticed and explained, a slurmctld restart that kills nothing,
a hub restart that resumes running sessions, and the hardened port callback."""

import json
import re
import time

import pytest
import requests

from ..conftest import restart_hub, run, user_jobs, wait_for

pytestmark = pytest.mark.integration


def start(user, name, options):
    path = f"/users/{user.name}/servers/{name}" if name else f"/users/{user.name}/server"
    response = user.api("POST", path, json=options)
    assert response.status_code in (201, 202), response.text
    return response


def ready(user, name):
    def check():
        server = user.api("GET", f"/users/{user.name}").json()["servers"].get(name)
        assert server is not None, f"server {name!r} disappeared while starting"
        return server if server.get("ready") else None

    return wait_for(check, 180, what=f"{user.name}'s server {name!r} to be ready")


def stop(user, name):
    user.api("DELETE", f"/users/{user.name}/servers/{name}", json={"remove": True})
    wait_for(
        lambda: name not in user.api("GET", f"/users/{user.name}").json()["servers"],
        120,
        what=f"server {name!r} to stop",
    )


def progress_messages(user, name, until, timeout=60):
    """Messages from the hub's progress event stream until one contains ``until``."""
    path = (
        f"/users/{user.name}/servers/{name}/progress"
        if name
        else f"/users/{user.name}/server/progress"
    )
    messages = []
    with user.session.get(f"{user.hub_url}/hub/api{path}", stream=True, timeout=timeout) as r:
        assert r.status_code == 200, r.text
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                messages.append(event.get("message", ""))
                if until in event.get("message", ""):
                    break
    return messages


def test_named_sessions_and_the_per_user_limit(cluster_up, hub_user, site):
    trainer = hub_user("trainer")
    start(trainer, "", {"profile": "cpu-small"})
    start(trainer, "gpu", {"profile": "gpu-1"})
    ready(trainer, "")
    ready(trainer, "gpu")
    try:
        jobs = sorted((j["partition"], j["state"]) for j in user_jobs("trainer"))
        assert jobs == [("cpu", "RUNNING"), ("gpu", "RUNNING")]
        limit = site.hub.max_sessions_per_user
        assert limit == 2
        refused = trainer.api("POST", "/users/trainer/servers/third", json={"profile": "cpu-small"})
        assert refused.status_code == 400, refused.text
        assert "maximum" in refused.json()["message"] or "most allowed" in refused.json()["message"]
        assert len(user_jobs("trainer")) == 2
    finally:
        stop(trainer, "gpu")
    wait_for(lambda: len(user_jobs("trainer")) <= 1, 60, what="the gpu session's job to end")


def test_pending_session_shows_the_reason_and_cancel_leaves_no_job(cluster_up, hub_user):
    # (A request above its project's budget no longer queues: it is refused before
    # submission, see test_budgets.py.)
    sme = hub_user("sme")
    run(["scontrol", "update", "PartitionName=gpu", "State=DOWN"])
    try:
        start(sme, "", {"profile": "gpu-1", "project": "sme-vision"})
        messages = progress_messages(sme, "", until="the partition is down")
        assert any(
            re.search(r"queued on gpu: the partition is down.*position 1 of \d+", m)
            for m in messages
        ), messages
        assert [j["reason"] for j in user_jobs("sme")] == ["PartitionDown"]
        sme.stop_server()
        wait_for(lambda: not user_jobs("sme"), 60, what="the pending job to be cancelled")
    finally:
        run(["scontrol", "update", "PartitionName=gpu", "State=UP"])


def test_external_scancel_is_noticed_and_the_home_page_says_why(cluster_up, hub_user, site):
    trainer = hub_user("trainer")
    start(trainer, "", {"profile": "cpu-small"})
    ready(trainer, "")
    [job] = user_jobs("trainer")
    run(["scancel", job["id"]])
    noticed = site.hub.poll_interval + 2 * site.hub.slurm_steady_poll_interval + 5
    wait_for(
        lambda: trainer.server() is None, noticed, what="the hub to notice the cancelled session"
    )
    web = trainer.web(site.users["trainer"].password)
    home = web.get(f"{trainer.hub_url}/hub/home", timeout=30)
    assert home.status_code == 200 and home.url.endswith("/hub/home"), home.url
    text = re.sub(r"\s+", " ", home.text.replace("&#39;", "'"))
    assert "Your session stopped: the session's job was cancelled" in text, text[-3000:]


def test_slurmctld_restart_kills_no_session(cluster_up, hub_user, site):
    trainer = hub_user("trainer")
    start(trainer, "", {"profile": "cpu-small"})
    server = ready(trainer, "")
    run(["supervisorctl", "stop", "slurmctld"])
    try:
        # Several of the hub's polls while the controller is away.
        time.sleep(site.hub.poll_interval * 2 + site.hub.slurm_poll_interval)
        assert trainer.server() is not None, "the hub dropped a session while Slurm was away"
    finally:
        run(["supervisorctl", "start", "slurmctld"])
        wait_for(
            lambda: run(["scontrol", "ping"], check=False).returncode == 0,
            60,
            what="slurmctld to answer again",
        )
    status = trainer.session.get(f"{trainer.hub_url}{server['url']}api/status", timeout=30)
    assert status.status_code == 200
    assert [j["state"] for j in user_jobs("trainer")] == ["RUNNING"]


def test_port_callback_takes_only_a_starting_servers_token(cluster_up, hub_user, hub_url):
    trainer = hub_user("trainer")
    refused = trainer.api("POST", "/aiworkbench/session-port", json={"port": 40000})
    assert refused.status_code == 403, refused.text
    # batchspawner's handler (it set any attribute named in the body) is gone.
    old = trainer.api("POST", "/batchspawner", json={"port": 40000, "ip": "evil.example"})
    assert old.status_code == 404, old.text
    anonymous = requests.post(
        f"{hub_url}/hub/api/aiworkbench/session-port", json={"port": 40000}, timeout=30
    )
    assert anonymous.status_code == 403


def test_hub_restart_resumes_running_and_queued_sessions(cluster_up, hub_user, hub_url):
    trainer, sme = hub_user("trainer"), hub_user("sme")
    start(trainer, "", {"profile": "cpu-small"})
    running = ready(trainer, "")
    [running_job] = user_jobs("trainer")
    run(["scontrol", "update", "PartitionName=gpu", "State=DOWN"])
    try:
        start(sme, "", {"profile": "gpu-1", "project": "sme-vision"})
        wait_for(
            lambda: [j["reason"] for j in user_jobs("sme")] == ["PartitionDown"],
            30,
            what="sme's session to queue",
        )
        restart_hub(hub_url)
        # The running session is still there, same job, answering through the proxy.
        assert user_jobs("trainer") == [running_job]
        wait_for(
            lambda: (trainer.server() or {}).get("ready"),
            60,
            what="the hub to confirm the running session",
        )
        status = trainer.session.get(f"{hub_url}{running['url']}api/status", timeout=30)
        assert status.status_code == 200, status.text
        # The queued one starts after the restart and is resumed, not lost.
        assert [j["state"] for j in user_jobs("sme")] == ["PENDING"]
    finally:
        run(["scontrol", "update", "PartitionName=gpu", "State=UP"])
    wait_for(
        lambda: [j["state"] for j in user_jobs("sme")] == ["RUNNING"],
        60,
        what="sme's queued session to start",
    )
    url = sme.wait_ready()["url"]
    reached = wait_for(
        lambda: sme.session.get(f"{hub_url}{url}api/status", timeout=30).status_code == 200,
        120,
        what="the resumed session to answer through the proxy",
    )
    assert reached
