"""The source archive the environments install from: the same source gives the same
bytes, and a change of content changes them (the environments install from it in every
integration test's factory)."""

import io
import os
import tarfile
from pathlib import Path

import pytest

from aiworkbench.core import source_archive as sa

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path):
    """A small repository with the files the archive takes and leftovers it leaves."""
    root = tmp_path / "repo"
    (root / "src" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "src" / "pkg" / "templates").mkdir()
    (root / "src" / "x.egg-info").mkdir()
    (root / "src" / "pkg" / "__init__.py").write_text("A = 1\n")
    (root / "src" / "pkg" / "templates" / "t.html").write_text("<p>{{ a }}</p>\n")
    (root / "src" / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (root / "src" / "pkg" / "old.pyc").write_bytes(b"\0")
    (root / "src" / "x.egg-info" / "PKG-INFO").write_text("x\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "README.md").write_text("x\n")
    (root / "tests").mkdir()
    (root / "tests" / "t.py").write_text("")
    return root


def names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def test_the_archive_holds_the_package_and_pips_files_and_no_leftovers(repo):
    assert names(sa.archive_bytes(repo)) == [
        "README.md",
        "pyproject.toml",
        "src",
        "src/pkg",
        "src/pkg/__init__.py",
        "src/pkg/templates",
        "src/pkg/templates/t.html",
    ]


def test_the_same_content_gives_the_same_bytes_whatever_the_times_and_modes(repo):
    before = sa.archive_bytes(repo)
    module = repo / "src" / "pkg" / "__init__.py"
    os.utime(module, (1_900_000_000, 1_900_000_000))
    module.chmod(0o600)
    assert sa.archive_bytes(repo) == before
    module.write_text("A = 2\n")
    assert sa.archive_bytes(repo) != before


def test_entries_are_roots_readable_by_all_and_dated_for_zip(repo):
    with tarfile.open(fileobj=io.BytesIO(sa.archive_bytes(repo))) as tar:
        for member in tar.getmembers():
            assert (member.uid, member.gid, member.mtime) == (0, 0, sa.MTIME)
            assert member.mode == (0o755 if member.isdir() else 0o644)


def test_write_says_whether_the_bytes_changed(repo, tmp_path):
    dest = tmp_path / "src.tar"
    assert sa.write_archive(repo, dest) is True
    assert sa.write_archive(repo, dest) is False
    (repo / "README.md").write_text("y\n")
    assert sa.write_archive(repo, dest) is True
    assert not dest.with_name("src.tar.tmp").exists()


def test_the_real_repository_archive_holds_what_setuptools_packages(tmp_path):
    held = set(names(sa.archive_bytes(REPO)))
    assert {
        "pyproject.toml",
        "README.md",
        "src/aiworkbench/__init__.py",
        "src/aiworkbench/core/daemons.json",
        "src/aiworkbench/sessions/templates/session_form.html",
    } <= held
    assert not any("__pycache__" in n or ".egg-info" in n for n in held)


def test_the_command_line_refuses_a_folder_that_is_not_the_repository(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        sa.main([str(tmp_path), str(tmp_path / "a.tar")])
    assert done.value.code == 2
    assert "is not the workbench's repository: it has no pyproject.toml" in capsys.readouterr().err
    assert sa.main([str(REPO), str(tmp_path / "a.tar")]) == 0
    assert "src/aiworkbench/core/site.py" in names((tmp_path / "a.tar").read_bytes())
