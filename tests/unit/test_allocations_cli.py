"""``aiworkbench-allocations``: the site file's projects as grants, and its refusals."""

from pathlib import Path

from aiworkbench.allocations import cli, reconcile
from aiworkbench.core.site import load_site

DEMO_SITE = Path(__file__).resolve().parents[2] / "hub_config" / "site.toml"


def test_the_demo_sites_projects_are_its_grants_learners_included():
    site = load_site(DEMO_SITE)
    grants = cli.grants_from_site(site)
    assert [g.account for g in grants] == list(site.projects)
    intro = next(g for g in grants if g.account == "edu-intro")
    assert intro.gpu_minutes == site.projects["edu-intro"].gpu_minutes
    assert "intro-01" in intro.members and "student" in intro.members
    reconcile.validate(grants, readers=(site.slurm.reader,))  # raises nothing


def test_a_site_file_that_cannot_be_read_is_refused_with_exit_2(tmp_path, capsys):
    broken = tmp_path / "site.toml"
    broken.write_text("[projects\n")
    assert cli.main(["reconcile", "--dry-run", "--site", str(broken)]) == 2
    assert "aiworkbench-allocations:" in capsys.readouterr().err
