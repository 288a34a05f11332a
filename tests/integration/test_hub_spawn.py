"""A real hub spawning notebook sessions as Slurm jobs."""

import pytest

from ..conftest import user_jobs, wait_for

pytestmark = pytest.mark.integration


def test_rest_spawn_creates_a_job_on_the_requested_partition(cluster_up, hub_user):
    trainer = hub_user("trainer")
    response = trainer.api("POST", "/users/trainer/server",
                           json={"profile": "gpu-1", "project": "edu-intro"})
    assert response.status_code in (201, 202), response.text
    server = trainer.wait_ready()

    jobs = user_jobs("trainer")
    assert len(jobs) == 1, jobs
    assert (jobs[0]["partition"], jobs[0]["account"], jobs[0]["state"]) == (
        "gpu", "edu-intro", "RUNNING")

    # The single-user server answers through the proxy.
    status = trainer.session.get(f"{trainer.hub_url}{server['url']}api/status", timeout=30)
    assert status.status_code == 200, status.text
    assert "last_activity" in status.json()

    trainer.stop_server()
    wait_for(lambda: not user_jobs("trainer"), 60, what="the session's job to end")


@pytest.mark.parametrize("options, message", [
    ({"profile": "gpu-1", "project": "sme-vision"}, "is not one of yours"),
    ({"profile": "gpu-1\n#SBATCH --uid=0"}, "unknown profile"),
    ({"partition": "gpu"}, "unknown option(s) 'partition'"),
])
def test_rest_spawn_with_bad_options_is_refused_and_submits_nothing(
        cluster_up, hub_user, options, message):
    trainer = hub_user("trainer")
    response = trainer.api("POST", "/users/trainer/server", json=options)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert not user_jobs("trainer")
