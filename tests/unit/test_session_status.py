"""The session's status for its JupyterLab status bar (aiworkbench.jobserver.status):
facts from the job's environment, time left and budget from the workbench API at most
once a minute, the last good values when the API fails, and Slurm's end warning."""

import asyncio
import os
import signal
import threading

from aiworkbench.jobserver.status import SessionStatus, install_end_signal, release_session
from aiworkbench.widgets.api_client import WorkbenchAPIError, WorkbenchAPIUnreachable
from tests.fakes import BUDGETS

JOB = {
    "SLURM_JOB_ID": "481",
    "SLURMD_NODENAME": "node-1",
    "SLURM_JOB_PARTITION": "gpu",
    "SLURM_JOB_ACCOUNT": "edu-intro",
    "SLURM_CPUS_PER_TASK": "2",
    "CUDA_VISIBLE_DEVICES": "0,1",
}
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


class FakeAPI:
    """``budgets/PROJECT``: BUDGETS, or each of ``answers`` in turn (an exception is
    raised); every path asked is recorded."""

    def __init__(self, *answers):
        self.answers, self.paths = list(answers), []

    def __call__(self, path, params=None):
        self.paths.append(path)
        answer = self.answers.pop(0) if self.answers else BUDGETS
        if isinstance(answer, Exception):
            raise answer
        return answer


class Source:
    def __init__(self, *samples):
        self.samples = list(samples)

    def sample(self):
        return self.samples.pop(0) if self.samples else None


def status(api=None, environ=JOB, gpu=None, clock=None):
    return SessionStatus(
        environ, fetch=api or FakeAPI(), clock=clock or Clock(), gpu=lambda: gpu or Source()
    )


def test_the_answer_has_the_jobs_facts_its_time_left_and_its_projects_budget():
    clock = Clock()
    s = status(clock=clock)
    s.refresh()
    answer = s.to_json()
    assert {k: answer[k] for k in ("job_id", "node", "partition", "project", "cpus", "gpus")} == {
        "job_id": "481",
        "node": "node-1",
        "partition": "gpu",
        "project": "edu-intro",
        "cpus": 2,
        "gpus": 2,
    }
    assert answer["gpu_kind"] in ("nvidia", "simulated")
    # 3000 s left as of the API's read of Slurm, 30 s before its answer
    assert answer["ends_at"] == T0 - 30 + 3000 and answer["time_left_s"] == 2970
    # 600 - 492 GPU-minutes left; the CPU budget has no limit
    assert answer["budget"] == {
        "project": "edu-intro",
        "gpu_hours_left": 1.8,
        "core_hours_left": None,
    }
    assert answer["ending"] is False and answer["ending_since"] is None
    assert answer["error"] == ""
    clock.now += 70  # the countdown runs without asking again
    assert s.to_json()["time_left_s"] == 2900
    clock.now += 10_000
    assert s.to_json()["time_left_s"] == 0


def test_the_project_is_quoted_into_the_path():
    api = FakeAPI()
    status(api, {**JOB, "SLURM_JOB_ACCOUNT": "has space/x"}).refresh()
    assert api.paths == ["budgets/has%20space%2Fx"]


def test_the_api_is_asked_at_most_once_a_minute_whatever_the_number_of_tabs():
    api, clock = FakeAPI(), Clock()
    s = status(api, clock=clock)

    async def tabs(n):
        return await asyncio.gather(*(s.read() for _ in range(n)))

    async def a_minute_of_polling():  # one event loop, as in the server
        answers = await tabs(8)
        assert len(api.paths) == 1 and all(a == answers[0] for a in answers)
        clock.now += 59
        await tabs(3)
        assert len(api.paths) == 1
        clock.now += 1
        await tabs(3)
        assert len(api.paths) == 2

    asyncio.run(a_minute_of_polling())


def test_an_extended_walltime_shows_at_the_next_answer():
    extended = {
        **BUDGETS,
        "projects": [
            {
                **BUDGETS["projects"][0],
                "jobs": [{**BUDGETS["projects"][0]["jobs"][0], "time_left_s": 3000 + 3600 - 60}],
            }
        ],
    }
    clock = Clock()
    s = status(FakeAPI(BUDGETS, extended), clock=clock)
    s.refresh()
    before = s.to_json()["ends_at"]
    clock.now += 60
    s.refresh()
    assert s.to_json()["ends_at"] == before + 3600


def test_when_the_api_fails_the_last_good_values_stay_and_the_error_says_why():
    clock = Clock()
    s = status(
        FakeAPI(
            BUDGETS,
            WorkbenchAPIUnreachable("connection refused"),
            WorkbenchAPIError("you are not a member (HTTP 403)", 403),
        ),
        clock=clock,
    )
    s.refresh()
    good = s.to_json()
    for expected in (
        "the workbench API does not answer (connection refused)",
        "the workbench API refused: you are not a member (HTTP 403)",
    ):
        clock.now += 60
        s.refresh()
        answer = s.to_json()
        assert answer["error"] == expected
        assert answer["ends_at"] == good["ends_at"] and answer["budget"] == good["budget"]
    clock.now += 60
    s.refresh()
    assert s.to_json()["error"] == ""  # answered again


def test_a_job_the_api_does_not_list_yet_has_no_end_and_a_missing_project_is_said():
    s = status(FakeAPI({**BUDGETS, "projects": [{**BUDGETS["projects"][0], "jobs": []}]}))
    s.refresh()
    assert s.to_json()["ends_at"] is None and s.to_json()["time_left_s"] is None
    assert s.to_json()["budget"]["gpu_hours_left"] == 1.8
    s = status(FakeAPI({**BUDGETS, "projects": []}))
    s.refresh()
    assert s.to_json()["error"] == "the workbench API does not list project edu-intro"
    assert s.to_json()["budget"] is None


def test_an_answer_of_another_shape_keeps_the_last_good_values():
    clock = Clock()
    odd = {**BUDGETS, "projects": [{"project": "edu-intro", "jobs": ["481"]}]}
    s = status(FakeAPI(BUDGETS, odd), clock=clock)
    s.refresh()
    good = s.to_json()
    clock.now += 60
    s.refresh()
    assert "unexpected shape" in s.to_json()["error"]
    assert s.to_json()["budget"] == good["budget"] and s.to_json()["ends_at"] == good["ends_at"]


def test_stale_budget_numbers_are_said():
    s = status(FakeAPI({**BUDGETS, "stale": True, "error": "sshare timed out"}))
    s.refresh()
    assert s.to_json()["error"] == "the budget may be out of date: sshare timed out"
    assert s.to_json()["budget"] is not None


def test_outside_a_slurm_job_nothing_is_asked():
    api = FakeAPI()
    s = status(api, environ={})
    s.refresh()
    assert api.paths == [] and s.to_json()["job_id"] is None
    assert "not a Slurm job" in s.to_json()["error"]


def test_gpu_utilisation_is_the_mean_of_the_jobs_gpus_sampled_at_most_every_10_s():
    clock = Clock()
    s = status(gpu=Source([40.0, 50.0], [90.0, 100.0], None), clock=clock)
    s.refresh()
    assert s.to_json()["gpu_utilisation"] == 45.0
    clock.now += 5
    s.refresh()
    assert s.to_json()["gpu_utilisation"] == 45.0  # not sampled again yet
    clock.now += 5
    s.refresh()
    assert s.to_json()["gpu_utilisation"] == 95.0
    clock.now += 10
    s.refresh()
    assert s.to_json()["gpu_utilisation"] is None  # nothing known now


def test_a_cpu_session_has_no_gpu_utilisation_and_never_opens_a_source():
    opened = []
    s = SessionStatus(
        {**JOB, "CUDA_VISIBLE_DEVICES": ""},
        fetch=FakeAPI(),
        clock=Clock(),
        gpu=lambda: opened.append(1),
    )
    s.refresh()
    answer = s.to_json()
    assert answer["gpus"] == 0 and answer["gpu_kind"] == "none"
    assert answer["gpu_utilisation"] is None and opened == []


def test_the_end_signal_handler_marks_the_session_as_ending_once():
    clock = Clock()
    s = status(clock=clock)
    s.end_signalled(signal.SIGUSR1, None)
    clock.now += 30
    s.end_signalled(signal.SIGUSR1, None)  # a second warning keeps the first time
    assert s.to_json()["ending"] is True and s.to_json()["ending_since"] == T0


def test_sigusr1_marks_the_session_as_ending_keeps_the_process_and_the_old_handler():
    before = signal.getsignal(signal.SIGUSR1)
    earlier = []
    try:
        signal.signal(signal.SIGUSR1, lambda signum, frame: earlier.append(signum))
        s = status()
        assert install_end_signal(s)
        os.kill(os.getpid(), signal.SIGUSR1)  # handled in this (the main) thread
        assert s.to_json()["ending"] is True
        assert earlier == [signal.SIGUSR1]  # jupyter_server's own handler still runs
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_outside_the_main_thread_the_end_signal_is_not_handled_and_that_is_logged():
    warnings, installed = [], []

    class Log:
        def warning(self, *args):
            warnings.append(args[0] % args[1:])

    thread = threading.Thread(target=lambda: installed.append(install_end_signal(status(), Log())))
    thread.start()
    thread.join()
    assert installed == [False] and "not handled" in warnings[0]


def test_outside_workbench_sessions_the_extension_registers_nothing(monkeypatch):
    from aiworkbench.jobserver import extension

    monkeypatch.delenv("AIWORKBENCH_API_URL", raising=False)
    before = signal.getsignal(signal.SIGUSR1)
    extension._load_jupyter_server_extension(object())  # touches no attribute of it
    assert signal.getsignal(signal.SIGUSR1) is before


def test_the_hubs_idle_gpu_warning_reaches_gpu_sessions_only():
    warned = "its GPUs have been idle (below 5% utilisation) for 31 minutes"
    gpu = SessionStatus(
        JOB, fetch=FakeAPI(), clock=Clock(), gpu=lambda: Source(), notice=lambda: warned
    )
    cpu = SessionStatus(
        {**JOB, "CUDA_VISIBLE_DEVICES": ""},
        fetch=FakeAPI(),
        clock=Clock(),
        gpu=lambda: Source(),
        notice=lambda: warned,
    )
    assert gpu.to_json()["gpu_notice"] == warned and cpu.to_json()["gpu_notice"] == ""


def test_the_latest_idle_gpu_warning_is_kept_only_while_the_reports_are_recent(monkeypatch):
    from aiworkbench.sessions import gpu_metrics

    monkeypatch.setitem(gpu_metrics._LATEST, "notice", "idle")
    monkeypatch.setitem(gpu_metrics._LATEST, "at", 1000.0)
    assert gpu_metrics.latest_notice(180, now=1100) == "idle"
    assert gpu_metrics.latest_notice(180, now=1200) == ""


def test_releasing_asks_the_hub_to_stop_this_very_server_with_its_own_token():
    asked = []

    def delete(url, **kwargs):
        asked.append((url, kwargs["headers"]))

    env = {
        "JUPYTERHUB_API_URL": "http://10.77.0.1:8081/hub/api/",
        "JUPYTERHUB_USER": "has@x",
        "JUPYTERHUB_API_TOKEN": "secret",
        "JUPYTERHUB_SERVER_NAME": "",
    }
    release_session(env, post=delete)
    release_session({**env, "JUPYTERHUB_SERVER_NAME": "gpu run"}, post=delete)
    assert asked == [
        ("http://10.77.0.1:8081/hub/api/users/has%40x/server", {"Authorization": "token secret"}),
        (
            "http://10.77.0.1:8081/hub/api/users/has%40x/servers/gpu%20run",
            {"Authorization": "token secret"},
        ),
    ]
