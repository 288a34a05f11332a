"""aiworkbench-catalog: indexing reports malformed datacards with file and field and
indexes the rest; permissions follow each datacard's access."""

import json
import os
import stat

import pytest

from aiworkbench.catalog import access, cli
from aiworkbench.catalog.index import Index

from .test_catalog import CARD, dataset

SITE = open(os.path.join(os.path.dirname(__file__), "..", "..", "hub_config", "site.toml")).read()


@pytest.fixture
def site_file(tmp_path):
    root, index = tmp_path / "datasets", tmp_path / "state" / "index.sqlite"
    root.mkdir()
    path = tmp_path / "site.toml"
    path.write_text(SITE.replace("[catalog]\n", f'[catalog]\nroot = "{root}"\nindex = "{index}"\n'))
    return path, root, index


def test_index_reports_problems_and_indexes_the_rest(site_file, capsys):
    path, root, index = site_file
    dataset(root, "iris")
    broken = dataset(root, "broken")
    (broken / "datacard.toml").write_text(
        CARD.format(name="broken", title="B", access='["nobody"]').replace("csv", "xls", 1)
    )
    assert cli.main(["--site", str(path), "index"]) == 0
    out = capsys.readouterr().out
    assert f"indexed {root}: 1 added, 0 updated, 0 removed, 0 unchanged" in out
    assert f"{broken}/datacard.toml: format: 'xls' is not allowed; allowed: csv" in out
    assert f"{broken}/datacard.toml: access: unknown project 'nobody'; projects: " in out
    assert Index(index, readonly=True).search(["edu-intro"])[0] == 1
    assert cli.main(["--site", str(path), "index", "--strict", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["unchanged"] == 1 and len(report["problems"]) == 2


def test_index_needs_a_catalog_folder_and_a_valid_site(tmp_path, site_file, capsys):
    path, root, _ = site_file
    root.rmdir()
    assert cli.main(["--site", str(path), "index"]) == 2
    assert f"catalog.root {root} is not a folder" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(SITE.replace("demo = true", "demo = 3"))
    assert cli.main(["--site", str(bad), "index"]) == 2
    assert "catalog.demo" in capsys.readouterr().err


def test_permissions_follow_access(tmp_path, monkeypatch):
    gid = os.getgid()
    monkeypatch.setattr(access, "group_id", lambda project: gid)
    folder = dataset(tmp_path, "parts", files=("a.csv",))
    (folder / "sub").mkdir()
    (folder / "sub" / "b.csv").write_text("x\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    outside.chmod(0o600)
    (folder / "link").symlink_to(outside)
    access.apply_access(folder, ("sme-vision",))
    mode = lambda p: stat.S_IMODE(os.lstat(p).st_mode)  # noqa: E731
    assert mode(folder) == 0o2750 and mode(folder / "sub") == 0o2750
    assert mode(folder / "a.csv") == 0o640 and mode(folder / "datacard.toml") == 0o640
    assert mode(outside) == 0o600  # a link is never followed
    access.apply_access(folder, ())
    assert mode(folder / "sub") == 0o755 and mode(folder / "sub" / "b.csv") == 0o644


def test_a_missing_project_group_changes_nothing(tmp_path):
    folder = dataset(tmp_path, "parts")
    before = os.stat(folder).st_mode
    with pytest.raises(access.AccessError, match="no Unix group 'no-such-group-x'"):
        access.apply_access(folder, ("no-such-group-x",))
    assert os.stat(folder).st_mode == before


def test_every_run_resets_permissions_and_closes_what_is_left_out(site_file, monkeypatch, capsys):
    path, root, _ = site_file
    monkeypatch.setattr(access, "group_id", lambda project: os.getgid())
    parts = dataset(root, "parts", access='["sme-vision"]')
    assert cli.main(["--site", str(path), "index"]) == 0  # no permissions set
    assert stat.S_IMODE(os.stat(parts).st_mode) == 0o755
    broken = dataset(root, "broken")
    (broken / "datacard.toml").write_text("name = 1\n")
    odd = root / "Not A Name"
    odd.mkdir()
    assert cli.main(["--site", str(path), "index", "--set-permissions"]) == 0
    out = capsys.readouterr().out
    assert "0 added, 0 updated, 0 removed, 1 unchanged" in out
    assert f"{odd}: dataset name 'Not A Name': use 1-64 lower-case letters" in out
    assert stat.S_IMODE(os.stat(parts).st_mode) == 0o2750  # unchanged, yet set
    assert stat.S_IMODE(os.stat(parts / "data.csv").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(broken).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(odd).st_mode) == 0o700
