"""Site-file validation: the demo site is valid; each kind of mistake is named."""

import subprocess
import sys
from pathlib import Path

import pytest

from aiworkbench.core.site import SiteError, load_site, parse_site, reference_markdown

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "hub_config" / "site.toml"

MINIMAL = """
[partitions.cpu]
description = "CPU"
default = true
[partitions.gpu]
description = "GPU"
gpus = true
max_gpus = 2
[presets.one]
cpus = 1
memory_gb = 2
[profiles.small]
description = "small"
partition = "cpu"
preset = "one"
[projects.p1]
description = "project"
gpu_minutes = 60
cpu_minutes = 600
members = ["ada"]
[users.ada]
role = "student"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(SiteError) as info:
        parse_site(text, "test.toml")
    return info.value.problems


def test_demo_site_is_valid_and_has_every_role():
    site = load_site(DEMO)
    assert {u.role for u in site.users.values()} == {
        "student",
        "sme",
        "trainer",
        "manager",
        "admin",
    }
    assert set(site.partitions) == {"cpu", "gpu"}
    assert site.partitions["gpu"].gpus
    # One project is nearly out of budget: shorter than any one-hour GPU session.
    assert min(p.gpu_minutes for p in site.projects.values()) < 60


def test_minimal_site_gets_defaults():
    site = parse_site(MINIMAL)
    assert site.hub.port == 8000
    assert site.factory.users_group == "factory-users"
    assert site.profiles["small"].hours == 1
    assert site.presets_on("gpu") == ["one"]
    assert site.projects["p1"].max_gpus == 64 and site.projects["p1"].partitions == []
    assert site.projects_of("ada") == ["p1"]


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda t: t + "\n[hub]\nport = 'eight thousand'\n",
            "hub.port: must be an integer, got 'eight thousand'",
        ),
        (lambda t: t + "\n[hub]\nport = 70000\n", "hub.port: must be at most 65535, got 70000"),
        (lambda t: t + "\n[hub]\nprot = 8000\n", "hub.prot: unknown key; allowed keys:"),
        (
            lambda t: t.replace('role = "student"', 'role = "wizard"'),
            "users.ada.role: must be one of student, sme, trainer, manager, admin; got 'wizard'",
        ),
        (
            lambda t: t.replace("[users.ada]", "[users.Ada]").replace('"ada"', '"Ada"'),
            "users.Ada: user name 'Ada': use 1-32 lower-case letters",
        ),
        (
            lambda t: t.replace('partition = "cpu"', 'partition = "tpu"'),
            "profiles.small.partition: unknown partition 'tpu'; allowed: cpu, gpu",
        ),
        (
            lambda t: t.replace('members = ["ada"]', 'members = ["ada", "bob"]'),
            "projects.p1.members: unknown user 'bob'",
        ),
        (lambda t: t.replace("gpu_minutes = 60\n", ""), "projects.p1.gpu_minutes: required"),
        (
            lambda t: t.replace("gpu_minutes = 60", "gpu_minutes = -5"),
            "projects.p1.gpu_minutes: must be at least 0, got -5",
        ),
        (
            lambda t: t.replace("default = true\n", ""),
            "partitions: exactly one partition must have default = true, found 0",
        ),
        (
            lambda t: t.replace('partition = "cpu"', 'partition = "cpu"\ngpus = 1'),
            "profiles.small.gpus: 1 exceeds partition 'cpu' max_gpus = 0",
        ),
        (
            lambda t: t + "\n[hub]\nproxy_api_port = 8000\n",
            "hub.port: port 8000 is also hub.proxy_api_port; each needs its own",
        ),
        (lambda t: t + "\n[users.eve]\nrole = 'sme'\n", "users.eve: belongs to no project"),
        (lambda t: t + "\n[hub]\nuser = 'ada'\n", "hub.user: 'ada' is also a factory user"),
        (
            lambda t: t.replace('description = "project"', 'description = "a\\nb"'),
            "projects.p1.description: must be a single line",
        ),
        (
            lambda t: t.replace("[users.ada]", "[users.ada]\npassword = 5\n"),
            "users.ada.password: must be a string, got 5",
        ),
        (
            lambda t: t + "\n[factory]\nprefix = 'relative/path'\n",
            "factory.prefix: 'relative/path' does not match",
        ),
        (
            lambda t: t + "\n[factory]\nusers_group = 'x; rm -rf /'\n",
            "factory.users_group: group name 'x; rm -rf /': use 1-32 lower-case letters",
        ),
        (
            lambda t: t.replace('preset = "one"', 'preset = "two"'),
            "profiles.small.preset: 'two' is not offered on partition 'cpu'; allowed: one",
        ),
        (
            lambda t: t.replace("max_gpus = 2", "max_gpus = 2\npresets = ['big']"),
            "partitions.gpu.presets: unknown preset 'big'; allowed: one",
        ),
        (
            lambda t: t.replace("cpus = 1", "cpus = 16"),
            "partitions.cpu: no preset fits max_cpus = 8",
        ),
        (
            lambda t: t.replace("max_gpus = 2", "max_gpus = 2\npresets = ['one']").replace(
                "cpus = 1", "cpus = 12"
            ),
            "partitions.gpu.presets: preset 'one' has 12 cores, more than max_cpus = 8",
        ),
        (
            lambda t: t.replace('members = ["ada"]', 'members = ["ada"]\npartitions = ["tpu"]'),
            "projects.p1.partitions: unknown partition 'tpu'; allowed: cpu, gpu",
        ),
        (
            lambda t: t.replace('partition = "cpu"', 'partition = "gpu"'),
            "profiles.small.gpus: a profile on GPU partition 'gpu' needs at least 1 GPU",
        ),
        (
            lambda t: t.replace(
                'members = ["ada"]', 'members = ["ada"]\npartitions = ["gpu"]\nmax_gpus = 0'
            ),
            "projects.p1: may use no partition (check partitions and max_gpus)",
        ),
        (
            lambda t: t.replace('members = ["ada"]', 'members = ["ada"]\nmax_hours = 0'),
            "projects.p1.max_hours: must be at least 1, got 0",
        ),
        (
            lambda t: t + "\n[slurm]\nprivate_data = ['jobs', 'secrets']\n",
            "slurm.private_data: must be any of accounts, cloud, events, jobs, nodes, partitions, "
            "reservations, usage, users; got 'secrets'",
        ),
        (
            lambda t: t + "\n[slurm]\nprivate_data = ['jobs', 'jobs']\n",
            "slurm.private_data: names a value twice",
        ),
        (lambda t: t + "\n[slurm]\nreader = 'ada'\n", "slurm.reader: 'ada' is also"),
        (lambda t: t + "\n[slurm]\nreader = 'jupyterhub'\n", "slurm.reader: 'jupyterhub' is also"),
        (
            lambda t: t + "\n[hub]\nslurm_poll_interval = 20\nslurm_steady_poll_interval = 10\n",
            "hub.slurm_steady_poll_interval: 10 must be at least hub.slurm_poll_interval = 20",
        ),
        (
            lambda t: (
                t + "\n[mail]\nrelay = 'smtp.example.eu:587'\nsmarthost = 'smtp.example.eu'\n"
            ),
            "mail.smarthost: applies to the workbench's own exim only",
        ),
        (
            lambda t: t + "\n[mail]\nrelay = 'smtp.example.eu'\n",
            "mail.relay: 'smtp.example.eu' does not match",
        ),
        (
            lambda t: t + "\n[factory]\nhelpdesk = 'help desk'\n",
            "factory.helpdesk: 'help desk' does not match",
        ),
        (
            lambda t: t.replace("gpu_minutes = 60", "gpu_minutes = 60\ndemo_gpu_usage = 0.01"),
            "projects.p1.demo_gpu_usage: 0.01 of 60 GPU-minutes is less than a GPU-minute; at "
            "least 0.017",
        ),
        (
            lambda t: t.replace("gpu_minutes = 60", "gpu_minutes = 60\ndemo_gpu_usage = 0.95"),
            "projects.p1.demo_gpu_usage: must be at most 0.9, got 0.95",
        ),
        (lambda t: t + "\n[hub\n", "not valid TOML"),
        (
            lambda t: t.replace("[partitions.cpu]", "[partitions]\ncpu = 3\n[partitions.x]"),
            "partitions.cpu: must be a table",
        ),
    ],
)
def test_each_mistake_names_key_and_what_is_allowed(edit, expected):
    problems = problems_of(edit(MINIMAL))
    assert any(expected in p for p in problems), problems


def test_every_mistake_reported_at_once():
    text = MINIMAL + "\n[hub]\nport = -1\nfoo = 2\n"
    problems = problems_of(text.replace('role = "student"', 'role = "x"'))
    assert len(problems) == 3, problems


def test_missing_file_is_a_site_error(tmp_path):
    with pytest.raises(SiteError, match="cannot read the file"):
        load_site(tmp_path / "nope.toml")


def test_cli_check_reports_and_fails(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace("cpu_minutes = 600", "cpu_minutes = 'lots'"))
    result = subprocess.run(
        [sys.executable, "-m", "aiworkbench.core.site", "check", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "projects.p1.cpu_minutes: must be an integer, got 'lots'" in result.stderr


def test_configuration_reference_is_generated_from_the_schema():
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed.strip() == reference_markdown().strip(), (
        "docs/configuration.md is stale: run `make docs`"
    )
    assert "`gpu_minutes`" in committed and "GrpTRESMins" in committed


CLASS = (
    MINIMAL
    + """
[classes.ml]
description = "ML course"
project = "p1"
trainers = ["ada"]
learners = 3
learner_password = "learn"
"""
)


def test_a_class_creates_learner_accounts_in_its_project():
    site = parse_site(CLASS)
    assert site.learners_of("ml") == ["ml-01", "ml-02", "ml-03"]
    assert site.users["ml-02"].role == "student" and site.users["ml-02"].password == "learn"
    assert site.projects["p1"].members == ["ada", "ml-01", "ml-02", "ml-03"]
    assert site.projects_of("ml-03") == ["p1"]
    assert site.class_members("ml") == ["ml-01", "ml-02", "ml-03"]
    assert "ml-01" in site.to_json()  # ansible creates the accounts from the export


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda t: t.replace('project = "p1"', 'project = "p9"'),
            "classes.ml.project: unknown project 'p9'; allowed: p1",
        ),
        (
            lambda t: t.replace('trainers = ["ada"]', 'trainers = ["bob"]'),
            "classes.ml.trainers: unknown user 'bob'",
        ),
        (
            lambda t: t + '[users.ml-02]\nrole = "sme"\n',
            "classes.ml.learners: account 'ml-02' would replace users.ml-02",
        ),
        (
            lambda t: t.replace("[classes.ml]", "[classes.a-very-long-class-name-x]"),
            "classes.a-very-long-class-name-x: class name 'a-very-long-class-name-x': use 1-20",
        ),
        (
            lambda t: t.replace("learners = 3", "learners = 1000"),
            "classes.ml.learners: must be at most 999, got 1000",
        ),
    ],
)
def test_class_mistakes_are_named(edit, expected):
    problems = problems_of(edit(CLASS))
    assert any(expected in p for p in problems), problems
