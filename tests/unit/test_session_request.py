"""User options → one validated session request (form and REST alike)."""

import pytest

from aiworkbench_hub.session_request import RequestError, parse_user_options
from aiworkbench_hub.site import load_site

from .test_site import DEMO

SITE = load_site(DEMO)


def test_profile_and_project_become_a_request():
    req = parse_user_options({"profile": "gpu-1", "project": "sme-trial"}, SITE, "student")
    assert (req.partition, req.gpus, req.cpus, req.hours, req.project) == (
        "gpu", 1, 2, 1, "sme-trial")


def test_defaults_are_first_profile_and_first_project():
    req = parse_user_options({}, SITE, "sme")
    assert req.profile == "cpu-small" and req.project == "sme-vision"


@pytest.mark.parametrize("options, message", [
    ({"partition": "gpu"}, "unknown option(s) 'partition'; allowed: profile, project"),
    ({"profile": "gpu-99"}, "unknown profile 'gpu-99'; allowed: cpu-small"),
    ({"project": "sme-vision"}, "project 'sme-vision' is not one of yours; allowed: "
                                "edu-intro, sme-trial"),
    ({"profile": ["gpu-1"]}, "unknown profile ['gpu-1']"),
    ({"profile": "gpu-1\n#SBATCH --uid=0"}, "unknown profile"),
    ({"project": "edu-intro; scancel -u root"}, "is not one of yours"),
    ("profile=gpu-1", "session options must be an object"),
])
def test_refusals_say_what_is_allowed(options, message):
    with pytest.raises(RequestError) as info:
        parse_user_options(options, SITE, "student")
    assert message in str(info.value)
