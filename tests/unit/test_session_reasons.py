"""How sessions end and why queued ones are given up, in words (sessions.reasons)."""

from datetime import datetime

from aiworkbench.core.site import load_site
from aiworkbench.sessions.reasons import end_reason, expected_start, queue_gave_up, sooner
from aiworkbench.sessions.request import parse_user_options

SITE = load_site("hub_config/site.toml")


def test_every_end_has_a_sentence_with_who_and_the_exit_code():
    assert end_reason("TIMEOUT") == "the session reached its time limit"
    assert end_reason("CANCELLED", "None", "0:15", "0") == (
        "the session's job was cancelled by an administrator"
    )
    assert end_reason("CANCELLED", "None", "0:15", "1234", owner_uid=1234) == (
        "the session's job was cancelled by you"
    )
    assert end_reason("CANCELLED", "None", "", "0") == end_reason("CANCELLED", "", "", "0")
    assert end_reason("FAILED", "NonZeroExitCode", "2:0") == (
        "the session's job failed (exit code 2)"
    )
    assert end_reason("FAILED", "", "0:9") == "the session's job failed (killed by signal 9)"
    assert end_reason("NODE_FAIL") == "the node running the session failed"
    assert end_reason("WEIRD") == "the session's job ended (WEIRD)"


def test_expected_start_is_a_time_today_and_a_date_otherwise():
    now = datetime(2026, 12, 1, 19, 0)
    assert expected_start("2026-12-01T21:06:00", now) == "21:06"
    assert expected_start("2026-12-05T08:00:00", now) == "5 Dec 08:00"
    assert expected_start("N/A", now) == expected_start("Unknown", now) == ""


def test_what_would_start_sooner_depends_on_the_request_and_the_reason():
    two_gpus = parse_user_options({"profile": "gpu-2", "project": "sme-vision"}, SITE, "sme")
    assert sooner(SITE, two_gpus, "Resources", "sme") == [
        "the cpu partition (no GPUs)",
        "fewer GPUs",
        "a smaller preset",
        "fewer hours",
    ]
    small = parse_user_options({"profile": "cpu-small"}, SITE, "sme")
    assert sooner(SITE, small, "Priority", "sme") == []
    trial = parse_user_options({"profile": "gpu-1", "project": "sme-trial"}, SITE, "sme")
    assert sooner(SITE, trial, "AssocGrpGRESMinutes", "sme") == [
        "project sme-vision",
        "asking for more budget for project sme-trial",
    ]
    assert sooner(SITE, None, "Resources", "sme") == []


def test_a_given_up_session_says_how_long_why_and_what_to_try():
    assert queue_gave_up(
        7200, "4", "waiting for a free GPU", "21:06", ["the cpu partition (no GPUs)", "fewer GPUs"]
    ) == (
        "was still queued after 2 h 00 min (waiting for a free GPU), so job 4 was cancelled; "
        "Slurm expected it to start at about 21:06. Try the cpu partition (no GPUs), fewer "
        "GPUs, or later"
    )
    assert queue_gave_up(90, "5", "the partition is down", "", []) == (
        "was still queued after 90 seconds (the partition is down), so job 5 was cancelled. "
        "Try later"
    )
