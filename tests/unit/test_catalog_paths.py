"""Paths inside a dataset, as the API and the widget check them: traversal in every
spelling is refused with what is allowed; symbolic links leading out are refused."""

import urllib.parse

import pytest

from aiworkbench.catalog.paths import PathError, clean_relative, resolve_inside


@pytest.mark.parametrize(
    "path, clean",
    [
        ("", ""),
        ("data.csv", "data.csv"),
        ("images/3/", "images/3"),
        ("a/b/c.png", "a/b/c.png"),
        ("..data", "..data"),
        ("%2e%2e", "%2e%2e"),  # a name, not a parent (decoded only once)
    ],
)
def test_clean_paths_pass(path, clean):
    assert clean_relative(path) == clean


@pytest.mark.parametrize(
    "path, reason",
    [
        ("..", "has the part '..'"),
        ("../secret", "has the part '..'"),
        ("a/../../b", "has the part '..'"),
        ("a/./b", "has the part '.'"),
        ("a//b", "has the part ''"),
        ("/etc/passwd", "is absolute"),
        ("~root", "is absolute"),
        ("..\\windows", "backslash"),
        ("a\x00b", "control characters"),
        (urllib.parse.unquote("%2e%2e%2fsecret"), "has the part '..'"),
        (urllib.parse.unquote("%2Fetc%2Fpasswd"), "is absolute"),
        ("x" * 5000, "at most 4096"),
    ],
)
def test_traversal_is_refused_with_what_is_allowed(path, reason):
    with pytest.raises(PathError) as err:
        clean_relative(path)
    assert reason in str(err.value)
    if "4096" not in reason:
        assert "relative to the dataset's folder" in str(err.value)


def test_links_out_of_the_dataset_are_refused_links_inside_pass(tmp_path):
    dataset, outside = tmp_path / "iris", tmp_path / "outside"
    (dataset / "data").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.csv").write_text("secret\n")
    (dataset / "data" / "iris.csv").write_text("a\n")
    (dataset / "escape").symlink_to(outside)
    (dataset / "secret.csv").symlink_to(outside / "secret.csv")
    (dataset / "alias.csv").symlink_to(dataset / "data" / "iris.csv")
    (dataset / "up").symlink_to("..")
    assert resolve_inside(dataset, "data/iris.csv") == dataset / "data" / "iris.csv"
    assert resolve_inside(dataset, "alias.csv") == dataset / "data" / "iris.csv"
    assert resolve_inside(dataset, "") == dataset
    for path in ("escape/secret.csv", "secret.csv", "up/outside/secret.csv", "up"):
        with pytest.raises(PathError, match="leads out of the dataset"):
            resolve_inside(dataset, path)
