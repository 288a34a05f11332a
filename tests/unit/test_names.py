"""The name rules (aiworkbench.core.names): each accepts its good names and refuses the
rest with words, the limits that must agree do, and no second owner of a name rule
hides anywhere else in the package."""

import argparse
import ast
import re
from pathlib import Path

import pytest
from jupyterhub.slugs import is_valid_safe_slug

from aiworkbench.core import names
from aiworkbench.core.names import NameRefused
from aiworkbench.core.site import load_site

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "aiworkbench"
OWNER = PACKAGE / "core" / "names.py"

# Good names of each rule: the shortest, the longest, and the sites' and tests' own.
GOOD = {
    "user": ["a", "_svc", "ada", "intro-01", "slurm-reader", "aiworkbench-dash", "u" * 32],
    "group": ["factory-users", "_g", "g" * 32],
    "project": ["p", "edu-intro", "sme_vision", "p" * 32],
    "partition": ["cpu", "gpu", "gpu-a100", "p" * 32],
    "cluster": ["aifactory", "c", "c" * 40],
    "node": ["vm", "node-01", "1node", "n" * 63],
    "database": ["jupyterhub", "_db", "d" * 63],
    "claim": ["preferred_username", "groups", "https://example.org/claims/projects", "c" * 128],
    "preset": ["small", "2xl", "p" * 64],
    "profile": ["cpu-small", "gpu_1", "p" * 64],
    "class": ["intro", "ml-2027", "c" * 20],
    "session": ["a", "training", "gpu-2", "a1-b2-c3", "s" * 30],
    "batch_job": ["train", "Train_v2.1", "_x", "j" * 40],
    "dataset": ["iris", "mnist", "breast-cancer-wisconsin", "v1.2_data", "d" * 64],
    "tag": ["botany", "c++", "3d", "t" * 40],
    "course": ["first-steps", "01-intro", "c" * 48],
    "exercise": ["q1", "gpu-hours", "Q1.b", "_x", "e" * 64],
    "version": ["20270115T080000Z-a1b2c3", "v1", "V" * 40],
}
UPPER_CASE_REFUSED = {
    "user",
    "group",
    "project",
    "partition",
    "cluster",
    "node",
    "database",
    "preset",
    "profile",
    "class",
    "session",
    "dataset",
    "tag",
    "course",
}
# A claim may be a URL (namespaced claims): the one rule that allows '/'.
SLASH_ALLOWED = {"claim"}


def rules():
    return pytest.mark.parametrize("kind", sorted(names.RULES))


def test_every_rule_has_good_names_here():
    assert set(GOOD) == set(names.RULES)


@rules()
def test_good_names_pass(kind):
    rule = names.RULES[kind]
    for name in GOOD[kind]:
        assert rule.ok(name), name
        assert rule.check(name) == name
        assert rule.problem(name) is None


@rules()
def test_a_trailing_newline_never_passes(kind):
    rule = names.RULES[kind]
    for name in GOOD[kind]:
        for tail in ("\n", "\r\n", "\n#SBATCH --uid=0"):
            assert not rule.ok(name + tail), repr(name + tail)


@rules()
def test_one_character_too_many_is_refused(kind):
    rule = names.RULES[kind]
    longest = max(GOOD[kind], key=len)
    assert len(longest) == rule.limit
    assert not rule.ok(longest + longest[-1])
    with pytest.raises(NameRefused, match=f"use 1-{rule.limit} "):
        rule.check(longest + longest[-1])


@rules()
def test_upper_case_where_refused(kind):
    rule = names.RULES[kind]
    upper = GOOD[kind][0].upper()
    if kind in UPPER_CASE_REFUSED:
        assert not rule.ok(upper)
        assert "lower-case" in rule.allowed
    else:
        assert rule.ok(upper)


@rules()
def test_path_separators_are_refused(kind):
    rule = names.RULES[kind]
    good = GOOD[kind][1]
    for name in ("a\\b", "..\\x", f"{good}\\x"):
        assert not rule.ok(name), name
    for name in ("/", "../x", f"{good}/x", f"x/{good}"):
        assert rule.ok(name) is (kind in SLASH_ALLOWED and not name.startswith(("/", "."))), name


@rules()
def test_a_leading_dash_an_empty_name_and_other_types_are_refused(kind):
    rule = names.RULES[kind]
    for value in ("-" + GOOD[kind][0], "-", "", " ", None, 5, ["x"], b"x"):
        assert not rule.ok(value), value
        with pytest.raises(NameRefused) as refused:
            rule.check(value)
        assert isinstance(refused.value, ValueError) and refused.value.rule is rule


def test_a_refusal_says_what_was_wrong_and_what_is_allowed():
    with pytest.raises(NameRefused) as refused:
        names.PROJECT.check("Edu-Intro")
    assert str(refused.value) == (
        "project name 'Edu-Intro': use 1-32 lower-case letters, digits, '-' or '_', "
        "starting with a letter"
    )
    assert names.USER.problem("a b\n") == (
        "user name 'a b\\n': use 1-32 lower-case letters, digits, '-' or '_', starting "
        "with a letter or '_'"
    )
    assert names.COURSE.problem(["x"]) == (
        "course name ['x'] (list): use 1-48 lower-case letters, digits or '-', starting "
        "with a letter or digit"
    )
    long = names.DATASET.problem("x" * 500)
    assert long.startswith("dataset name 'xxxxxxxx") and "x..." in long and len(long) < 200


def test_a_command_line_name_is_checked_with_the_rule():
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--user", type=names.USER.argument())
    assert parser.parse_args(["--user", "_svc"]).user == "_svc"
    checked = names.USER.argument()
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        checked("Ada")
    assert str(refused.value).startswith("user name 'Ada': use 1-32")
    assert isinstance(refused.value.__cause__, NameRefused)


def test_every_pattern_is_used_whole():
    for kind, rule in names.RULES.items():
        # Used with fullmatch, so no anchors, and never '$' (it lets "name\n" through).
        assert not rule.pattern.pattern.startswith("^"), kind
        assert "$" not in rule.pattern.pattern and not rule.pattern.pattern.endswith("\\Z"), kind
        assert rule.allowed.startswith(f"1-{rule.limit} "), kind


def test_the_limits_that_must_agree_do():
    # Slurm users are Unix users; a project is a Slurm account and a Unix group.
    assert names.USER.limit == names.GROUP.limit == names.PROJECT.limit == 32
    assert names.USER.pattern.pattern == names.GROUP.pattern.pattern
    # A project's name is a user name too (not the other way: no leading '_').
    for name in GOOD["project"]:
        assert names.USER.ok(name)
    # A class's learner accounts (CLASS-01 .. CLASS-999) are user names.
    for learner in ("c" * names.CLASS.limit + "-999", "ml-2027-01"):
        assert names.USER.ok(learner), learner
    # A course's published version folder (COURSE-VERSION) stays a short file name.
    assert names.COURSE.limit + 1 + names.VERSION.limit <= 255


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "training",
        "gpu-2",
        "a" * 30,
        "a" * 31,
        "1a",
        "-a",
        "a-",
        "a--b",
        "A",
        "a_b",
        "a.b",
        "",
        "a\n",
        "é",
    ],
)
def test_session_names_are_the_ones_jupyterhub_accepts(name):
    assert names.SESSION.ok(name) is is_valid_safe_slug(name)


def test_the_demo_site_keeps_every_rule():
    site = load_site(REPO / "hub_config" / "site.toml")
    for rule, found in (
        (names.PROJECT, site.projects),
        (names.PARTITION, site.partitions),
        (names.USER, site.users),
        (names.CLASS, site.classes),
        (names.PRESET, site.presets),
        (names.PROFILE, site.profiles),
    ):
        assert [n for n in found if not rule.ok(n)] == [], rule.what
    assert names.CLUSTER.ok(site.slurm.cluster_name)


# --- no second owner -------------------------------------------------------------------

# What a name rule looks like in source: a character class holding a-z (not a negated
# one) with a length bound, e.g. [a-z0-9-]{0,47}. Paths, URLs, hex tokens and free text
# have no such bound; every name rule the package had before names.py did.
NAME_RULE = re.compile(r"\[(?!\^)[^\]]*a-z[^\]]*\]\)?\{\d*(?:,\d*)?\}")
SCAN_SAMPLES = [
    r"^[a-z][a-z0-9_-]{0,63}$",  # found: the API's old project rule
    r"[A-Za-z0-9_.-]{1,40}",
    r"""\bcheck\(\s*["']([A-Za-z0-9_.-]{1,64})["']""",
    '<input pattern="[a-z0-9][a-z0-9-]{0,29}" maxlength="30">',
    r"^([a-z][a-z0-9-]{0,19})?$",
    r"[a-z](?:-?[a-z0-9]){0,29}",
    r"^/[A-Za-z0-9_./-]+$",  # not found: a path
    r"[0-9a-fA-F]{32,}",  # a hex token
    r"[^a-z0-9]+",  # a negated class
    r"^(https?://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:[0-9]{1,5})?)?$",  # a URL
    r"[A-Za-z0-9.+() -]+",  # free text
    r"-\d{8}T\d{6}Z-[0-9a-f]{6}",  # a version folder's stamp
]


def source_strings(path: Path):
    """(line, text) of every string in ``path``: a module's string constants (f-strings'
    parts too), a template's or TypeScript file's lines."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        yield from enumerate(text.splitlines(), 1)
        return
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_the_scan_finds_a_name_rule_and_nothing_else():
    found = [NAME_RULE.search(s) is not None for s in SCAN_SAMPLES]
    assert found == [True] * 6 + [False] * 6
    assert all(NAME_RULE.search(rule.pattern.pattern) for rule in names.RULES.values())


def test_no_name_rule_lives_outside_names_py():
    files = [
        p
        for p in sorted(PACKAGE.rglob("*"))
        if p.suffix in (".py", ".html", ".ts") and p != OWNER and "node_modules" not in p.parts
    ]
    assert any(p.suffix == ".html" for p in files) and len(files) > 100
    found = [
        f"{p.relative_to(REPO)}:{line}: {text.strip()[:80]!r}"
        for p in files
        for line, text in source_strings(p)
        if NAME_RULE.search(text)
    ]
    assert found == [], "name rules belong in aiworkbench/core/names.py:\n" + "\n".join(found)
