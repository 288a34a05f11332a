"""User options → one validated session request (form and REST alike)."""

import pytest

from aiworkbench.core.site import load_site, parse_site
from aiworkbench.sessions.request import RequestError, parse_user_options

from .test_site import DEMO, MINIMAL

SITE = load_site(DEMO)


def test_profile_and_project_become_a_request():
    req = parse_user_options({"profile": "gpu-1", "project": "sme-trial"}, SITE, "student")
    assert (
        req.partition,
        req.preset,
        req.gpus,
        req.cpus,
        req.memory_gb,
        req.hours,
        req.project,
    ) == ("gpu", "medium", 1, 2, 4, 1, "sme-trial")


def test_defaults_are_first_profile_and_first_project():
    req = parse_user_options({}, SITE, "sme")
    assert (req.profile, req.project, req.partition, req.preset, req.gpus) == (
        "cpu-small",
        "sme-vision",
        "cpu",
        "small",
        0,
    )


def test_fields_override_the_profile_and_numbers_may_be_form_strings():
    req = parse_user_options(
        {"profile": "gpu-1", "project": "sme-vision", "gpus": "2", "hours": 6, "preset": "xlarge"},
        SITE,
        "sme",
    )
    assert (req.partition, req.gpus, req.hours, req.cpus, req.memory_gb) == ("gpu", 2, 6, 8, 16)


def test_another_partition_than_the_profiles_starts_from_that_partitions_defaults():
    req = parse_user_options({"partition": "gpu"}, SITE, "sme")  # profile cpu-small
    assert (req.partition, req.preset, req.gpus, req.hours) == ("gpu", "medium", 1, 1)


def test_cost_is_gpu_hours_and_core_hours():
    gpu = parse_user_options({"profile": "gpu-2", "project": "sme-vision"}, SITE, "sme")
    assert (gpu.gpu_hours, gpu.core_hours) == (4, 8)
    assert gpu.cost_text() == "up to 4 GPU-hours and 8 core-hours from sme-vision"
    cpu = parse_user_options({"profile": "cpu-small"}, SITE, "sme")
    assert cpu.cost_text() == "up to 1 core-hour from sme-vision"


def test_limits_are_the_stricter_of_partition_and_project():
    course = SITE.session_limits("edu-intro", "gpu")  # project: 1 GPU, 4 hours
    assert (course.min_gpus, course.max_gpus, course.max_hours) == (1, 1, 4)
    sme = SITE.session_limits("sme-vision", "gpu")  # partition: 2 GPUs, 8 hours
    assert (sme.max_gpus, sme.max_hours) == (2, 8)
    assert sme.presets == ("medium", "large", "xlarge")
    assert SITE.session_limits("factory-ops", "gpu") is None  # project limited to cpu
    assert list(SITE.usable_partitions("factory-ops")) == ["cpu"]
    assert SITE.session_limits("sme-vision", "cpu").presets == (
        "small",
        "medium",
        "large",
        "xlarge",
    )


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"partition": "gpu", "nodes": 4},
            "unknown option(s) 'nodes'; allowed: profile, project, partition, preset, gpus, hours",
        ),
        ({"profile": "gpu-99"}, "unknown profile 'gpu-99'; allowed: cpu-small"),
        (
            {"project": "sme-vision"},
            "project 'sme-vision' is not one of yours; allowed: edu-intro, sme-trial",
        ),
        ({"profile": ["gpu-1"]}, "unknown profile ['gpu-1']"),
        ({"profile": "gpu-1\n#SBATCH --uid=0"}, "unknown profile"),
        ({"project": "edu-intro; scancel -u root"}, "is not one of yours"),
        ("profile=gpu-1", "session options must be an object"),
        ({"partition": "tpu"}, "unknown partition 'tpu'; allowed: cpu, gpu"),
        (
            {"partition": "gpu", "preset": "small"},
            "preset 'small' is not offered on partition 'gpu'; allowed: medium, large, xlarge",
        ),
        (
            {"profile": "gpu-1", "gpus": 2},
            "gpus = 2 is not allowed on partition 'gpu' for project 'edu-intro'; allowed: 1",
        ),
        (
            {"profile": "gpu-2"},
            "gpus = 2 is not allowed on partition 'gpu' for project 'edu-intro'; allowed: 1",
        ),
        ({"profile": "gpu-1", "gpus": 0}, "gpus = 0 is not allowed on partition 'gpu'"),
        (
            {"profile": "cpu-small", "gpus": 1},
            "gpus = 1 is not allowed on partition 'cpu' for project 'edu-intro'; allowed: 0",
        ),
        (
            {"hours": 5},
            "hours = 5 is not allowed on partition 'cpu' for project 'edu-intro'; allowed: 1 to 4",
        ),
        (
            {"project": "sme-trial", "hours": 13},
            "hours = 13 is not allowed on partition 'cpu' "
            "for project 'sme-trial'; allowed: 1 to 12",
        ),
        ({"hours": 0}, "hours = 0 is not allowed"),
        ({"hours": "2.5"}, "hours must be a whole number from 1 to 4, got '2.5'"),
        ({"hours": "-1"}, "hours must be a whole number"),
        ({"hours": True}, "hours must be a whole number"),
        ({"hours": " 2"}, "hours must be a whole number"),
        ({"hours": "\u0662"}, "hours must be a whole number"),  # Arabic-Indic digit two
        ({"hours": "99999"}, "hours must be a whole number"),
        ({"gpus": None}, "gpus must be a whole number"),
        ({"hours": "1\n#SBATCH --uid=0"}, "hours must be a whole number"),
    ],
)
def test_refusals_say_what_is_allowed(options, message):
    with pytest.raises(RequestError) as info:
        parse_user_options(options, SITE, "student")
    assert message in str(info.value)


def test_a_project_without_the_partition_is_refused_by_name():
    with pytest.raises(
        RequestError, match="project 'factory-ops' may not use partition 'gpu'; allowed: cpu"
    ):
        parse_user_options({"profile": "gpu-1", "project": "factory-ops"}, SITE, "manager")


def test_defaults_fit_the_project_when_the_first_profile_does_not():
    site = parse_site(
        MINIMAL.replace(
            'partition = "cpu"\npreset = "one"', 'partition = "gpu"\npreset = "one"\ngpus = 2'
        )
        + '[profiles.cpu]\ndescription = "c"\npartition = "cpu"\npreset = "one"\n'
        + '[projects.p2]\ndescription = "cpu only"\ngpu_minutes = 0\n'
        + 'cpu_minutes = 60\nmembers = ["ada"]\npartitions = ["cpu"]\n'
    )
    first = parse_user_options({}, site, "ada")  # p1 may use the first profile
    assert (first.profile, first.partition, first.gpus) == ("small", "gpu", 2)
    cpu_only = parse_user_options({"project": "p2"}, site, "ada")
    assert (cpu_only.profile, cpu_only.partition, cpu_only.gpus) == ("cpu", "cpu", 0)
    with pytest.raises(RequestError, match="may not use partition 'gpu'; allowed: cpu"):
        parse_user_options({"project": "p2", "profile": "small"}, site, "ada")
