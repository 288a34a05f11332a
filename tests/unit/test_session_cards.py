"""The home page's session cards in words (aiworkbench.sessions.cards), from fake
spawners and a fake poller."""

from types import SimpleNamespace

from aiworkbench.core.site import load_site
from aiworkbench.core.slurm import QueuedJob
from aiworkbench.sessions import cards
from aiworkbench.sessions.poller import UNKNOWN
from aiworkbench.sessions.request import parse_user_options

SITE = load_site("hub_config/site.toml")
NOW = 1_800_000_000.0


def spawner(job=UNKNOWN, ready=True, **changes):
    poller = SimpleNamespace(status=lambda job_id: job, jobs={}, asked=True, reachable=True)
    values = dict(
        name="",
        active=True,
        ready=ready,
        pending=None,
        job_id="12",
        last_job_id="12",
        gpu_notice="",
        ended_reason="",
        poller=poller,
        known_gpu_kind="simulated",
        submitted_at=NOW - 60,
        queue_timeout=5400,
        request=parse_user_options({"profile": "gpu-1", "project": "sme-vision"}, SITE, "sme"),
    )
    values.update(changes)
    return SimpleNamespace(**values)


def test_a_session_ready_before_the_hubs_next_reading_is_running_its_details_to_come():
    card = cards.card(spawner(), NOW)
    assert (card.state, card.awaiting, card.ends_at) == ("running", True, None)
    assert card.state_text.startswith("Running; its node and time left come with")
    assert ("GPUs", "1 (simulated)") in card.details


def test_a_ready_session_the_hubs_last_reading_saw_queued_is_running_not_queued():
    job = QueuedJob("12", "sme", "gpu", "PENDING", "None", "", "N/A", 1, "1:00:00")
    card = cards.card(spawner(job), NOW)
    assert (card.state, card.awaiting) == ("running", True)


def test_a_running_session_counts_down_from_slurms_start_and_time_limit():
    job = QueuedJob(
        "12", "sme", "gpu", "RUNNING", "None", "vm", "2027-01-15T08:00:00", 1, "1:30:00"
    )
    card = cards.card(spawner(job), NOW)
    assert card.state == "running" and not card.awaiting
    assert card.ends_at == cards.job_started("2027-01-15T08:00:00") + 90 * 60
    assert ("Walltime", "1 h 30 min") in card.details
    assert ("At most", "1.5 GPU-h and 3 core-h from sme-vision") in card.details


def test_an_ended_session_says_why_and_keeps_its_log():
    card = cards.card(
        spawner(
            active=False, ready=False, job_id="", ended_reason="the session reached its time limit"
        ),
        NOW,
    )
    assert (card.state, card.state_text, card.has_log) == (
        "ended",
        "Ended: the session reached its time limit.",
        True,
    )


def test_a_gpu_sessions_card_shows_the_last_reported_utilisation():
    job = QueuedJob(
        "12", "sme", "gpu", "RUNNING", "None", "vm", "2027-01-15T08:00:00", 1, "1:30:00"
    )
    tracker = SimpleNamespace(last_utilisation=(60.0, 14.0), last_report=NOW)
    card = cards.card(spawner(job, gpu_tracker=tracker), NOW)
    at = cards.datetime.fromtimestamp(NOW).strftime("%H:%M")
    assert ("GPU utilisation", f"37% at {at} (60%, 14%)") in card.details
    no_report = cards.card(spawner(job, gpu_tracker=None), NOW)
    assert "GPU utilisation" not in dict(no_report.details)
