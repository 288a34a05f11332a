"""Support requests (aiworkbench.portal.support): the form's checks, the mail the
helpdesk gets, the users' copies and where the mail goes."""

import json

import pytest

from aiworkbench.core.problems import Refused
from aiworkbench.core.site import load_site
from aiworkbench.portal import support

SITE = load_site("hub_config/site.toml")
FORM = {
    "subject": "  Kernel\ndies ",
    "text": "It dies at import torch.\r\nEvery time.",
    "session": "",
    "shown": "Error 500:\n the kernel died",
}


def test_a_request_is_read_from_the_form_in_one_line_subjects():
    request = support.read_form("student", FORM, ["", "second"])
    assert (request.subject, request.text, request.session, request.shown) == (
        "Kernel dies",
        "It dies at import torch.\nEvery time.",
        "",
        "Error 500: the kernel died",
    )
    assert support.read_form("student", {**FORM, "session": "-"}, []).session is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"subject": ""}, "say in a few words what is wrong (the subject is empty)"),
        ({"subject": "x" * 121}, "the subject has 121 characters; at most 120"),
        ({"subject": "bell\x07"}, "the subject has control characters"),
        ({"text": "x" * 5001}, "the description has 5001 characters; at most 5000"),
        ({"text": "nul\x00"}, "the description has control characters"),
        (
            {"session": "other"},
            "you have no session 'other'; yours: the default session, session “second”",
        ),
    ],
)
def test_what_is_wrong_in_a_request_is_said_and_nothing_is_sent(change, why):
    with pytest.raises(Refused) as refused:
        support.read_form("student", {**FORM, **change}, ["", "second"])
    assert refused.value.status == 400 and why in refused.value.message


def test_the_mail_carries_the_words_the_context_and_the_log():
    request = support.stamp(support.read_form("student", FORM, [""]), now=1_800_000_000)
    request.context = [["State", "Running on vm since 10:00."], ["Job", "12"]]
    request.log = ["first line", "last line"]
    mail = support.compose(SITE, request, "Demo Student")
    assert mail["To"] == "admin@localhost"
    assert mail["From"] == "Demo AI Factory <jupyterhub@localhost>"
    assert mail["Subject"] == "[Demo AI Factory] Kernel dies (student)"
    assert mail["Message-ID"] == request.message_id and mail["X-Workbench-User"] == "student"
    assert mail.get_content() == (
        "It dies at import torch.\nEvery time.\n\n-- Context, attached by the workbench --\n"
        "User: student (Demo Student)\nAbout: the default session\n"
        "State: Running on vm since 10:00.\nJob: 12\nError shown: Error 500: the kernel died\n"
        "\n-- The session's log, its last lines --\nfirst line\nlast line\n"
    )


def test_a_copy_is_never_written_for_a_name_that_is_not_a_user_name(tmp_path):
    copies = support.Copies(tmp_path / "help")
    for user in ("student\n", "../student", "Student", ""):
        with pytest.raises(ValueError, match="user name"):
            copies.of(user)
    assert not (tmp_path / "help").exists()


def test_copies_are_the_users_own_newest_first_closed_to_others(tmp_path):
    copies = support.Copies(tmp_path / "help")
    for n in range(support.KEPT + 3):
        copies.add(
            support.stamp(
                support.read_form("student", {**FORM, "subject": f"request {n}"}, [""]), now=n
            )
        )
    with open(tmp_path / "help" / "student.jsonl", "a") as cut:
        cut.write('{"user": "student", "subj')  # a line a crash cut short
    kept = copies.of("student")
    assert [r.subject for r in kept[:2]] == [
        f"request {support.KEPT + 2}",
        f"request {support.KEPT + 1}",
    ]
    assert len(kept) == support.KEPT - 1  # the cut line is skipped
    assert copies.of("trainer") == []
    assert (tmp_path / "help").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "help" / "student.jsonl").stat().st_mode & 0o777 == 0o600
    assert (
        json.loads((tmp_path / "help" / "student.jsonl").read_text().splitlines()[0])["subject"]
        == "request 0"
    )
    with pytest.raises(ValueError):
        copies.of("../etc/passwd")


def test_mail_goes_to_the_login_nodes_exim_unless_the_site_names_a_relay(tmp_path):
    assert support.relay(SITE) == ("127.0.0.1", 25)
    text = (
        open("hub_config/site.toml")
        .read()
        .replace("[courses]", '[mail]\nrelay = "smtp.factory.example:587"\n\n[courses]')
    )
    (tmp_path / "site.toml").write_text(text)
    assert support.relay(load_site(tmp_path / "site.toml")) == ("smtp.factory.example", 587)
