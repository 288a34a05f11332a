"""Every shipped course runs top to bottom as a real factory user, with its own small
parameters on CPU, and every one of its exercises passes and is recorded as progress."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from aiworkbench.courses.course import read_course
from aiworkbench.courses.publish import publish_course

from ..conftest import REPO, HubUser, run

pytestmark = pytest.mark.notebooks
COURSES = sorted(
    p for p in (REPO / "example_notebooks" / "courses").iterdir() if (p / "course.toml").is_file()
)
LEARNER = "intro-12"  # a workshop account of class intro that no other test uses


def test_there_are_the_four_courses():
    assert [p.name for p in COURSES] == [
        "dask-on-slurm",
        "first-steps",
        "notebook-to-batch",
        "torch-image-classifier",
    ]


@pytest.mark.parametrize("folder", COURSES, ids=lambda p: p.name)
def test_a_course_runs_top_to_bottom_and_every_exercise_passes(
    folder, site, hub_url, cluster_up, hub_up
):
    course = read_course(folder, site)  # valid for this factory
    trainer = HubUser(hub_url, "trainer", site.users["trainer"].password)

    def post(path, payload):  # the trainer publishes it to the class, as in a workshop
        answer = trainer.session.post(
            f"{hub_url}/services/workbench/api/{path}", json=payload, timeout=120
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    publish_course(folder, "intro", post=post)
    learner = HubUser(hub_url, LEARNER, site.classes["intro"].learner_password)
    token = learner.session.headers["Authorization"].split()[1]
    work = Path(tempfile.mkdtemp(prefix="course-run-"))
    try:
        shutil.copytree(folder, work / folder.name)
        run(["chown", "-R", LEARNER, str(work)])
        env = [
            "env",
            f"HOME=/home/{LEARNER}",
            f"AIWORKBENCH_API_URL={hub_url}/services/workbench/api",
            f"JUPYTERHUB_API_TOKEN={token}",
        ]
        for notebook in course.notebooks:
            path = work / folder.name / notebook
            # In the notebook's folder, as a kernel of a session is (checks find the
            # course there); sh only changes folder, the paths are its arguments.
            done = run(
                [
                    *env,
                    "sh",
                    "-c",
                    'cd "$1" && exec "$2" execute --inplace --timeout=600 "$3"',
                    "run",
                    str(path.parent),
                    f"{site.factory.prefix}/env/bin/jupyter",
                    path.name,
                ],
                user=LEARNER,
                check=False,
                timeout=900,
            )
            assert done.returncode == 0, f"{notebook}:\n{done.stderr[-4000:]}"
            outputs = json.dumps(json.loads(path.read_text())["cells"])
            assert 'data-passed=\\"false\\"' not in outputs, f"{notebook}: a check failed"
        answer = learner.session.get(
            f"{hub_url}/services/workbench/api/progress", params={"course": folder.name}, timeout=30
        ).json()
        passed = {r["exercise"] for r in answer["records"] if r["passed"]}
        assert passed >= {exercise for _, exercise in course.exercises}, answer
    finally:
        shutil.rmtree(work, ignore_errors=True)
        run(["scancel", "--user", LEARNER], check=False)
