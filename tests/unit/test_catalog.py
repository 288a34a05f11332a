"""The dataset catalog's datacards and index: validation with file and field, incremental
reindexing, restricted datasets invisible outside their projects, search and paging."""

import os
import time

import pytest

from aiworkbench.catalog.datacard import DatacardError, parse_datacard
from aiworkbench.catalog.index import FILE, Index, walk_entries
from aiworkbench.catalog.synthetic import make_catalog

# A folder's mtime moves in the kernel's clock ticks (a few ms): a change made within
# the same tick as the last update would look like no change.
MTIME_TICK_S = 0.02

CARD = """\
name = "{name}"
title = "{title}"
description = "Flowers measured by hand."
owner = "factory-ops"
licence = "CC0-1.0"
modality = "tabular"
format = "csv"
access = {access}
tags = ["botany", "classification"]
"""


def dataset(root, name, title="Iris flowers", access='"public"', files=("data.csv",)):
    folder = root / name
    folder.mkdir()
    (folder / "datacard.toml").write_text(CARD.format(name=name, title=title, access=access))
    for f in files:
        (folder / f).write_text("a,b\n1,2\n")
    return folder


def test_a_good_datacard_parses():
    card = parse_datacard(CARD.format(name="iris", title="Iris", access='["sme-vision"]'), "iris")
    assert card.access == ("sme-vision",) and not card.public
    assert card.tags == ("botany", "classification")


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            ('modality = "tabular"', 'modality = "pics"'),
            "card.toml: modality: 'pics' is not allowed; allowed: tabular, image",
        ),
        (
            ('access = "public"', "access = []"),
            'card.toml: access: must be "public" or a non-empty list of projects',
        ),
        (
            ('access = "public"', 'access = ["../etc"]'),
            "card.toml: access: project name '../etc': use 1-32 lower-case letters",
        ),
        (
            ('name = "iris"', 'name = "other"'),
            "card.toml: name: 'other' must be the folder's name 'iris'",
        ),
        (('licence = "CC0-1.0"\n', ""), "card.toml: licence: missing (required)"),
        (('format = "csv"', 'format = "csv"\ncolour = 1'), "card.toml: colour: unknown field"),
        (('title = "Iris"', "title = 5"), "card.toml: title: must be text, got int"),
        (('title = "Iris"', 'title = "a\\u0007b"'), "card.toml: title: control characters"),
        (('owner = "factory-ops"', "owner = ["), "card.toml: not valid TOML"),
    ],
)
def test_malformed_datacards_name_file_field_and_reason(change, problem):
    text = CARD.format(name="iris", title="Iris", access='"public"').replace(*change)
    with pytest.raises(DatacardError) as err:
        parse_datacard(text, "iris", "card.toml")
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_index_is_incremental_and_skips_what_is_broken(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    dataset(root, "iris")
    dataset(
        root,
        "digits",
        title="Handwritten digits",
        access='["sme-vision"]',
        files=("a.csv", "b.csv"),
    )
    broken = dataset(root, "broken")
    (broken / "datacard.toml").write_text('name = "broken"\nmodality = "pics"\n')
    (root / "no-card").mkdir()
    index = Index(tmp_path / "index.sqlite")
    report = index.update(root)
    assert sorted(report.added) == ["digits", "iris"] and report.removed == []
    assert f"{broken}/datacard.toml: modality: 'pics' is not allowed" in " ".join(report.problems)
    assert any(p.startswith(f"{root}/no-card/datacard.toml: missing") for p in report.problems)

    again = index.update(root)
    assert again.unchanged == 2 and again.added == again.updated == []

    time.sleep(MTIME_TICK_S)
    (root / "iris" / "more.csv").write_text("x\n")  # the folder's time changes
    os.utime(root / "iris")
    later = index.update(root)
    assert later.updated == ["iris"] and later.unchanged == 1
    assert index.search([], "iris")[1][0]["files"] == 2

    (root / "digits" / "datacard.toml").unlink()
    assert index.update(root).removed == ["digits"]
    assert index.search(["sme-vision"], "digits") == (0, [])


def test_restricted_datasets_are_invisible_outside_their_projects(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    dataset(root, "iris")
    dataset(root, "parts", title="Factory parts", access='["sme-vision"]')
    index = Index()
    index.update(root)
    assert [d["name"] for d in index.search(["edu-intro"])[1]] == ["iris"]
    assert [d["name"] for d in index.search(["sme-vision"])[1]] == ["iris", "parts"]
    assert index.search(["edu-intro"], "factory parts") == (0, [])
    assert index.search(["edu-intro"], filters={"project": "sme-vision"}) == (0, [])
    _, [parts] = index.search(["sme-vision"], "parts")
    assert parts["access"] == ["sme-vision"] and parts["tags"] == ["botany", "classification"]


def test_links_are_neither_datasets_nor_counted(tmp_path):
    root, outside = tmp_path / "data", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text("secret\n")
    folder = dataset(root, "iris")
    (folder / "escape").symlink_to(outside)
    (folder / "secret.csv").symlink_to(outside / "secret.csv")
    assert [(n, s) for _, n, kind, s in walk_entries(folder) if kind == FILE] == [
        ("data.csv", len("a,b\n1,2\n"))
    ]
    (root / "linked").symlink_to(folder)
    linked_card = dataset(root, "card-link")
    (linked_card / "datacard.toml").unlink()
    (linked_card / "datacard.toml").symlink_to(folder / "datacard.toml")
    report = Index().update(root)
    assert report.added == ["iris"]
    assert any("card-link/datacard.toml: must be a file, not a link" in p for p in report.problems)


def test_search_words_filters_and_pages_over_a_synthetic_catalog(tmp_path):
    make_catalog(tmp_path, 300, files=1)
    index = Index()
    assert len(index.update(tmp_path).added) == 300
    total, first = index.search(["edu-intro"], per_page=25)
    public = sum(1 for i in range(300) if i % 10 != 9)
    assert total >= public and len(first) == 25
    _, second = index.search(["edu-intro"], per_page=25, page=2)
    assert not {d["name"] for d in first} & {d["name"] for d in second}
    total_images, images = index.search(["edu-intro"], filters={"modality": "image"}, per_page=500)
    assert total_images == len(images) and all(d["modality"] == "image" for d in images)
    _, found = index.search(["edu-intro"], "medic", per_page=500)  # a prefix
    assert found and all("medical" in (d["title"] + d["description"]) for d in found)
    assert index.search(["edu-intro"], '") OR name:*', per_page=5)[0] == 0  # no injection


def test_folders_are_listed_page_by_page_from_the_index(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    folder = dataset(root, "digits", files=())
    for label in range(3):
        (folder / "images" / str(label)).mkdir(parents=True)
        for i in range(5):
            (folder / "images" / str(label) / f"{i}.png").write_bytes(b"x" * i)
    (folder / "README.txt").write_text("hello\n")
    (folder / "link").symlink_to(tmp_path)
    index = Index()
    index.update(root)
    assert index.list_folder("digits", "") == (
        2,
        [
            {"name": "images", "kind": "dir", "size": 0},
            {"name": "README.txt", "kind": "file", "size": 6},
        ],
    )
    total, page2 = index.list_folder("digits", "images/1", page=2, per_page=2)
    assert total == 5 and [e["name"] for e in page2] == ["2.png", "3.png"]
    assert index.is_folder("digits", "images/2") and not index.is_folder("digits", "images/9")
    assert not index.is_folder("digits", "README.txt")
    assert index.dataset([], "digits")["files"] == 16


def test_details_and_facets_respect_access(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    dataset(root, "iris")
    dataset(root, "parts", title="Factory parts", access='["sme-vision", "sme-trial"]')
    index = Index()
    index.update(root)
    assert index.dataset(["edu-intro"], "parts") is None
    assert index.dataset(["edu-intro"], "nothing") is None
    assert index.dataset(["sme-trial"], "parts")["access"] == ["sme-vision", "sme-trial"]
    assert index.facets(["edu-intro"]) == {
        "modality": {"tabular": 1},
        "format": {"csv": 1},
        "licence": {"CC0-1.0": 1},
        "tag": {"botany": 1, "classification": 1},
        "project": {},
    }
    assert index.facets(["sme-vision"])["project"] == {"sme-trial": 1, "sme-vision": 1}
    assert index.facets(["sme-vision"])["modality"] == {"tabular": 2}


def test_access_must_name_the_sites_projects(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    dataset(root, "parts", access='["sme-visoin"]')
    report = Index().update(root, projects={"sme-vision", "edu-intro"})
    assert report.added == []
    assert report.problems == [
        f"{root}/parts/datacard.toml: access: unknown project "
        f"'sme-visoin'; projects: edu-intro, sme-vision"
    ]


def test_a_readonly_index_never_creates_one(tmp_path):
    from aiworkbench.catalog.index import IndexMissing

    with pytest.raises(IndexMissing, match="run aiworkbench-catalog index"):
        Index(tmp_path / "none.sqlite", readonly=True)
    assert not (tmp_path / "none.sqlite").exists()
    root = tmp_path / "data"
    root.mkdir()
    dataset(root, "iris")
    Index(tmp_path / "index.sqlite").update(root)
    assert Index(tmp_path / "index.sqlite", readonly=True).search([])[0] == 1


def test_a_file_added_deep_inside_is_seen_and_odd_names_do_not_break_the_run(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    folder = dataset(root, "digits", files=())
    (folder / "images" / "3").mkdir(parents=True)
    index = Index()
    index.update(root)
    time.sleep(MTIME_TICK_S)
    (folder / "images" / "3" / "new.png").write_bytes(b"png")
    assert index.update(root).updated == ["digits"]
    assert index.list_folder("digits", "images/3")[0] == 1
    time.sleep(MTIME_TICK_S)
    odd = os.fsencode(folder / "images") + b"/caf\xe9.png"  # Latin-1, not UTF-8
    with open(odd, "wb") as f:
        f.write(b"x")
    dataset(root, "iris")
    report = index.update(root)
    assert report.added == ["iris"] and report.updated == ["digits"]
    assert any("caf\\xe9.png" in p and "not UTF-8" in p for p in report.problems)
    assert index.dataset([], "digits")["files"] == 1
