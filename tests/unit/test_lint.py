"""The repository is clean under ruff, with the rules of pyproject.toml ([tool.ruff]),
and its ansible under ansible-lint's production profile: a new finding, an unsorted
import or an unformatted file fails `make check` and `make test`, with the tool's own
report."""

import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO

RUFF = Path(sys.executable).parent / "ruff"  # the dev extra's, in the same environment


@pytest.mark.parametrize(
    ("argv", "fix"),
    [
        (["check", "--output-format", "concise"], "make format, or fix what it names"),
        (["format", "--check"], "make format"),
    ],
    ids=["check", "format"],
)
def test_ruff_finds_nothing_in_the_repository(argv, fix):
    assert RUFF.is_file(), f"no ruff at {RUFF}: install the dev extra (pip install -e '.[dev]')"
    done = subprocess.run(
        [str(RUFF), *argv, "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    status, report = done.returncode, done.stdout + done.stderr
    assert status == 0, f"ruff {argv[0]} found problems ({fix}):\n{report}"


@pytest.mark.timeout(600)  # ansible-lint reads every role: half a minute on 2 cores
def test_ansible_lint_production_profile_is_clean():
    ansible_lint = Path(sys.executable).parent / "ansible-lint"
    result = subprocess.run(
        [str(ansible_lint), "--profile", "production"],
        cwd=REPO / "ansible",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stderr + result.stdout
