"""The portal as people see it in Chromium: the factory's name on the login and error
pages, a session card that counts its walltime down, and a queued session that the
hub gives up saying why, on the spawn page and on the home page. "Get help" from a
card and from the spawn page: the request arrives in the admin's mailbox (the demo's
helpdesk, through exim) with the session's context and the error shown."""

import email
import email.policy
import mailbox
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from aiworkbench.core.units import duration_text

from ..conftest import run, user_jobs, wait_for
from .conftest import log_in, screenshot

pytestmark = pytest.mark.browser
MAILBOX = Path("/var/mail/admin")


def test_login_and_error_pages_bear_the_factorys_name_and_a_way_back(hub_up, hub_url, site, page):
    page.goto(f"{hub_url}/hub/login")
    expect(page).to_have_title(f"{site.factory.name} · AI Factory Workbench")
    expect(page.locator(".portal-welcome h1")).to_have_text(site.factory.name)
    screenshot(page, "portal-login")
    log_in(page, hub_url, "student", site.users["student"].password)
    page.goto(f"{hub_url}/hub/no-such-page")
    expect(page.locator(".portal-error h1")).to_have_text("There is no such page")
    expect(page.locator("nav >> text=Sessions")).to_be_visible()
    screenshot(page, "portal-404")
    expect(page.locator("#portal-get-help")).to_have_attribute(
        "href", re.compile(r"/hub/help\?shown=Error%20404.*no-such-page")
    )
    page.click("#portal-back")
    expect(page).to_have_url(re.compile(r"/hub/home$"))
    expect(page.locator("h1")).to_have_text("Your sessions")

    # The form: what each partition has free now, and when Slurm would start the request.
    page.goto(f"{hub_url}/hub/spawn")
    expect(page.locator("#aiwb-partition option[value=gpu]")).to_contain_text(
        re.compile(r"free now: \d+ of 4 GPUs \(simulated\), \d+ of \d+ cores")
    )
    expect(page.locator("#aiwb-queue")).to_contain_text(
        re.compile(
            r"For (\d+ GPUs?, )?\d+ cores? for \d+ h on \w+: Slurm (would start it now|"
            r"expects it)"
        )
    )
    screenshot(page, "portal-form-queue")


def helpdesk_mail(subject: str, timeout: float = 60):
    """The support request with ``subject`` in the demo helpdesk's mailbox (the admin's,
    where exim delivers admin@localhost), its body decoded by ``get_content()``."""

    def find():
        if not MAILBOX.exists():
            return None
        box = mailbox.mbox(MAILBOX, create=False)
        try:
            found = [
                email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
                for m in box
                if subject in (m["Subject"] or "")
            ]
        finally:
            box.close()
        return found[-1] if found else None

    return wait_for(find, timeout, what=f"the mail {subject!r} in {MAILBOX}")


def test_a_running_sessions_card_counts_down_and_extends_within_the_limits(
    hub_user, hub_url, site, page
):
    trainer = hub_user("trainer")
    response = trainer.api("POST", "/users/trainer/server", json={"profile": "cpu-small"})
    assert response.status_code in (201, 202), response.text
    trainer.wait_ready()
    [job] = user_jobs("trainer")
    log_in(page, hub_url, "trainer", site.users["trainer"].password)
    page.goto(f"{hub_url}/hub/home")
    card = page.locator('.session-card[data-server-name=""]')
    expect(card).to_have_attribute("data-state", "running")
    expect(card).to_contain_text(re.compile(rf"Job\s*{job['id']}\s*Node"), timeout=45_000)
    expect(card).to_contain_text(re.compile(r"Project\s*edu-intro"))
    countdown = card.locator(".session-countdown")
    # Slurm's details come with the hub's next reading of the queue (every 30 s at most).
    expect(countdown).to_have_text(re.compile(r"^0 h 5\d min \d\d s$"), timeout=45_000)
    first = countdown.inner_text()
    page.wait_for_timeout(2100)
    assert countdown.inner_text() != first, "the countdown does not count"
    screenshot(page, "portal-home-running")

    # Extend: 2 hours more fit the course project's 4 h; 2 more again do not.
    card.locator("select[name=minutes]").select_option("120")
    card.locator(".session-extend button").click()
    notice = page.locator("#session-notice")
    expect(notice).to_have_text("Added 2 h: the session may now run 3 h in all.")
    expect(card.locator(".session-countdown")).to_have_text(re.compile(r"^2 h 5\d min"))
    screenshot(page, "portal-extend-accepted")
    assert [j["time_limit"] for j in user_jobs("trainer")] == ["3:00:00"]
    card.locator("select[name=minutes]").select_option("120")
    card.locator(".session-extend button").click()
    expect(notice).to_have_text(
        "The session was not extended: a session may run at most 4 h on partition cpu for "
        "project edu-intro; this one has 3 h already: you may add at most 1 h."
    )
    expect(notice).to_have_class(re.compile("alert-warning"))
    screenshot(page, "portal-extend-refused")
    assert [j["time_limit"] for j in user_jobs("trainer")] == ["3:00:00"]

    # The session's log, read as its user.
    card.locator(".session-log-button").click()
    log = card.locator(".session-log")
    expect(log).to_contain_text(f"Job {job['id']}, its last lines:")
    expect(log).to_contain_text("Jupyter")  # the server's own start-up lines
    screenshot(page, "portal-session-log")

    # Get help from the card: the request reaches the admin's mailbox with the context.
    card.locator(".session-help").click()
    expect(page.locator("#help-session")).to_have_value("")  # this session, chosen
    page.fill("#help-subject", "Extend is capped at 3 h")
    page.fill("#help-text", "I need 5 hours for my course preparation.")
    screenshot(page, "portal-help-form")
    page.click("#help-form [type=submit]")
    expect(page.locator("#help-notice")).to_contain_text("Sent to admin@localhost at")
    expect(page.locator(".help-copy").first).to_contain_text("Extend is capped at 3 h · sent")
    screenshot(page, "portal-help-sent")
    mail = helpdesk_mail("Extend is capped at 3 h")
    assert mail["X-Workbench-User"] == "trainer"
    body = mail.get_content()
    for line in (
        "User: trainer (Demo Trainer)",
        "About: the default session",
        f"Job: {job['id']}",
        "Project: edu-intro",
        "Partition: cpu",
        "-- The session's log, its last lines --",
    ):
        assert f"\n{line}\n" in body, (line, body)
    assert "Jupyter" in body.split("its last lines --")[1]  # the server's own lines

    page.goto(f"{hub_url}/hub/home")
    card.locator(".session-stop").click()
    expect(card.locator(".session-start")).to_be_visible(timeout=60_000)
    wait_for(lambda: not user_jobs("trainer"), 60, what="trainer's job to end")


def test_a_queued_session_the_hub_gives_up_says_why_on_both_pages(hub_user, hub_url, site, page):
    sme = hub_user("sme")
    log_in(page, hub_url, "sme", site.users["sme"].password)
    run(["scontrol", "update", "PartitionName=gpu", "State=DOWN"])  # the job pends
    try:
        page.goto(f"{hub_url}/hub/spawn")
        page.select_option("select[name=project]", "sme-vision")
        page.select_option("select[name=profile]", "gpu-1")
        page.click("form [type=submit]")
        expect(page.locator("#portal-spawn-headline")).to_contain_text("Starting your session")
        expect(page.locator("#progress-message")).to_contain_text("the partition is down")
        [job] = user_jobs("sme")

        home = page.context.new_page()  # the user looks at the home page meanwhile
        home.goto(f"{hub_url}/hub/home")
        card = home.locator('.session-card[data-server-name=""]')
        expect(card).to_have_attribute("data-state", "queued")
        expect(card).to_contain_text("Queued on gpu: the partition is down")
        expect(card).to_contain_text("the hub waits until")
        screenshot(home, "portal-home-queued")

        waited_s = site.hub.queue_wait_hours * 3600
        expect(page.locator("#portal-spawn-headline")).to_have_text(
            "Your session did not start", timeout=(waited_s + 60) * 1000
        )
        said = (
            f"was still queued after {duration_text(waited_s)} (the partition is down), so job "
            f"{job['id']} was cancelled. Try the cpu partition (no GPUs), or later"
        )
        expect(page.locator("#progress-message")).to_have_text(f"The session {said}.")
        screenshot(page, "portal-spawn-given-up")
        wait_for(lambda: not user_jobs("sme"), 60, what="the given-up job to be cancelled")

        home.goto(f"{hub_url}/hub/home")
        expect(card).to_have_attribute("data-state", "ended")
        expect(card.locator(".session-ended")).to_have_text(f"Your session stopped: it {said}.")
        screenshot(home, "portal-home-given-up")

        # Get help from the spawn page: the error it showed goes with the request.
        page.click("#portal-spawn-help")
        expect(page.locator("#help-shown")).to_have_text(
            f"Your session did not start: The session {said}."
        )
        page.fill("#help-subject", "My GPU session never starts")
        page.fill("#help-text", "I need a GPU for the pilot's training run today.")
        page.click("#help-form [type=submit]")
        expect(page.locator("#help-notice")).to_contain_text("Sent to admin@localhost")
        body = helpdesk_mail("My GPU session never starts").get_content()
        assert f"\nError shown: Your session did not start: The session {said}.\n" in body
        assert "\nState: Ended: " in body and "User: sme (Demo SME Engineer)" in body
    finally:
        run(["scontrol", "update", "PartitionName=gpu", "State=UP"])
        sme.stop_server()
