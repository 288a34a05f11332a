"""Idle protection: the idle-GPU tracker, the metrics sources, the culler's wiring, and the
reasons a stopped session's home page gives."""

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

from traitlets.config import Config

from aiworkbench.core.units import duration_text
from aiworkbench.hub import services
from aiworkbench.hub.config import apply_idle, apply_site
from aiworkbench.sessions.capacity import CapacityReader
from aiworkbench.sessions.gpu_idle import GpuIdleTracker
from aiworkbench.sessions.gpu_metrics import SimulatedSource, report_gpu_activity, source_from_env

from .test_services import TOKENS
from .test_spawner import SITE, hub_objects, make_spawner


def test_durations_read_well():
    assert duration_text(45) == "45 seconds"
    assert duration_text(600) == "10 minutes"
    assert duration_text(7500) == "2 h 05 min"


def test_tracker_warns_then_stops_and_busy_gpus_reset_it():
    tracker = GpuIdleTracker(threshold=5, warn_after=600, stop_after=1200)
    assert tracker.report([2.0, 1.0], now=0) == "idle"
    assert tracker.report([0.0, 0.0], now=599) == "idle"
    assert tracker.report([0.0, 0.0], now=600) == "warn"
    assert tracker.warning(600) == (
        "its GPUs have been idle (below 5% utilisation) for 10 minutes; it will be stopped "
        "in 10 minutes unless they are used (stop it yourself to free them sooner)"
    )
    assert tracker.report([90.0, 0.0], now=700) == "busy"  # mean 45%: working
    assert tracker.idle_since is None
    assert tracker.report([0.0, 0.0], now=800) == "idle"
    assert tracker.report([4.9, 4.9], now=2000) == "stop"
    assert tracker.stop_reason(2000) == (
        "its GPUs were idle (below 5% utilisation) for 20 minutes, so it was stopped to "
        "free them for others"
    )


def test_tracker_with_stop_off_only_warns():
    tracker = GpuIdleTracker(threshold=5, warn_after=60, stop_after=0)
    tracker.report([0.0], now=0)
    assert tracker.report([0.0], now=10**6) == "warn"
    assert "will be stopped" not in tracker.warning(10**6)


def test_simulated_source_reads_its_jobs_file_only(tmp_path):
    source = SimulatedSource(str(tmp_path), "77")
    assert source.sample() is None  # nothing played yet: unknown, not idle
    (tmp_path / "77").write_text("12.5 150 -3\n")
    assert source.sample() == [12.5, 100.0, 0.0]
    (tmp_path / "77").write_text("busy\n")
    assert source.sample() is None


def test_source_is_chosen_from_the_environment(tmp_path):
    env = {"AIWORKBENCH_GPU_METRICS": f"simulated:{tmp_path}", "SLURM_JOB_ID": "12"}
    source = source_from_env(env)
    assert isinstance(source, SimulatedSource) and source.path == f"{tmp_path}/12"
    assert source_from_env({}).name == "none"
    assert source_from_env({**env, "SLURM_JOB_ID": "../etc"}).name == "none"
    # Without NVIDIA's library or driver: nothing measured, said once, no crash.
    assert source_from_env({"AIWORKBENCH_GPU_METRICS": "nvml"}).name in ("none", "nvml")


def test_the_reporter_posts_samples_with_the_sessions_token(tmp_path, monkeypatch):
    received = []

    class Hub(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Authorization"], json.loads(body)))
            answer = json.dumps({"verdict": "warn", "notice": "its GPUs have been idle"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("JUPYTERHUB_API_URL", f"http://127.0.0.1:{server.server_port}/hub/api")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "session-token")
    (tmp_path / "5").write_text("0 1")
    stop = threading.Event()
    thread = threading.Thread(
        target=report_gpu_activity, args=(SimulatedSource(str(tmp_path), "5"), 0.05, stop)
    )
    thread.start()
    deadline = time.monotonic() + 10
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    server.shutdown()
    assert received[0] == (
        "/hub/api/aiworkbench/gpu-activity",
        "token session-token",
        {"utilisation": [0.0, 1.0]},
    )
    assert not thread.is_alive()


def test_site_idle_settings_become_the_culler_service_and_spawner_policy():
    c = Config()
    apply_site(c, SITE, gpu_kind="simulated", tokens=TOKENS)
    [culler] = [s for s in c.JupyterHub.services if s["name"] == "idle-culler"]
    # An external service, run by the supervisor (aiworkbench-service idle-culler).
    assert culler == {"name": "idle-culler", "api_token": TOKENS["idle-culler"]}
    assert services.service(SITE, "idle-culler").args == (
        "-m",
        "jupyterhub_idle_culler",
        "--timeout=7200",
        "--cull-every=300",
    )
    [role] = [r for r in c.JupyterHub.load_roles if r["name"] == "idle-culler"]
    assert set(role["scopes"]) == {
        "list:users",
        "read:users:activity",
        "read:servers",
        "delete:servers",
    }
    assert c.WorkbenchSpawner.gpu_idle_stop == 3600.0
    assert c.WorkbenchSpawner.gpu_metrics == "simulated:/var/lib/aiworkbench-gpu-sim"
    # A drop-in may tighten the policy; the culler is replaced, not doubled.
    apply_idle(
        c, culler=None, cull_idle_s=0, gpu_threshold=5, gpu_warn_s=10, gpu_stop_s=20, gpu_report_s=5
    )
    assert [s["name"] for s in c.JupyterHub.services] == ["workbench", "dashboards"]
    assert c.WorkbenchSpawner.cull_idle_timeout == 0.0


def test_site_wires_the_api_service_and_its_scopes():
    c = Config()
    apply_site(c, SITE, gpu_kind="simulated", tokens=TOKENS)
    [api] = [s for s in c.JupyterHub.services if s["name"] == "workbench"]
    assert api["url"] == "http://127.0.0.1:8090"
    # External: the supervisor runs it (aiworkbench-service workbench), not the hub.
    assert "command" not in api and api["api_token"] == TOKENS["workbench"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["budget-readers"]["groups"] == ["managers", "admins"]
    assert roles["budget-readers"]["scopes"] == ["custom:workbench:budgets:read-all"]
    assert "access:services!service=workbench" in roles["user"]["scopes"]
    assert "access:services!service=workbench" in c.Spawner.server_token_scopes
    assert c.WorkbenchSpawner.api_url == "http://10.77.0.1:8000/services/workbench/api"


def test_gpu_sessions_get_the_metrics_source_and_api_in_their_environment():
    spawner = make_spawner({"profile": "gpu-1"})
    spawner.api_url, spawner.gpu_metrics = "http://hub:8000/services/workbench/api", "nvml"
    spawner.apply_request(spawner.validated_request())
    env = spawner.workbench_env()
    assert env["AIWORKBENCH_API_URL"] == "http://hub:8000/services/workbench/api"
    assert env["AIWORKBENCH_GPU_METRICS"] == "nvml"
    cpu = make_spawner({"profile": "cpu-small"})
    cpu.gpu_metrics = "nvml"
    cpu.apply_request(cpu.validated_request())
    assert "AIWORKBENCH_GPU_METRICS" not in cpu.workbench_env()


def test_without_a_gpu_kind_a_gpu_session_asks_slurm_once_how_to_measure_its_gpus():
    """The configuration sets no GPU kind (it runs no command): the first GPU session
    reads Slurm's GRES through the hub's capacity reader, once for the hub."""
    asked = []

    async def sinfo(argv, **kwargs):
        asked.append(argv[0])
        return "g1|gpu|0/64/0/64|gpu:a100:4|gpu:a100:0|idle|\n"

    shared = hub_objects()
    shared.capacity = CapacityReader(30.0, run=sinfo)
    spawner = make_spawner({"profile": "gpu-1"}, shared=shared)
    assert spawner.gpu_kind == "" and spawner.gpu_metrics is None
    assert spawner.known_gpu_kind == "" and asked == []
    assert asyncio.run(spawner.read_gpu_kind()) == "nvidia" and asked == ["sinfo"]
    spawner.apply_request(spawner.validated_request())
    assert spawner.workbench_env()["AIWORKBENCH_GPU_METRICS"] == "nvml"
    other = make_spawner({"profile": "gpu-1"}, shared=shared)
    assert asyncio.run(other.read_gpu_kind()) == "nvidia" and asked == ["sinfo"]


def test_a_session_stopped_after_the_cull_timeout_says_it_was_idle():
    spawner = make_spawner({})
    spawner.cull_idle_timeout = 3600
    now = datetime.now(UTC).replace(tzinfo=None)
    spawner.orm_spawner = SimpleNamespace(last_activity=now - timedelta(minutes=75), server=None)
    assert spawner.idle_reason() == (
        "it had no activity for 75 minutes (sessions without activity are stopped after 60 minutes)"
    )
    spawner.orm_spawner.last_activity = now - timedelta(minutes=5)
    assert spawner.idle_reason() == ""
    spawner.cull_idle_timeout = 0
    spawner.orm_spawner.last_activity = now - timedelta(days=5)
    assert spawner.idle_reason() == ""


def test_idle_gpu_reports_warn_then_set_the_stop_reason():
    spawner = make_spawner({"profile": "gpu-1"})
    spawner.gpu_idle_threshold, spawner.gpu_idle_warn, spawner.gpu_idle_stop = 5, 60, 120
    assert spawner.gpu_report([0.0], 1000) == "idle" and spawner.gpu_notice == ""
    assert spawner.gpu_report([0.0], 1060) == "warn"
    assert spawner.gpu_notice.startswith("its GPUs have been idle (below 5% utilisation)")
    assert spawner.gpu_report([0.0], 1120) == "stop"
    assert spawner.ended_reason.startswith("its GPUs were idle (below 5% utilisation) for")


def test_nvml_source_reads_the_jobs_own_gpus(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("pynvml")
    fake.NVMLError = RuntimeError
    fake.nvmlInit = lambda: None
    fake.nvmlDeviceGetCount = lambda: 4
    fake.nvmlDeviceGetHandleByIndex = lambda i: i
    fake.nvmlDeviceGetUtilizationRates = lambda h: SimpleNamespace(gpu=[5, 60, 70, 80][h])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    source = source_from_env({"AIWORKBENCH_GPU_METRICS": "nvml", "SLURM_JOB_GPUS": "1,3"})
    assert source.name == "nvml" and source.sample() == [60.0, 80.0]


def test_a_session_row_says_whose_gpus_idle_since_when():
    from aiworkbench.sessions.gpu_idle import session_row

    spawner = make_spawner({"profile": "gpu-1"})
    spawner.apply_request(spawner.validated_request())
    spawner.job_id = "4242"
    spawner.gpu_report([0.0], 1_700_000_000.0)  # idle from this report on
    row = session_row("student", spawner)
    assert (row["job_id"], row["project"], row["partition"], row["gpus"]) == (
        "4242",
        spawner.request.project,
        "gpu",
        1,
    )
    assert row["gpu_idle_since"] == "2023-11-14T22:13:20Z"
    spawner.request = None  # after a hub restart: read again from user_options
    assert session_row("student", spawner)["partition"] == "gpu"
