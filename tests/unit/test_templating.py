"""The widgets' templates (aiworkbench.widgets.templating): shipped as package data and found
where the package is installed; every view they render escapes what it is given, with
the entities the widgets always wrote."""

import ast
import copy
import html
import importlib.resources
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jinja2
import pytest

from aiworkbench.budgets.widget import build_view, project_html
from aiworkbench.catalog import widget as catalog_widget
from aiworkbench.catalog.preview import Preview, to_html
from aiworkbench.courses.exercise import CheckResult
from aiworkbench.courses.widget import ClassProgress, CourseOutline, bar_html
from aiworkbench.dashboards import queries, views
from aiworkbench.widgets import base as widget_base
from aiworkbench.widgets import templating

from ..fakes import BUDGETS, FakeCourseAPI, course_entry, rec

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "aiworkbench"
HOSTILE = "<script>alert(\"x\")</script> & 'y' é"
ESCAPED = html.escape(HOSTILE)  # &quot; and &#x27;, as html.escape writes them
# Templates that show nothing from outside the code (numbers and fixed words only), and
# the macros the others import.
NO_OUTSIDE_VALUES = {
    "course_bar.html",
    "dashboard_nav.html",
    "dashboard_sessions.html",
    "course_macros.html",
    "widget_macros.html",
}


def template_files() -> list[Path]:
    return sorted(
        p
        for package in templating.PACKAGES
        for p in (REPO / "src" / package.replace(".", "/") / "templates").iterdir()
    )


def template_names() -> set[str]:
    names = [p.name for p in template_files()]
    assert len(names) == len(set(names)), "a template name is used twice"
    return set(names)


# --- shipped with the package ---------------------------------------------------------


def test_the_templates_are_package_data_found_from_the_installed_package():
    shipped = {
        p.name
        for package in templating.PACKAGES
        for p in (importlib.resources.files(package) / "templates").iterdir()
        if p.name.endswith(".html")
    }
    assert shipped == template_names() and "status_line.html" in shipped
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["aiworkbench"]
    matched = {p for g in globs for p in PACKAGE.glob(g)}
    assert set(template_files()) <= matched  # every file ships
    named = set()
    for path in PACKAGE.rglob("*.py"):
        named |= set(re.findall(r'render\(\s*"([\w.]+)"', path.read_text()))
    for path in template_files():
        named |= set(re.findall(r'{%\s*(?:include|from|import)\s+"([\w.]+)"', path.read_text()))
    assert named == template_names()  # each is used, each used one exists


def test_a_copy_of_what_the_package_ships_renders_every_template(tmp_path):
    """What setuptools installs (the modules and the package data) is enough: the
    package imported from elsewhere finds and compiles its templates."""
    site = tmp_path / "site"
    globs = [
        "**/*.py",
        *tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
            "aiworkbench"
        ],
    ]
    for pattern in globs:
        for path in PACKAGE.glob(pattern):
            target = site / "aiworkbench" / path.relative_to(PACKAGE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    code = (
        "import aiworkbench, aiworkbench.widgets.templating as t\n"
        "import aiworkbench.widgets.base as w\n"
        f"assert aiworkbench.__file__.startswith({str(site)!r}), aiworkbench.__file__\n"
        "env = t.environment()\n"
        "names = env.list_templates()\n"
        "[env.get_template(n) for n in names]\n"
        "print(len(names), w.status_line('<b>', '#555', mark=True, bold=False))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin"},
    )
    assert out.stdout.split() == [
        str(len(template_names())),
        "<div",
        'style="color:#555;font-weight:normal">⚠',
        "&lt;b&gt;</div>",
    ]


def test_importing_the_package_does_not_import_jinja2():
    code = (
        "import sys, aiworkbench, aiworkbench.dashboards.views, aiworkbench.catalog.preview;"
        " print('jinja2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the rules the templates rely on --------------------------------------------------


def test_values_are_escaped_as_html_escape_does_markup_from_macros_is_not():
    line = widget_base.status_line(HOSTILE, "#555", mark=False, bold=False)
    assert line == f'<div style="color:#555;font-weight:normal">{ESCAPED}</div>'
    assert "&quot;x&quot;" in line and "&#x27;y&#x27;" in line
    link = templating.render("course_notebook.html", name="a&b", link="/x?a=1&b=2", folder="~/f")
    assert link == '<a href="/x?a=1&amp;b=2" target="_blank">a&amp;b</a>'


def test_a_value_the_template_is_not_given_is_an_error():
    with pytest.raises(jinja2.UndefinedError, match="'colour' is undefined"):
        templating.render("status_line.html", text="x", mark=False, bold=False)


def test_line_breaks_in_a_template_are_dropped_spaces_within_lines_kept():
    bar = bar_html(1, 3)
    assert "\n" not in bar and "height:12px;background:#e0e0e0" in bar
    assert '<span style="padding-left:8px">1 of 3 exercises passed</span></div>' in bar
    text = to_html(Preview(kind="text", title="t", text="a\n  b"))
    assert "<pre>a\n  b</pre>" in text  # a value's line breaks are its own


# --- every view escapes what it is given ----------------------------------------------


def outline(tmp_path, prefix=""):
    entry = course_entry(
        tmp_path / "published",
        title=HOSTILE,
        level=HOSTILE,
        summary=HOSTILE,
        goals=[HOSTILE],
        published_by=HOSTILE,
        notebooks=[HOSTILE],
        session={"partition": HOSTILE, "gpus": 1},
        exercises=[[HOSTILE, HOSTILE]],
    )
    api = FakeCourseAPI([entry], [rec("alice", HOSTILE, 1, False)])
    environ = {"JUPYTERHUB_SERVICE_PREFIX": prefix} if prefix else {}
    model = CourseOutline(fetch=api, home=tmp_path / "home", environ=environ)
    assert model.load()
    return model, model.courses[0]


def class_progress(tmp_path):
    api = FakeCourseAPI(
        [course_entry(tmp_path, title=HOSTILE, exercises=[[HOSTILE, HOSTILE]])],
        [rec(HOSTILE, HOSTILE, 3, False)],
        user="trainer",
        classes={"intro": {"trainers": ["trainer", HOSTILE], "members": [HOSTILE]}},
    )
    model = ClassProgress("intro", fetch=api)
    assert model.load()
    return model


VIEWS = {}  # name: a function of a temporary folder that renders a view of HOSTILE


def view(function):
    VIEWS[function.__name__] = function
    return function


@view
def status_line(tmp_path):
    return widget_base.status_line(HOSTILE, "#c62828", mark=True, bold=True)


@view
def session_card(tmp_path):
    import dataclasses

    from aiworkbench.sessions.info import session_info

    info = session_info(
        {
            "SLURM_JOB_ID": "42",
            "SLURMD_NODENAME": HOSTILE,
            "SLURM_JOB_PARTITION": HOSTILE,
            "SLURM_JOB_ACCOUNT": HOSTILE,
        }
    )
    return dataclasses.replace(info, fetch=lambda path, timeout: {})._repr_html_()


@view
def course_header(tmp_path):
    model, course = outline(tmp_path)
    return model.header_html(course)


@view
def course_notebooks(tmp_path):
    model, course = outline(tmp_path)
    return model.notebooks_html(course)


@view
def course_notebooks_linked(tmp_path):
    model, course = outline(tmp_path, prefix=f"/user/{HOSTILE}/")
    return model.notebooks_html(course)


@view
def course_next(tmp_path):
    model, course = outline(tmp_path, prefix=f"/user/{HOSTILE}/")
    return model.next_html(course)


@view
def course_notebook(tmp_path):
    model, course = outline(tmp_path)
    return model.notebook_html(course, HOSTILE)


@view
def class_header(tmp_path):
    return class_progress(tmp_path).header_html()


@view
def class_table(tmp_path):
    return class_progress(tmp_path).table_html()


@view
def check_result(tmp_path):
    return CheckResult(HOSTILE, False, HOSTILE, HOSTILE, HOSTILE)._repr_html_()


@view
def budget_project(tmp_path):
    payload = copy.deepcopy(BUDGETS)
    payload["projects"][0]["project"] = HOSTILE  # this session's: its lines name it too
    return project_html(build_view(payload, "481"), HOSTILE, 0, stale=True)


@view
def catalog_datacard(tmp_path):
    detail = {key: HOSTILE for key in ("name", "title", "description", "owner", "path")}
    return catalog_widget.datacard_html(dict(detail, tags=[HOSTILE], access=[HOSTILE]))


@view
def catalog_message(tmp_path):
    return catalog_widget.message_html(HOSTILE)


@view
def catalog_code(tmp_path):
    return catalog_widget.code_html(HOSTILE)


@view
def catalog_result(tmp_path):
    return catalog_widget.result_html({"name": HOSTILE, "access": [HOSTILE]})


@view
def catalog_folder(tmp_path):
    return catalog_widget.folder_html(HOSTILE, HOSTILE)


@view
def catalog_file(tmp_path):
    return catalog_widget.file_html(HOSTILE)


@view
def catalog_heading(tmp_path):
    return catalog_widget.heading_html(HOSTILE)


@view
def batch_status(tmp_path):
    from aiworkbench.scaleout.batch import BatchJob

    job = BatchJob(HOSTILE, tmp_path / "job.log")
    job.state, job.reason, job.elapsed = HOSTILE, HOSTILE, HOSTILE
    return job.status_html()


@view
def dashboard_hint(tmp_path):
    return views.hint_html(HOSTILE)


@view
def preview_table(tmp_path):
    return to_html(Preview("table", HOSTILE, [(HOSTILE, HOSTILE)], [[HOSTILE]], note=HOSTILE))


@view
def preview_text(tmp_path):
    return to_html(Preview("text", HOSTILE, text=HOSTILE))


@view
def preview_images(tmp_path):
    return to_html(Preview("images", HOSTILE, images=[(HOSTILE, b"\x89PNG")]))


ROWS = queries.Rows((HOSTILE, "b"), [(HOSTILE, 1.5), (None, 2)])


@view
def dashboard_table(tmp_path):
    return views.table_html(ROWS, title=HOSTILE)


@view
def dashboard_csv_link(tmp_path):
    return views.csv_link(HOSTILE, ROWS)


@view
def dashboard_title(tmp_path):
    class Board(views.Queue):
        title = HOSTILE

    board = Board(str(tmp_path / "none.duckdb"))
    try:
        return board.widget.children[0].value
    finally:
        board.close()


@pytest.mark.parametrize("name", list(VIEWS))
def test_each_view_escapes_a_hostile_value(name, tmp_path):
    page = VIEWS[name](tmp_path)
    assert "<script>" not in page and "'y'" not in page and '"x"' not in page, page
    assert ESCAPED in page, page


def test_the_hostile_views_cover_every_template_with_outside_values(tmp_path, monkeypatch):
    env = templating.environment()
    seen, get_template = set(), env.get_template
    monkeypatch.setattr(
        env,
        "get_template",
        lambda name, *args, **kwargs: (seen.add(name), get_template(name, *args, **kwargs))[1],
    )
    for name, render in VIEWS.items():
        render(tmp_path / name)
    assert seen | NO_OUTSIDE_VALUES == template_names()


# --- one pattern: markup in templates, colours from one owner --------------------------

# An HTML element's start or end tag (the elements the widgets and pages use).
HTML_TAG = re.compile(
    r"</?(?:a|b|i|p|br|hr|div|span|table|thead|tbody|tr|td|th|pre|code|small|h[1-6]|ul|ol|"
    r"li|img|style|script|form|input|button|label|strong|em)\b[^<]*>?",
    re.IGNORECASE,
)


def string_literals(path: Path):
    """(line, text) of each string literal in ``path``, docstrings left out; an f-string's
    literal parts are literals of their own."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def test_no_module_writes_html_in_a_python_string():
    """The widgets' markup is in the features' templates/, where every value is escaped."""
    found = [
        f"{path.relative_to(REPO)}:{line}: {text[:60]!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, text in string_literals(path)
        if HTML_TAG.search(text)
    ]
    assert found == []
    assert HTML_TAG.search('<div style="color:red">') and HTML_TAG.search("</b>: ")
    assert not HTML_TAG.search("<batch job 42: RUNNING>")  # a repr, not markup


def test_the_status_colours_have_one_owner():
    """widgets.base.STATUS_COLOURS is the one place the status colours are written; the
    widgets, the dashboards and the templates take them from there."""
    owner = PACKAGE / "widgets" / "base.py"
    found = [
        f"{path.relative_to(REPO)}: {colour}"
        for path in sorted(PACKAGE.rglob("*"))
        if path.suffix in (".py", ".html") and path != owner
        for colour in widget_base.STATUS_COLOURS.values()
        if colour.lower() in path.read_text(encoding="utf-8").lower()
    ]
    assert found == []
    assert set(widget_base.STATUS_COLOURS) == {"info", "ok", "warning", "error", "none"}
