"""aiworkbench.budget(): the model, the API client, the CLI and the widget's refresher."""

import copy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import aiworkbench
from aiworkbench.budgets.cli import main
from aiworkbench.budgets.widget import (
    BudgetError,
    BudgetMonitor,
    BudgetUnreachable,
    build_view,
    burn_text,
    check_refresh,
    duration,
    fetch_budgets,
    format_table,
    project_html,
    status_html,
)

from ..fakes import BUDGETS as PAYLOAD
from ..fakes import refusal

T0 = 1795452817.0  # 2026-11-23 16:53:37 UTC, when the test client received the answer


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def budget_of(view, project, kind):
    return next(b for b in view.budgets if b.project == project and b.kind == kind)


def test_hours_percent_levels_and_warnings():
    view = build_view(PAYLOAD, "481", T0)
    gpu = budget_of(view, "edu-intro", "gpu")
    assert (gpu.used, gpu.limit, gpu.left, gpu.available) == (492, 600, 108, 98)
    assert gpu.percent == 82.0 and gpu.warning == "warning: 82% of the GPU budget used"
    assert budget_of(view, "edu-intro", "cpu").warning == "no CPU limit"
    assert budget_of(view, "ml-research", "gpu").warning == "no GPU budget"
    assert budget_of(view, "ml-research", "cpu").warning == "critical: 96% of the CPU budget used"
    assert budget_of(view, "old-course", "gpu").warning == "exhausted: GPU budget used up (105%)"
    assert budget_of(view, "old-course", "cpu").warning == "10% of the CPU budget used"
    assert view.projects == ["edu-intro", "ml-research", "old-course"]


def test_session_burn_rate_projection_and_walltime_countdown():
    view = build_view(PAYLOAD, "481", T0)
    assert view.read_at == T0 - 30
    gpu, cpu = budget_of(view, "edu-intro", "gpu"), budget_of(view, "edu-intro", "cpu")
    assert (gpu.session, cpu.session) == (1, 2)
    assert budget_of(view, "ml-research", "cpu").session == 0  # not charged there
    assert gpu.lasts(1) == 108 * 60 and gpu.lasts(3) == 36 * 60 and cpu.lasts(2) is None
    # time_left_s 3000 as of the read, 30 s before the answer arrived; then our clock runs
    assert view.walltime_left(T0) == 2970
    assert view.walltime_left(T0 + 600) == 2370
    assert view.walltime_left(T0 + 9999) == 0
    text = format_table(PAYLOAD, "481")
    assert "This session: job 481, project edu-intro, 1 GPU and 2 cores, walltime left" in text
    assert (
        "  GPU: this session burns 1 GPU-h/h; what is left lasts 1 h 48 min at this rate, "
        "36 min at the project's rate (3 GPUs in use)"
    ) in text.splitlines()
    assert "  CPU: this session burns 2 core-h/h (no limit)" in text.splitlines()


def test_budget_that_runs_out_before_the_session_ends_says_so():
    payload = copy.deepcopy(PAYLOAD)
    payload["projects"][0]["jobs"][0]["time_left_s"] = 8 * 3600
    view = build_view(payload, "481", T0)
    assert burn_text(budget_of(view, "edu-intro", "gpu"), view.walltime_left(T0)) == (
        "GPU: this session burns 1 GPU-h/h; what is left lasts 1 h 48 min at this rate, "
        "before this session ends, 36 min at the project's rate (3 GPUs in use)"
    )


def test_session_not_found_or_outside_slurm():
    assert build_view(PAYLOAD, "999", T0).session is None
    assert "job 999) is not among" in format_table(PAYLOAD, "999")
    assert "This session" not in format_table(PAYLOAD, None)


def test_table_lines():
    lines = format_table(PAYLOAD).splitlines()
    assert lines[0].startswith("Budgets of student, numbers from ")
    assert lines[1].split() == ["project", "budget", "used", "limit", "left", "yours", "status"]
    assert lines[2].split() == [
        "edu-intro",
        "GPU-h",
        "8.2",
        "10.0",
        "1.8",
        "2.0",
        "warning:",
        "82%",
        "of",
        "the",
        "GPU",
        "budget",
        "used",
    ]
    assert lines[3].split()[:6] == ["edu-intro", "core-h", "25.0", "no", "limit", "—"]
    assert lines[4].split()[:5] == ["ml-research", "GPU-h", "0.0", "none", "—"]


def test_durations():
    assert [duration(s) for s in (None, 59, 60, 2700, 9000, 4 * 86400 + 5 * 3600 + 60)] == [
        "—",
        "under 1 min",
        "1 min",
        "45 min",
        "2 h 30 min",
        "4 d 5 h",
    ]


def test_refresh_is_checked():
    assert check_refresh(5) == 5.0
    for bad in (4.9, 0, -1, True, "60", None, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="refresh must be a number of seconds, at least 5"):
            aiworkbench.budget(refresh=bad)


def test_monitor_keeps_last_numbers_when_the_api_goes_away():
    clock = [T0]
    answers = [
        PAYLOAD,
        BudgetUnreachable("[Errno 111] Connection refused"),
        BudgetUnreachable("timed out"),
    ]

    def fetch():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monitor = BudgetMonitor(fetch, "481", clock=lambda: clock[0])
    assert monitor.status() == ("loading", "Loading budgets…")
    assert monitor.refresh()
    assert monitor.status() == ("fresh", "Budgets of student, numbers from 16:53:07")
    clock[0] = T0 + 33
    assert not monitor.refresh()
    clock[0] = T0 + 93
    assert not monitor.refresh()
    assert monitor.view.read_at == T0 - 30
    assert monitor.status() == (
        "unreachable",
        "API unreachable since 16:54:10: timed out; numbers from 16:53:07",
    )
    assert "warning: 82% of the GPU budget used" in monitor.text()


def test_stale_answer_from_the_api():
    payload = dict(PAYLOAD, stale=True, error="sshare: timed out", age_s=150)
    monitor = BudgetMonitor(lambda: payload, clock=lambda: T0)
    monitor.refresh()
    assert monitor.status() == (
        "stale",
        "Stale: Slurm accounting did not answer: "
        "sshare: timed out; numbers from 16:51:07 (2 min ago)",
    )


def test_refused_and_odd_answers_are_shown_not_raised():
    monitor = BudgetMonitor(lambda: {"projects": [{"project": "x", "gpu": {}}]}, clock=lambda: T0)
    assert not monitor.refresh()
    assert monitor.status() == ("error", "unexpected KeyError: 'level'; no numbers yet")
    missing = BudgetMonitor(lambda: fetch_budgets(environ={}), clock=lambda: T0)
    missing.refresh()
    assert missing.status()[1].startswith("AIWORKBENCH_API_URL is not set")


def test_html_escapes_hostile_names_and_errors():
    evil = "<script>alert(1)</script>"
    payload = copy.deepcopy(PAYLOAD)
    payload["projects"][0]["project"] = evil
    view = build_view(payload, "481", T0)
    out = project_html(view, evil, T0, stale=True) + status_html("error", f"HTTP 500: {evil}")
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "opacity:0.55" in out and "width:82.0%" in out and "#ef6c00" in out


def test_no_bar_without_a_budget():
    view = build_view(PAYLOAD, None, T0)
    out = project_html(view, "ml-research", T0, stale=False)
    assert "no GPU budget" in out and out.count("width:") == 2  # one bar (its two divs): the CPU's


# --- the client and the CLI against a real HTTP server ---------------------------------


class Api(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != "token s3cret":
            return self.answer(403, refusal(403, "bad token"))
        if self.path.startswith("/broken/"):
            return self.answer(500, refusal(500, "Internal Server Error"))
        if self.path.endswith("/budgets/secret"):
            return self.answer(403, refusal(403, "you are not a member of project secret"))
        self.answer(200, PAYLOAD)

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def env_for(server, prefix="", token="s3cret", slash=""):
    return {
        "AIWORKBENCH_API_URL": f"http://127.0.0.1:{server.server_port}{prefix}/api{slash}",
        "JUPYTERHUB_API_TOKEN": token,
    }


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_client_sends_token_and_query(api):
    assert fetch_budgets(environ=env_for(api, slash="/")) == PAYLOAD
    fetch_budgets(all_projects=True, environ=env_for(api))
    fetch_budgets(project="edu-intro", environ=env_for(api))
    assert api.seen == [
        ("/api/budgets", "token s3cret"),
        ("/api/budgets?all=true", "token s3cret"),
        ("/api/budgets/edu-intro", "token s3cret"),
    ]


def test_client_errors(api):
    with pytest.raises(
        BudgetError, match=r"^you are not a member of project secret \(HTTP 403\)$"
    ) as refused:
        fetch_budgets(project="secret", environ=env_for(api))
    assert refused.value.status == 403 and not isinstance(refused.value, BudgetUnreachable)
    with pytest.raises(BudgetUnreachable, match="^HTTP 500: Internal Server Error$"):
        fetch_budgets(environ=env_for(api, prefix="/broken"))
    port = closed_port()
    with pytest.raises(BudgetUnreachable, match="refused"):
        fetch_budgets(
            environ={
                "AIWORKBENCH_API_URL": f"http://127.0.0.1:{port}/api",
                "JUPYTERHUB_API_TOKEN": "s3cret",
            },
            timeout=2,
        )
    with pytest.raises(BudgetError, match="JUPYTERHUB_API_TOKEN is not set"):
        fetch_budgets(environ={"AIWORKBENCH_API_URL": "http://127.0.0.1:1/api"})
    with pytest.raises(ValueError, match="project name '../status': use 1-32 lower-case"):
        fetch_budgets(project="../status", environ=env_for(api))
    with pytest.raises(ValueError, match="either all_projects or project"):
        aiworkbench.budget(all_projects=True, project="edu-intro")


@pytest.fixture
def cli_env(api, monkeypatch):
    for name, value in env_for(api).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLURM_JOB_ID", "481")
    return api


def test_cli_table_and_json(cli_env, capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "warning: 82% of the GPU budget used" in out and "This session: job 481" in out
    assert main(["--all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == PAYLOAD
    assert cli_env.seen[-1][0] == "/api/budgets?all=true"


def test_cli_exit_codes(cli_env, capsys, monkeypatch):
    assert main(["--project", "secret"]) == 1
    assert capsys.readouterr().err == (
        "aiworkbench-budget: you are not a member of project secret (HTTP 403)\n"
    )
    assert main(["--project", "Bad Name"]) == 2
    assert "argument --project: project name 'Bad Name': use 1-32" in capsys.readouterr().err
    assert main(["--frobnicate"]) == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err
    assert main(["--all", "--project", "edu-intro"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert len(cli_env.seen) == 1  # bad arguments never reach the API
    monkeypatch.setenv("AIWORKBENCH_API_URL", f"http://127.0.0.1:{closed_port()}/api")
    assert main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aiworkbench-budget: ") and "refused" in err and err.count("\n") == 1


def test_cli_slurm_is_refused_to_others_than_root_under_private_data(capsys, monkeypatch):
    import os

    monkeypatch.setattr(os, "getuid", lambda: 1000)
    site = str(Path(__file__).parents[2] / "hub_config" / "site.toml")
    assert main(["--slurm", "--all", "--site", site]) == 1
    err = capsys.readouterr().err
    assert "--slurm needs root here: Slurm's PrivateData" in err and "without --slurm" in err


def test_cli_user_takes_a_user_name_and_project_a_project_name(capsys):
    from aiworkbench.budgets.cli import parser

    # A user name may start with '_' (the user rule), a project name may not.
    assert parser().parse_args(["--slurm", "--user", "_svc"]).user == "_svc"
    for argv, said in (
        (["--slurm", "--user", "Ada"], "argument --user: user name 'Ada': use 1-32"),
        (["--slurm", "--user", "ada\n"], "argument --user: user name 'ada\\n'"),
        (["--project", "_svc"], "argument --project: project name '_svc': use 1-32"),
        (["--project", "p" * 33], "argument --project: project name 'ppp"),
    ):
        with pytest.raises(SystemExit):
            parser().parse_args(argv)
        assert said in capsys.readouterr().err


# --- the widget -------------------------------------------------------------------------


def test_widget_shows_numbers_and_marks_them_stale():
    from aiworkbench.budgets.widget import BudgetWidget

    answers = [PAYLOAD, BudgetUnreachable("connection refused")]

    def fetch():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    widget = BudgetWidget(fetch, "481", refresh=30, clock=lambda: T0, start=False)
    assert "Loading budgets" in widget.header.value
    widget.update()
    assert [c.value.count("<b>") for c in widget.box.children[1:]] == [1, 1, 1]
    assert "refreshed every 30 s" in widget.header.value
    assert "82% of the GPU budget used" in widget.rows["edu-intro"].value
    widget.update()
    assert "API unreachable since 16:53:37: connection refused" in widget.header.value
    assert "(stale)" in widget.rows["edu-intro"].value
    assert "warning: 82% of the GPU budget used" in repr(widget)
    bundle = widget._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.box.model_id
    widget.close()


def test_widget_refresher_runs_in_the_background_and_stops_on_close():
    from aiworkbench.budgets.widget import BudgetWidget

    fetched = threading.Event()

    def fetch():
        fetched.set()
        return PAYLOAD

    widget = BudgetWidget(fetch, "481", refresh=5)
    assert fetched.wait(5) and widget.running
    widget.close()
    assert not widget.running
