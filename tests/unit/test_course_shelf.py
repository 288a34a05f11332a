"""The courses' shelf: publishing the shipped courses to a class, once
(aiworkbench.courses.shelf)."""

from pathlib import Path

from aiworkbench.core.site import parse_site
from aiworkbench.courses import shelf

SHIPPED = sorted(Path("example_notebooks/courses").iterdir())


def demo_text(root: Path) -> str:
    return (
        Path("hub_config/site.toml")
        .read_text()
        .replace("[courses]\n", f'[courses]\nroot = "{root}"\n')
    )


def demo_site(root: Path):
    return parse_site(demo_text(root), "demo site")


def test_the_shipped_courses_are_published_once_and_then_left_as_they_are(tmp_path):
    site = demo_site(tmp_path / "courses")
    assert len(SHIPPED) == 4
    first = [shelf.publish_folder(site, "intro", folder, "trainer") for folder in SHIPPED]
    assert all(line.startswith("published: intro/") for line in first), first
    again = [shelf.publish_folder(site, "intro", folder, "trainer") for folder in SHIPPED]
    assert [line.replace("unchanged", "published") for line in again] == first
    on_shelf = shelf.published(tmp_path / "courses", "intro")
    assert sorted(c["course"] for c in on_shelf) == sorted(f.name for f in SHIPPED)
    assert {c["published_by"] for c in on_shelf} == {"trainer"}


def test_a_changed_course_is_published_again_and_the_cli_names_each(tmp_path, capsys):
    root = tmp_path / "courses"
    site_file = tmp_path / "site.toml"
    site_file.write_text(demo_text(root))
    course = tmp_path / "first-steps"
    course.mkdir()
    for item in SHIPPED[[f.name for f in SHIPPED].index("first-steps")].iterdir():
        (course / item.name).write_bytes(item.read_bytes())
    argv = ["publish", "--site", str(site_file), "--class", "intro", str(course)]
    assert shelf.main(argv) == 0
    (course / "01-sessions.ipynb").write_text(
        (course / "01-sessions.ipynb").read_text().replace("Slurm", "Slurm's", 1)
    )
    assert shelf.main(argv) == 0
    assert shelf.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["published", "published", "unchanged"]
    assert shelf.main(["publish", "--site", str(site_file), "--class", "nope", str(course)]) == 2
    assert "no class 'nope'; classes: intro" in capsys.readouterr().err


def test_a_folder_of_courses_publishes_each_of_them(tmp_path, capsys):
    site_file = tmp_path / "site.toml"
    site_file.write_text(demo_text(tmp_path / "courses"))
    assert (
        shelf.main(
            ["publish", "--site", str(site_file), "--class", "intro", "example_notebooks/courses"]
        )
        == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 4
