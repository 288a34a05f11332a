"""aiworkbench.datasets(): the dataset browser's model and widget, against a fake API and
dataset folders in a temporary directory. Previews and snippets are test doubles: what is
checked here is which paths reach them (never one outside the dataset)."""

import html
import re
import subprocess
import sys
import types

import pytest

import aiworkbench
from aiworkbench.catalog.widget import (
    NOT_PERMITTED,
    CatalogModel,
    DatasetBrowser,
    access_text,
    facet_options,
    human_size,
    pages_text,
)
from aiworkbench.widgets.api_client import WorkbenchAPIError, WorkbenchAPIUnreachable

from ..fakes import FakeCatalogAPI as FakeAPI
from ..fakes import card

LIBRARIES = {
    "pandas": "pandas",
    "torch": "torch Dataset / DataLoader",
    "datasets": "Hugging Face datasets",
    "dask": "dask",
}


# --- test doubles -----------------------------------------------------------------------


class FakePreview:
    def __init__(self, kind, title, note=""):
        self.kind, self.title, self.note = kind, title, note


class FakePreviews:
    """Records every path it is asked to read; reads nothing."""

    def __init__(self, fail=None):
        self.read, self.thumbnails, self.fail = [], [], fail

    def preview_file(self, path, rows=20, text_bytes=4096):
        if self.fail:
            raise self.fail
        self.read.append(path)
        return FakePreview("table", path.name, "first rows")

    def preview_images(self, paths, size=96, limit=12):
        if self.fail:
            raise self.fail
        self.thumbnails.append((list(paths), size, limit))
        return FakePreview("images", f"{len(paths)} images")

    def to_html(self, preview):
        return f"<p class='fake'>{preview.kind}: {preview.title}</p>"


class FakeSnippets:
    LIBRARIES = LIBRARIES

    @staticmethod
    def snippet(detail, library):
        return f"# {library} loads {detail['name']} from {detail['path']}\nx = 1 < 2"


@pytest.fixture
def tree(tmp_path):
    """A catalog root with dataset 'iris' (a csv, a folder of images, a nested folder,
    symbolic links inside and out) and a secret file next to the datasets."""
    root = tmp_path / "catalog"
    iris = root / "iris"
    (iris / "images").mkdir(parents=True)
    (iris / "a" / "b").mkdir(parents=True)
    (iris / "data.csv").write_text("sepal,petal\n1,2\n")
    (iris / "a" / "b" / "deep.txt").write_text("deep")
    for name in ("01.png", "02.jpg", "03.JPEG"):
        (iris / "images" / name).write_bytes(b"\x89PNG fake")
    (iris / "images" / "labels.txt").write_text("setosa")
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (iris / "escape").symlink_to(secret)
    (iris / "images" / "99-evil.png").symlink_to(secret)
    (iris / "inside").symlink_to(iris / "data.csv")
    return iris


@pytest.fixture
def api(tree):
    items = [
        card("iris", "Iris flowers", files=9, size=1_500_000),
        card(
            "mnist",
            "MNIST digits",
            access=["edu-intro", "sme-vision"],
            modality="image",
            format="png",
            files=70000,
            size=52_000_000,
        ),
    ]
    return FakeAPI(items, {"iris": tree})


def said(widget) -> str:
    """What an HTML widget says, as text."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))


def browser_for(api, query="", previews=None, **kwargs):
    return DatasetBrowser(
        query, fetch=api, previews=previews or FakePreviews(), snippets=FakeSnippets(), **kwargs
    )


# --- words ------------------------------------------------------------------------------


def test_sizes_access_pages_and_facets_in_words():
    assert [human_size(n) for n in (None, 0, 999, 1000, 1_500_000, 52_300_000_000, 4 * 10**12)] == [
        "—",
        "0 B",
        "999 B",
        "1.0 kB",
        "1.5 MB",
        "52.3 GB",
        "4.0 TB",
    ]
    assert access_text("public") == "public"
    assert access_text(["edu-intro", "sme-vision"]) == "restricted: edu-intro, sme-vision"
    assert pages_text({"total": 134, "page": 2, "pages": 7}) == "page 2 of 7, 134 datasets"
    assert pages_text({"total": 1, "page": 1, "pages": 1}) == "page 1 of 1, 1 dataset"
    assert pages_text({"total": 0, "page": 1, "pages": 1}) == "no datasets"
    assert facet_options({"tabular": 3, "image": 1, "audio": 3}) == [
        ("any", ""),
        ("audio (3)", "audio"),
        ("tabular (3)", "tabular"),
        ("image (1)", "image"),
    ]
    assert facet_options({"tabular": 3}, "video")[-1] == ("video", "video")


# --- search, filters, paging ------------------------------------------------------------


def test_search_sends_text_filters_and_page(api):
    browser = browser_for(api, "iris", modality="tabular")
    assert api.calls[0] == ("catalog", None)
    assert api.calls[1] == (
        "datasets",
        {"q": "iris", "modality": "tabular", "page": "1", "per_page": "20"},
    )
    assert browser.query_box.value == "iris"
    assert browser.dropdowns["modality"].value == "tabular"
    assert browser.search("  ", format="any", tag=None, licence="")
    assert api.calls[-1] == ("datasets", {"page": "1", "per_page": "20"})
    assert browser.search("has@x & y", project="sme-vision", licence="CC0-1.0")
    assert api.calls[-1][1] == {
        "q": "has@x & y",
        "project": "sme-vision",
        "licence": "CC0-1.0",
        "page": "1",
        "per_page": "20",
    }
    assert browser.dropdowns["project"].value == "sme-vision"
    with pytest.raises(
        ValueError,
        match="'colour' is not a filter; the filters are modality, format, licence, tag, project",
    ):
        browser.search("x", colour="red")
    with pytest.raises(ValueError, match="per_page must be a whole number from 1 to 100"):
        browser_for(api, per_page=101)


def test_the_controls_search(api):
    browser = browser_for(api)
    browser.query_box.value = "flowers"
    assert api.calls[-1][1]["q"] == "flowers"
    browser.dropdowns["modality"].value = "image"
    assert api.calls[-1][1] == {"q": "flowers", "modality": "image", "page": "1", "per_page": "20"}
    calls = len(api.calls)
    browser.search_button.click()
    assert len(api.calls) == calls + 1 and api.calls[-1][1]["modality"] == "image"


def test_facets_fill_the_dropdowns_with_counts(api):
    browser = browser_for(api)
    assert list(browser.dropdowns["modality"].options) == [
        ("any", ""),
        ("tabular (3)", "tabular"),
        ("image (1)", "image"),
    ]
    assert list(browser.dropdowns["project"].options) == [
        ("any", ""),
        ("sme-vision (1)", "sme-vision"),
    ]
    assert browser.model.projects == ["edu-intro"] and browser.model.visible == 2
    assert all(d.value == "" for d in browser.dropdowns.values())


def test_paging_through_results(tree):
    items = [card(f"set-{i:02d}", f"Set {i}") for i in range(45)]
    api = FakeAPI(items)
    browser = browser_for(api)
    assert browser.pages_label.value == "page 1 of 3, 45 datasets"
    assert browser.previous_button.disabled and not browser.next_button.disabled
    assert len(browser.results.children) == 20
    assert browser.next_page() and browser.next_page()
    assert api.calls[-1][1] == {"page": "3", "per_page": "20"}
    assert browser.pages_label.value == "page 3 of 3, 45 datasets"
    assert len(browser.results.children) == 5 and browser.next_button.disabled
    calls = len(api.calls)
    assert not browser.next_page()
    assert len(api.calls) == calls  # refused here, not asked
    assert "already on the last page (page 3 of 3); pages go from 1 to 3" in said(browser.status)
    assert browser.previous_button.click() is None
    assert api.calls[-1][1]["page"] == "2"
    # paging keeps the search's text and filters
    browser.search("set", tag="botany")
    browser.next_page()
    assert api.calls[-1][1] == {"q": "set", "tag": "botany", "page": "2", "per_page": "20"}


def test_results_rows_show_title_name_kind_size_files_access(api):
    api.items.append(card("evil", "<script>alert(1)</script>", access=["<b>x</b>"]))
    browser = browser_for(api)
    rows = browser.results.children
    assert len(rows) == 3
    button, info = rows[1].children
    assert button.description == "MNIST digits" and "aiwb-ds-result" in button._dom_classes
    assert info.value.endswith(
        "mnist · image/png · 52.0 MB · 70000 files · restricted: edu-intro, sme-vision</span>"
    )
    assert (
        rows[0].children[1].value.endswith("iris · tabular/csv · 1.5 MB · 9 files · public</span>")
    )
    assert "<b>x</b>" not in rows[2].children[1].value and "&lt;b&gt;x" in rows[2].children[1].value
    assert "restricted: edu-intro" in repr(browser)


# --- one dataset ------------------------------------------------------------------------


def test_opening_a_dataset_shows_its_card_files_and_code(api, tree):
    browser = browser_for(api)
    assert browser.detail.layout.display == "none"
    browser.results.children[0].children[0].click()
    assert api.calls[-2] == ("datasets/iris", None)
    assert api.calls[-1] == ("datasets/iris/files", {"path": "", "page": "1", "per_page": "100"})
    assert browser.detail.layout.display == "flex"
    page = browser.card.value
    for text in (
        "Iris flowers",
        "About Iris flowers.\nTwo lines.",
        "factory-ops",
        "CC0-1.0",
        "Fisher (1936)",
        "botany, classification",
        "public",
        "1.5 MB",
        str(tree),
        "tabular/csv",
    ):
        assert text in page, text
    names = [b.description for b in browser.entries.children]
    assert names == ["a/", "images/", "data.csv (16 B)", "escape (9 B)", "inside (16 B)"]
    assert browser.up_button.disabled
    assert "# pandas loads iris from" in browser.snippet_view.value


def test_card_escapes_hostile_text(api, tree):
    api.items.append(card("odd", "<img src=x onerror=alert(1)>", citation="a & b"))
    api.folders["odd"] = tree
    browser = browser_for(api)
    assert browser.open("odd")
    assert "<img" not in browser.card.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in browser.card.value
    assert "a &amp; b" in browser.card.value


def test_browsing_folders_and_a_folder_of_images(api, tree):
    previews = FakePreviews()
    browser = browser_for(api, previews=previews)
    browser.open("iris")
    assert previews.thumbnails == [] and browser.preview.value == ""
    folder = next(b for b in browser.entries.children if b.description == "images/")
    folder.click()
    assert api.calls[-1][1]["path"] == "images"
    assert not browser.up_button.disabled
    # thumbnails of the images inside the dataset; the link out of it is left out
    ((paths, size, limit),) = previews.thumbnails
    assert paths == [tree / "images" / n for n in ("01.png", "02.jpg", "03.JPEG")]
    assert (size, limit) == (96, 12)
    assert "images: 3 images" in browser.preview.value
    assert "left out, not inside the dataset: 99-evil.png" in browser.preview.value
    assert previews.read == []
    browser.up_button.click()
    assert api.calls[-1][1]["path"] == ""
    assert browser.browse("a/b") and browser.model.folder == "a/b"
    browser.up_button.click()
    assert browser.model.folder == "a"
    assert [b.description for b in browser.entries.children] == ["b/"]


def test_paging_through_a_folder(api, tree):
    for i in range(5):
        (tree / f"part-{i}.csv").write_text("x\n")
    browser = browser_for(api, files_per_page=4)
    browser.open("iris")
    assert browser.files_label.value == "page 1 of 3, 10 entries"
    assert browser.files_previous.disabled
    browser.files_next.click()
    assert api.calls[-1][1] == {"path": "", "page": "2", "per_page": "4"}
    assert browser.files_label.value == "page 2 of 3, 10 entries"
    browser.files_next.click()
    assert browser.files_next.disabled
    assert not browser.model.files_page(+1)
    assert browser.model.status == "this folder has pages 1 to 3; this is page 3"


def test_preview_of_a_file(api, tree):
    previews = FakePreviews()
    browser = browser_for(api, previews=previews)
    browser.open("iris")
    next(b for b in browser.entries.children if b.description.startswith("data.csv")).click()
    assert previews.read == [tree / "data.csv"]
    assert "table: data.csv" in browser.preview.value
    assert browser.model.preview.kind == "table"
    assert browser.show_file("a/b/deep.txt") and previews.read[-1] == tree / "a/b/deep.txt"
    # a link that stays inside the dataset is fine: its target is read
    assert browser.show_file("inside") and previews.read[-1] == tree / "data.csv"


@pytest.mark.parametrize(
    "path, why",
    [
        ("../x", "has the part '..'"),
        ("/etc/passwd", "is absolute"),
        ("a/../../b", "has the part '..'"),
        ("images/../../secret.txt", "has the part '..'"),
        ("escape", "leads out of the dataset"),
        ("images/99-evil.png", "leads out of the dataset"),
        ("~root/.ssh/id_rsa", "is absolute"),
        ("a\\..\\..\\secret.txt", "contains a backslash"),
    ],
)
def test_paths_out_of_the_dataset_are_refused_and_never_read(api, tree, path, why):
    previews = FakePreviews()
    browser = browser_for(api, previews=previews)
    browser.open("iris")
    assert not browser.show_file(path)
    assert why in browser.model.preview_error
    assert "Refused: " in said(browser.status) and why in said(browser.status)
    assert (
        "only files inside the dataset" in browser.model.preview_error
        or "relative to the dataset's folder" in browser.model.preview_error
    )  # what is allowed
    assert previews.read == [] and previews.thumbnails == []


def test_browsing_out_of_the_dataset_is_refused_before_asking(api):
    browser = browser_for(api)
    browser.open("iris")
    calls = len(api.calls)
    for path in ("../mnist", "/etc", "a/../../b"):
        assert not browser.browse(path)
        assert "Refused: path" in said(browser.status)
    assert len(api.calls) == calls and browser.model.folder == ""


def test_permission_and_missing_files(api, tree):
    browser = browser_for(api, previews=FakePreviews(fail=PermissionError(13, "denied")))
    browser.open("iris")
    assert not browser.show_file("data.csv")
    assert browser.model.preview_error == f"data.csv: {NOT_PERMITTED}"
    assert "you may not read this file (filesystem permissions)" in browser.preview.value
    assert not browser.show_file("nothing.csv")
    assert "no file 'nothing.csv' in dataset 'iris'" in browser.model.preview_error
    assert not browser.show_file("images")
    assert "'images' is a folder, not a file: browse it" in browser.model.preview_error
    browser.browse("images")
    assert f"thumbnails: {NOT_PERMITTED}" in browser.preview.value


def test_readability_is_checked_before_the_preview_reads(api, monkeypatch):
    previews = FakePreviews()
    browser = browser_for(api, previews=previews)
    browser.open("iris")
    monkeypatch.setattr("aiworkbench.catalog.widget.os.access", lambda path, mode: False)
    assert not browser.show_file("data.csv")
    assert browser.model.preview_error == f"data.csv: {NOT_PERMITTED}"
    assert previews.read == []


def test_with_the_real_previews_and_snippets(api, tree):
    from PIL import Image

    for name in ("01.png", "02.jpg"):
        Image.new("RGB", (40, 30), "red").save(tree / "images" / name)
    (tree / "images" / "03.JPEG").unlink()
    browser = DatasetBrowser(fetch=api)  # aiworkbench.catalog.preview and .snippets
    browser.open("iris")
    assert browser.show_file("data.csv")
    assert browser.model.preview.kind == "table" and "sepal" in browser.preview.value
    browser.browse("images")
    assert browser.model.preview.kind == "images"
    assert browser.preview.value.count("data:image/png;base64,") == 2
    assert "left out, not inside the dataset: 99-evil.png" in said(browser.preview)
    assert (
        not browser.show_file("escape")
        and "leads out of the dataset" in browser.model.preview_error
    )
    for library in LIBRARIES:
        assert repr(str(tree)) in browser.snippet(library)
    api.items[0]["format"] = "wav"
    browser.open("iris")
    assert "no code for this dataset: no snippets for format 'wav'" in said(browser.snippet_view)


def test_a_dataset_without_a_folder_here_is_not_previewed(api):
    previews = FakePreviews()
    model = CatalogModel(api, previews=previews, snippets=FakeSnippets())
    model.detail = dict(api.items[1], path="relative/folder")  # an odd answer
    assert not model.show_file("x.png")
    assert "the API gave no absolute folder for dataset 'mnist'" in model.preview_error
    assert previews.read == []


def test_names_that_cannot_be_datasets_are_refused_before_asking(api):
    browser = browser_for(api)
    calls = len(api.calls)
    for name in ("../catalog", "a/b", "", "Iris"):
        assert not browser.open(name)
        assert f"dataset name {name!r}: use 1-64 lower-case letters" in said(browser.status)
    assert len(api.calls) == calls
    assert not browser.show_file("data.csv")
    assert "no dataset is open: open one first" in said(browser.status)


# --- errors -----------------------------------------------------------------------------


def test_api_errors_are_shown_and_the_last_results_kept(api):
    browser = browser_for(api)
    rows = browser.results.children
    api.fail = [WorkbenchAPIUnreachable("[Errno 111] Connection refused")]
    browser.query_box.value = "digits"
    assert said(browser.status)[2:] == (
        "The workbench API did not answer the search ([Errno 111] Connection refused); "
        "what is shown is from before. Try again in a moment."
    )
    assert browser.results.children == rows  # the last results stay
    assert browser.query_box.value == "digits"  # what was typed stays too
    assert browser.pages_label.value == "page 1 of 1, 2 datasets"
    api.fail = [WorkbenchAPIError("q has 300 characters; at most 200 (HTTP 400)", 400)]
    assert not browser.search("x" * 300)
    assert (
        "The workbench API refused the search: q has 300 characters; at most 200 (HTTP 400)"
    ) in said(browser.status)
    assert browser.results.children == rows
    assert browser.search("digits")  # it works again: the status line clears
    assert browser.status.value == "" and len(browser.results.children) == 2


def test_opening_fails_and_the_open_dataset_stays(api):
    browser = browser_for(api)
    assert browser.open("iris")
    assert not browser.open("secret-project")
    assert (
        "refused the request for dataset 'secret-project': no dataset 'secret-project' (or it "
        "is restricted to projects you are not in) (HTTP 404)"
    ) in said(browser.status)
    assert browser.model.detail["name"] == "iris" and "Iris flowers" in browser.card.value
    api.fail = [WorkbenchAPIUnreachable("timed out")]
    assert not browser.browse("images")
    assert "did not answer the listing of folder 'images' in dataset 'iris'" in said(browser.status)
    assert browser.model.folder == "" and len(browser.entries.children) == 5


def test_the_browser_opens_even_when_the_api_is_away(api):
    api.fail = [WorkbenchAPIUnreachable("timed out"), WorkbenchAPIUnreachable("timed out")]
    browser = browser_for(api, "iris")
    assert "did not answer the search (timed out)" in said(browser.status)
    assert browser.results.children == () and browser.pages_label.value == ""
    assert list(browser.dropdowns["modality"].options) == [("any", "")]
    api.fail = [
        WorkbenchAPIError(
            "AIWORKBENCH_API_URL is not set: the workbench API is "
            "reachable in workbench sessions, where the hub sets it"
        )
    ]
    browser = browser_for(api)  # the search works; why the dropdowns are empty stays shown
    assert (
        "Could not send the request for the catalog's facets to the workbench API: "
        "AIWORKBENCH_API_URL is not set"
    ) in said(browser.status)


def test_odd_answers_are_shown_not_raised(api):
    browser = browser_for(api)
    browser.model.fetch = lambda path, params=None: {"message": "hello"}
    assert not browser.search("iris")
    assert "answered the search without 'items'" in said(browser.status)
    assert len(browser.results.children) == 2


# --- code to load it --------------------------------------------------------------------


def test_a_snippet_for_each_library(api, tree):
    browser = browser_for(api)
    browser.open("iris")
    assert [o for o in browser.libraries.options] == [
        (label, key) for key, label in LIBRARIES.items()
    ]
    for library in LIBRARIES:
        browser.libraries.value = library
        assert browser.snippet_view.value == (
            '<pre style="background:#f5f5f5;padding:6px;margin:0;overflow:auto">'
            f"# {library} loads iris from {tree}\nx = 1 &lt; 2</pre>"
        )
        assert browser.snippet(library) == f"# {library} loads iris from {tree}\nx = 1 < 2"
    assert browser.snippet() == browser.snippet("dask")
    with pytest.raises(
        ValueError,
        match="'polars' is not a library with a snippet; choose "
        "one of pandas, torch, datasets, dask",
    ):
        browser.snippet("polars")


def test_no_snippet_before_a_dataset_is_open(api):
    browser = browser_for(api)
    with pytest.raises(ValueError, match="no dataset is open: open one first"):
        browser.snippet("pandas")
    assert not browser.insert("pandas")
    assert "Nothing to insert: no dataset is open" in said(browser.status)


def test_insert_without_ipylab_says_to_copy(api, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipylab", None)  # import ipylab raises ImportError
    browser = browser_for(api)
    browser.open("iris")
    browser.insert_button.click()
    assert (
        "ipylab is not installed in this kernel, so the code cannot be inserted for you: "
        "copy it from the box above into a new cell"
    ) in said(browser.status)
    assert not browser.insert("torch")


def test_insert_asks_jupyterlab_for_a_cell_below(api, tree, monkeypatch):
    made = []

    class FrontEnd:
        def __init__(self):
            made.append(self)
            self.executed = []
            self.commands = types.SimpleNamespace(
                execute=lambda command, args=None: self.executed.append((command, args))
            )

    monkeypatch.setitem(sys.modules, "ipylab", types.SimpleNamespace(JupyterFrontEnd=FrontEnd))
    browser = browser_for(api)
    browser.open("iris")
    browser.libraries.value = "torch"
    browser.insert_button.click()
    assert browser.insert("pandas")
    assert len(made) == 1  # one front end per browser
    code = f"# torch loads iris from {tree}\nx = 1 < 2"
    assert made[0].executed[:2] == [
        ("notebook:insert-cell-below", None),
        ("notebook:replace-selection", {"text": code}),
    ]
    assert made[0].executed[3][1]["text"].startswith("# pandas")
    assert "Inserted the pandas code into a new cell below this one." in said(browser.status)


# --- the widget -------------------------------------------------------------------------


def test_dom_hooks_for_browser_tests(api):
    browser = browser_for(api)
    browser.open("iris")
    hooks = {
        "aiwb-ds-search": browser.search_row,
        "aiwb-ds-results": browser.results,
        "aiwb-ds-detail": browser.detail,
        "aiwb-ds-files": browser.files_box,
        "aiwb-ds-preview": browser.preview,
        "aiwb-ds-snippet": browser.snippet_view,
        "aiwb-ds-insert": browser.insert_button,
        "aiwb-ds-status": browser.status,
    }
    for css, widget in hooks.items():
        assert css in widget._dom_classes, css
    assert all("aiwb-ds-result" in row.children[0]._dom_classes for row in browser.results.children)
    bundle = browser._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Open: iris" in bundle["text/plain"]
    browser.close()
    assert browser.widget.comm is None


def test_closing_the_dataset_hides_the_detail(api):
    browser = browser_for(api)
    browser.open("iris")
    browser.close_button.click()
    assert browser.detail.layout.display == "none" and browser.model.detail is None


def test_datasets_checks_its_filters_and_importing_stays_light():
    with pytest.raises(ValueError, match="'size' is not a filter"):
        aiworkbench.datasets(size="big")
    assert aiworkbench.datasets.__module__ == "aiworkbench.catalog.widget"
    code = (
        "import sys, aiworkbench, aiworkbench.catalog.widget; "
        "print(sorted(m for m in ('ipywidgets', 'ipylab', 'pandas', 'numpy', 'PIL') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_outside_a_session_the_status_line_says_why(monkeypatch):
    monkeypatch.delenv("AIWORKBENCH_API_URL", raising=False)
    browser = DatasetBrowser(snippets=FakeSnippets(), previews=FakePreviews())
    assert "AIWORKBENCH_API_URL is not set" in said(browser.status)
