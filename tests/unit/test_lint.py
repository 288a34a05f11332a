"""The repository is clean under ruff, with the rules of pyproject.toml ([tool.ruff]):
a new finding fails `make unit` and `make test`, with ruff's own report."""

import subprocess
import sys
from pathlib import Path

from ..conftest import REPO

RUFF = Path(sys.executable).parent / "ruff"  # the dev extra's, in the same environment


def test_ruff_finds_nothing_in_the_repository():
    assert RUFF.is_file(), f"no ruff at {RUFF}: install the dev extra (pip install -e '.[dev]')"
    done = subprocess.run([str(RUFF), "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    status, report = done.returncode, done.stdout + done.stderr
    assert status == 0, f"ruff check found problems (`make lint` shows them too):\n{report}"
