"""The factory's daemons run under the supervisor (Debian's supervisor on this box, which
has no systemd): each one killed with SIGKILL is back within seconds, answering again,
while a running session and the accounting survive; a hub service that cannot start
takes nothing down and leaves no orphan behind."""

from __future__ import annotations

import functools
import os
import signal
import smtplib
import socket
import time

import pytest
import requests

from aiworkbench.core.daemons import DAEMONS, program

from ..conftest import HubUser, run, user_jobs, wait_for

pytestmark = pytest.mark.integration
BACK_WITHIN = 60  # seconds for a killed daemon to be restarted and answer again
API = "/services/workbench/api"


def supervised_pid(name: str) -> int:
    out = run(["supervisorctl", "pid", name], check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def status(name: str) -> str:
    return run(["supervisorctl", "status", name], check=False).stdout


@pytest.fixture(scope="module")
def running_session(site, hub_url, hub_up, cluster_up):
    """The trainer's session, running, and a finished job of the sme in accounting."""
    trainer = HubUser(hub_url, "trainer", site.users["trainer"].password)
    if trainer.server() is not None:
        trainer.stop_server()
    response = trainer.api("POST", "/users/trainer/server", json={"profile": "cpu-small"})
    assert response.status_code in (201, 202), response.text
    server = trainer.wait_ready()
    job = (
        run(
            [
                "sbatch",
                "--parsable",
                "--wait",
                "--partition=cpu",
                "--account=sme-vision",
                "--time=1",
                "--output=/dev/null",
                "--chdir=/tmp",
                "--wrap=true",
            ],
            user="sme",
            timeout=180,
        )
        .stdout.strip()
        .split(";")[0]
    )
    yield trainer, server, job
    trainer.stop_server()


def answers(check) -> bool:
    try:
        return bool(check())
    except (AssertionError, OSError, requests.RequestException):
        return False


def restarted(name, before) -> bool:
    """The supervisor runs ``name`` again, under a new process id."""
    return supervised_pid(name) not in (0, before) and "RUNNING" in status(name)


def smtp_answers(port: int) -> bool:
    """The mail server greets a client on loopback (what the hub's help page needs)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as server:
        return server.noop()[0] == 250


def checks(site, hub_url, trainer):
    """Each supervised program, with a check that it answers as its clients need."""
    node = site.slurm.node_name or socket.gethostname().split(".")[0]

    def slurmd_up(name):
        state = run(
            ["sinfo", "--noheader", "--nodes", name, "--format", "%T"], check=False
        ).stdout.strip()
        return (
            run(["scontrol", "ping"], check=False).returncode == 0
            and state
            and not state.endswith("*")
            and not state.startswith(("down", "drain"))
        )

    return {
        program("munged"): lambda: (
            run(["sh", "-c", "munge -n | unmunge"], check=False).returncode == 0
        ),
        program("mariadb"): lambda: (
            run(["mariadb", "--execute", "SELECT 1"], check=False).returncode == 0
        ),
        program("postgresql"): lambda: (
            run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    "psql",
                    "--no-psqlrc",
                    "--host",
                    DAEMONS["postgresql"]["socket_dir"],
                    "--command",
                    "SELECT 1",
                ],
                check=False,
            ).returncode
            == 0
        ),
        program("slurmdbd"): lambda: (
            run(["sacctmgr", "--noheader", "show", "cluster"], check=False).returncode == 0
        ),
        program("slurmctld"): lambda: "UP" in run(["scontrol", "ping"], check=False).stdout,
        program("slurmd", node=node): lambda: slurmd_up(node),
        program("slurmd", node="cn01"): lambda: slurmd_up("cn01"),
        program("hub"): lambda: requests.get(f"{hub_url}/hub/api", timeout=5).status_code == 200,
        program("workbench_api"): lambda: (
            trainer.session.get(f"{hub_url}{API}/budgets", timeout=10).status_code == 200
        ),
        program("idle_culler"): lambda: "RUNNING" in status(program("idle_culler")),
        program("exim"): lambda: smtp_answers(DAEMONS["exim"]["port"]),
        program("dashboards"): lambda: (
            requests.get(
                f"http://127.0.0.1:{site.dashboards.port}/services/dashboards/",
                timeout=10,
                allow_redirects=False,
            ).status_code
            in (200, 302)
        ),
    }


def test_every_daemon_killed_is_back_and_the_session_and_accounting_survive(
    site, hub_url, running_session
):
    trainer, server, job = running_session
    took = {}
    for name, check in checks(site, hub_url, trainer).items():
        assert answers(check), f"{name} does not answer before the test: {status(name)}"
        before = supervised_pid(name)
        assert before, f"{name} is not run by the supervisor: {status(name)}"
        killed = time.monotonic()
        os.kill(before, signal.SIGKILL)
        wait_for(
            functools.partial(restarted, name, before),
            BACK_WITHIN,
            interval=0.5,
            what=f"the supervisor to restart {name}",
        )
        wait_for(
            functools.partial(answers, check),
            BACK_WITHIN,
            interval=0.5,
            what=f"{name} to answer again after SIGKILL",
        )
        took[name] = round(time.monotonic() - killed, 1)
    print("seconds from SIGKILL to answering again:", took)

    # The session is still there, and answers through the proxy.
    assert trainer.server() is not None, "the hub lost the session"
    status_url = f"{hub_url}{server['url']}api/status"
    wait_for(
        lambda: answers(lambda: trainer.session.get(status_url, timeout=10).status_code == 200),
        60,
        what="the session to answer",
    )
    assert [j["state"] for j in user_jobs("trainer")] == ["RUNNING"]
    # The accounting kept the job from before.
    wait_for(
        lambda: (
            run(
                ["sacct", "--noheader", "--parsable2", "-X", "-j", job, "--format=State"],
                check=False,
            ).stdout.strip()
            == "COMPLETED"
        ),
        60,
        what="sacct to list the job from before",
    )


def service_processes(name: str) -> list[str]:
    """Command lines of processes that run hub service ``name`` (aiworkbench-service)."""
    found = []
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            with open(f"/proc/{proc}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(
            a.endswith(b"aiworkbench-api" if name == "workbench" else b"aiworkbench-dashboards")
            for a in argv[:3]
        ):
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


def test_a_service_that_cannot_start_takes_nothing_down_and_leaves_no_orphan(site, hub_url, hub_up):
    name = program("workbench_api")
    run(["supervisorctl", "stop", name])
    holder = socket.socket()
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", site.hub.api_port))
        holder.listen()
        run(["supervisorctl", "start", name], check=False, timeout=180)
        wait_for(
            lambda: any(s in status(name) for s in ("BACKOFF", "FATAL", "STARTING")),
            30,
            what=f"{name} to fail at start",
        )
        # The hub goes on serving while its service cannot start.
        assert requests.get(f"{hub_url}/hub/api", timeout=10).status_code == 200
        run(["supervisorctl", "stop", name], check=False)
        wait_for(
            lambda: service_processes("workbench") == [],
            30,
            what="no process of the failed service to be left",
        )
    finally:
        holder.close()
    run(["supervisorctl", "start", name])
    wait_for(
        lambda: answers(
            lambda: (
                requests.get(
                    f"{hub_url}{API}/status", timeout=10, allow_redirects=False
                ).status_code
                in (200, 302, 401, 403)
            )
        ),
        60,
        what="the workbench API to answer again",
    )
    assert "RUNNING" in status(name)
