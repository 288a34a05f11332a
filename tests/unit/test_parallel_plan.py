"""The parallel plan of the factory's tiers (tests/parallel_plan.py): every file is
placed, every name in it is a real test, and pytest-xdist really keeps a group on one
worker (a silent failure there lets two tests of the same demo user collide)."""

import subprocess
import sys
from pathlib import Path

from .. import parallel_plan
from ..conftest import REPO

TESTS = REPO / "tests"


def test_every_file_of_the_factorys_tiers_is_placed_and_no_place_is_stale():
    files = {
        p.relative_to(TESTS).as_posix()
        for tier in ("integration", "browser", "notebooks")
        for p in (TESTS / tier).glob("test_*.py")
    }
    assert set(parallel_plan.FILES) == files
    for test in parallel_plan.TESTS:
        file, name = test.split("::")
        assert f"def {name}(" in (TESTS / file).read_text(), f"{test} is not a test"
    assert {*parallel_plan.FILES.values(), *parallel_plan.TESTS.values()} >= {
        parallel_plan.ALONE,
        None,
    }


def test_a_file_the_plan_does_not_name_is_refused_in_words():
    try:
        parallel_plan.place("integration/test_new.py::test_x")
    except parallel_plan.UnplacedTest as err:
        assert "integration/test_new.py is not in tests/parallel_plan.py" in str(err)
    else:
        raise AssertionError("an unplaced file was accepted")
    assert parallel_plan.place("integration/test_idle.py::test_x[1]") == parallel_plan.ALONE
    assert (
        parallel_plan.place(
            "integration/test_cluster.py::test_gpu_job_gets_its_gpus_and_is_charged_to_the_project"
        )
        == "sme"
    )


def test_pytest_xdist_keeps_a_group_on_one_worker(tmp_path: Path):
    (tmp_path / "test_grouped.py").write_text(
        "import os, pytest\n"
        "@pytest.mark.parametrize('n', range(6))\n"
        "@pytest.mark.xdist_group('one')\n"
        "def test_worker(n):\n"
        "    with open('workers.txt', 'a') as f:\n"
        "        f.write(os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"]
        + ["--dist", "loadgroup", "test_grouped.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers = (tmp_path / "workers.txt").read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, (
        f"one group ran on workers {sorted(set(workers))}: this pytest and pytest-xdist "
        "do not group (--dist loadgroup)"
    )
