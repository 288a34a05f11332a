"""The Extend helper's rules, without Slurm (aiworkbench.sessions.extend)."""

import json

import pytest

from aiworkbench.budgets import accounting
from aiworkbench.core.commands import CommandError
from aiworkbench.core.problems import Refused
from aiworkbench.core.site import load_site
from aiworkbench.sessions import extend

SITE = load_site("hub_config/site.toml")
SHOW = (
    "JobId=42 JobName=jupyter-student UserId=student(1020) GroupId=student(1020) "
    "Account=edu-intro JobState=RUNNING Partition=cpu TimeLimit=01:00:00 "
    "TRES=cpu=2,mem=4G,node=1,billing=2"
)


def job(**changes):
    fields = dict(word.split("=", 1) for word in SHOW.split())
    fields.update(changes)
    return extend.parse_show_job(" ".join(f"{k}={v}" for k, v in fields.items()))


def budget(cpu_left: int, gpu_left: int = 6000):
    usage = {
        "gpu": accounting.Usage(limit=6000, used=6000 - gpu_left, held=0),
        "cpu": accounting.Usage(limit=120000, used=120000 - cpu_left, held=0),
    }
    return accounting.ProjectBudget(project="edu-intro", budgets=usage)


def test_scontrol_show_job_is_read_into_what_the_rules_need():
    seen = extend.parse_show_job(
        SHOW.replace("TimeLimit=01:00:00", "TimeLimit=1-02:30:00").replace(
            "billing=2", "billing=2,gres/gpu=1"
        )
    )
    assert (seen.user, seen.name, seen.project, seen.partition, seen.state) == (
        "student",
        "jupyter-student",
        "edu-intro",
        "cpu",
        "RUNNING",
    )
    assert (seen.limit_minutes, seen.cpus, seen.gpus) == (1590, 2, 1)
    assert extend.parse_show_job("slurm_load_jobs error: Invalid job id specified") is None


def test_a_session_of_ones_own_within_the_limits_and_the_budget_is_extended():
    assert extend.check(SITE, job(), "student", "42", 60, budget(1000)) == 120


@pytest.mark.parametrize(
    "seen, user, minutes, left, words",
    [
        (None, "student", 60, 1000, "there is no job 42"),
        (
            {"UserId": "sme(1021)"},
            "student",
            60,
            1000,
            "job 42 is not yours: only your own sessions can be extended",
        ),
        (
            {"JobName": "wrap"},
            "student",
            60,
            1000,
            "job 42 is not a notebook session: only sessions started from the workbench can be "
            "extended",
        ),
        (
            {"JobState": "PENDING"},
            "student",
            60,
            1000,
            "job 42 is pending, not running: only a running session can be extended",
        ),
        (
            {},
            "student",
            240,
            1000,
            "a session may run at most 4 h on partition cpu for project edu-intro; this one has "
            "1 h already: you may add at most 3 h",
        ),
        (
            {"TimeLimit": "03:50:00"},
            "student",
            30,
            1000,
            "a session may run at most 4 h on partition cpu for project edu-intro; this one has "
            "3 h 50 min already: it cannot be extended further",
        ),
        (
            {},
            "student",
            60,
            100,
            "not enough budget: adding 1 h needs 2.0 core-h, project edu-intro has 1.7 core-h left",
        ),
    ],
)
def test_refusals_say_what_was_wrong_and_what_is_allowed(seen, user, minutes, left, words):
    with pytest.raises(Refused) as refused:
        extend.check(SITE, None if seen is None else job(**seen), user, "42", minutes, budget(left))
    assert refused.value.message == words


def test_the_time_limit_is_set_and_logged_only_once_everything_is_checked(tmp_path):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        if argv[:3] == ["scontrol", "show", "job"]:
            return SHOW
        if argv[0] == "sshare":
            return ""
        if argv[0] == "squeue":
            return ""
        return ""

    log = tmp_path / "log" / "extend.log"
    done = extend.extend(SITE, "student", "42", 30, "jupyterhub", run=run, log_path=str(log))
    assert calls[-1] == ["scontrol", "update", "JobId=42", "TimeLimit=90"]
    assert json.loads(log.read_text()) == {
        **done,
        "caller": "jupyterhub",
        "user": "student",
        "job": "42",
        "added_minutes": 30,
        "old_limit_minutes": 60,
        "time_limit_minutes": 90,
    }
    calls.clear()
    with pytest.raises(Refused):
        extend.extend(SITE, "sme", "42", 30, "jupyterhub", run=run, log_path=str(log))
    assert not [c for c in calls if c[:2] == ["scontrol", "update"]]
    assert len(log.read_text().splitlines()) == 1


def test_accounting_that_cannot_be_read_refuses_rather_than_guessing():
    def run(argv, **kwargs):
        if argv[:3] == ["scontrol", "show", "job"]:
            return SHOW
        raise CommandError("sshare: slurmctld not answering")

    with pytest.raises(Refused, match="Slurm accounting cannot be read"):
        extend.extend(SITE, "student", "42", 30, "jupyterhub", run=run, log_path="/nonexistent")


@pytest.mark.parametrize(
    "argv",
    [
        ["--user", "student;id", "--job", "42", "--minutes", "30"],
        ["--user", "student", "--job", "42 43", "--minutes", "30"],
        ["--user", "student", "--job", "42", "--minutes", "-5"],
        ["--user", "student", "--job", "42", "--minutes", "10"],
        ["--user", "student", "--job", "42", "--minutes", "30", "--site", "/tmp/mine.toml"],
        ["--user", "student", "--job", "42"],
    ],
)
def test_hostile_or_malformed_arguments_are_refused_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as ended:
        extend.main(argv)
    assert ended.value.code == 2
    assert "error: " in capsys.readouterr().err
