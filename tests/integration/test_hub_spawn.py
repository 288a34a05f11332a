"""A real hub spawning notebook sessions as Slurm jobs."""

import pytest

from ..conftest import user_jobs, wait_for

pytestmark = pytest.mark.integration


def test_rest_spawn_creates_a_job_on_the_requested_partition(cluster_up, hub_user):
    trainer = hub_user("trainer")
    response = trainer.api(
        "POST",
        "/users/trainer/server",
        json={"profile": "gpu-1", "project": "edu-intro", "preset": "large", "hours": "3"},
    )
    assert response.status_code in (201, 202), response.text
    server = trainer.wait_ready()

    jobs = user_jobs("trainer")
    assert len(jobs) == 1, jobs
    job = jobs[0]
    assert (
        job["partition"],
        job["account"],
        job["state"],
        job["cpus"],
        job["time_limit"],
        job["gres"],
    ) == ("gpu", "edu-intro", "RUNNING", "4", "3:00:00", "gres:gpu:1"), job

    # The single-user server answers through the proxy.
    status = trainer.session.get(f"{trainer.hub_url}{server['url']}api/status", timeout=30)
    assert status.status_code == 200, status.text
    assert "last_activity" in status.json()

    trainer.stop_server()
    wait_for(lambda: not user_jobs("trainer"), 60, what="the session's job to end")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"profile": "gpu-1", "project": "sme-vision"}, "is not one of yours"),
        ({"profile": "gpu-1\n#SBATCH --uid=0"}, "unknown profile"),
        ({"partition": "gpu", "nodes": 8}, "unknown option(s) 'nodes'"),
        (
            {"profile": "gpu-1", "gpus": 2},
            "gpus = 2 is not allowed on partition 'gpu' for project 'edu-intro'; allowed: 1",
        ),
        (
            {"profile": "cpu-large", "hours": "5"},
            "hours = 5 is not allowed on partition 'cpu' for project 'edu-intro'; allowed: 1 to 4",
        ),
        ({"partition": "gpu", "preset": "small"}, "preset 'small' is not offered on partition"),
        ({"hours": "1:00:00 --uid=0"}, "hours must be a whole number"),
    ],
)
def test_rest_spawn_with_bad_options_is_refused_and_submits_nothing(
    cluster_up, hub_user, options, message
):
    trainer = hub_user("trainer")
    response = trainer.api("POST", "/users/trainer/server", json=options)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert not user_jobs("trainer")
