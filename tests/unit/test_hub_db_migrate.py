"""aiworkbench-hub-db-migrate's command line: arguments, the site file, refusals made
before any database is contacted, exit status. The migration itself runs against real
databases in tests/integration/test_hub_db_migrate.py."""

import os
import pwd
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from jupyterhub import orm

from aiworkbench.admin import hub_db_migrate as mig

from . import test_import_rules as import_rules
from .test_site import MINIMAL

ME = pwd.getpwuid(os.geteuid()).pw_name
NO_SERVER = "/nonexistent-socket-dir"  # any connection attempt would fail loudly


def write_site(tmp_path: Path, *, database="postgresql", user=ME) -> tuple[Path, Path]:
    """A site file whose hub data folder is ``tmp_path/hub``; (site file, data folder)."""
    data = tmp_path / "hub"
    data.mkdir(exist_ok=True)
    site = tmp_path / "site.toml"
    site.write_text(
        MINIMAL + f'\n[hub]\nuser = "{user}"\ndata_dir = "{data}"\n'
        f'database = "{database}"\npostgresql_host = "{NO_SERVER}"\n'
    )
    return site, data


def make_sqlite(path: Path) -> None:
    """A SQLite database, not a hub's (for checks made before it is read)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.commit()
    db.close()


def make_hub_sqlite(path: Path) -> None:
    """An empty hub database, as JupyterHub makes it."""
    orm.new_session_factory(f"sqlite:///{path}")().close()


def run_main(capsys, *argv):
    code = mig.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- arguments


def test_defaults(monkeypatch):
    monkeypatch.delenv("AIWORKBENCH_SITE", raising=False)
    args = mig.parser().parse_args([])
    assert args.site == "/etc/aiworkbench/site.toml"
    assert args.dry_run is False
    assert args.hub_pidfile is None  # the hub's own pid file, from the site


def test_the_site_file_from_the_environment_and_the_command_line(monkeypatch):
    monkeypatch.setenv("AIWORKBENCH_SITE", "/srv/site.toml")
    assert mig.parser().parse_args([]).site == "/srv/site.toml"
    args = mig.parser().parse_args(["--site", "/tmp/a site.toml", "--dry-run"])
    assert args.site == "/tmp/a site.toml" and args.dry_run


@pytest.mark.parametrize("argv", [["--sight", "x"], ["--site"], ["extra"], ["--dry-run=yes"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        mig.main(argv)
    assert info.value.code == 2
    assert "usage: aiworkbench-hub-db-migrate" in capsys.readouterr().err


def test_help_says_to_run_as_the_hub_user(capsys):
    with pytest.raises(SystemExit) as info:
        mig.main(["--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "AS THE HUB USER" in out and "peer authentication" in out
    assert "runuser -u jupyterhub -- aiworkbench-hub-db-migrate" in out
    assert "0 migrated or nothing to migrate, 1 refused or failed" in out


def test_a_missing_site_file_exits_2(tmp_path, capsys):
    code, out, err = run_main(capsys, "--site", str(tmp_path / "none.toml"))
    assert code == 2 and out == ""
    assert "none.toml" in err and "cannot read the file" in err


def test_an_invalid_site_file_exits_2(tmp_path, capsys):
    site = tmp_path / "site.toml"
    site.write_text(MINIMAL + '\n[hub]\ndatabase = "mysql"\n')
    code, out, err = run_main(capsys, "--site", str(site))
    assert code == 2 and out == ""
    assert "hub.database" in err


def test_the_console_script_is_declared():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 'aiworkbench-hub-db-migrate = "aiworkbench.admin.hub_db_migrate:main"' in text


# ---------------------------------------------------------------- nothing to migrate


def test_a_sqlite_site_has_nothing_to_migrate(tmp_path, capsys):
    site, data = write_site(tmp_path, database="sqlite")
    make_sqlite(data / mig.HUB_SQLITE)
    code, out, err = run_main(capsys, "--site", str(site))
    assert code == 0 and err == ""
    assert out == (
        f"nothing to migrate: hub.database is 'sqlite' in {site}; the hub keeps "
        f"using {data}/jupyterhub.sqlite\n"
    )
    assert (data / mig.HUB_SQLITE).exists()


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_no_sqlite_file_has_nothing_to_migrate(tmp_path, capsys, dry_run):
    site, data = write_site(tmp_path)
    code, out, err = run_main(capsys, "--site", str(site), *dry_run)
    assert code == 0 and err == ""
    assert out == f"nothing to migrate: {data}/jupyterhub.sqlite does not exist\n"


def test_an_earlier_migration_has_nothing_to_migrate(tmp_path, capsys):
    site, data = write_site(tmp_path)
    make_sqlite(data / "jupyterhub.sqlite.migrated-to-postgresql")
    code, out, _ = run_main(capsys, "--site", str(site))
    assert code == 0
    assert out.startswith("nothing to migrate: ") and "an earlier run moved it" in out
    # The hub role's check for a change looks for the outcome at the start of the output.
    assert not out.startswith("migrated")


def test_the_hubs_own_pidfile_is_the_default(tmp_path, capsys):
    site, data = write_site(tmp_path)
    make_sqlite(data / mig.HUB_SQLITE)
    (data / "jupyterhub.pid").write_text(f"{os.getpid()}\n")  # JupyterHub.pid_file
    code, out, err = run_main(capsys, "--site", str(site))
    assert code == 1 and out == ""
    assert f"refused: the hub runs (pid {os.getpid()}, {data}/jupyterhub.pid)" in err


# ---------------------------------------------------------------- refusals (exit 1)


def test_another_user_is_refused(tmp_path, capsys):
    hub_user = "aiwb-hub-test" if ME != "aiwb-hub-test" else "aiwb-other"
    site, data = write_site(tmp_path, user=hub_user)
    make_sqlite(data / mig.HUB_SQLITE)
    code, out, err = run_main(capsys, "--site", str(site))
    assert code == 1 and out == ""
    assert f"refused: run as the hub user '{hub_user}', not '{ME}'" in err
    assert f"runuser -u {hub_user} -- " in err
    assert (data / mig.HUB_SQLITE).exists()


def test_a_running_hub_is_refused(tmp_path, capsys):
    site, data = write_site(tmp_path)
    make_sqlite(data / mig.HUB_SQLITE)
    pidfile = tmp_path / "jupyterhub.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    code, out, err = run_main(capsys, "--site", str(site), "--hub-pidfile", str(pidfile))
    assert code == 1 and out == ""
    assert f"refused: the hub runs (pid {os.getpid()}" in err
    assert sorted(p.name for p in data.iterdir()) == [mig.HUB_SQLITE]


def test_a_stale_pidfile_is_not_a_running_hub(tmp_path, capsys):
    site, data = write_site(tmp_path)
    pidfile = tmp_path / "jupyterhub.pid"
    pidfile.write_text("999999999\n")
    code, out, _ = run_main(capsys, "--site", str(site), "--hub-pidfile", str(pidfile))
    assert code == 0 and out.startswith("nothing to migrate: ")


def test_two_sqlite_files_are_refused_before_any_connection(tmp_path, capsys):
    site, data = write_site(tmp_path)
    make_sqlite(data / mig.HUB_SQLITE)
    make_sqlite(data / "jupyterhub.sqlite.migrated-to-postgresql")
    code, out, err = run_main(
        capsys, "--site", str(site), "--hub-pidfile", str(tmp_path / "none.pid")
    )
    assert code == 1 and out == ""
    assert "refused: both " in err and "Move one of them away" in err


def test_a_sqlite_file_jupyterhub_cannot_upgrade_is_refused(tmp_path, capsys):
    site, data = write_site(tmp_path)
    make_sqlite(data / mig.HUB_SQLITE)  # a users table, and nothing else of a hub
    before = (data / mig.HUB_SQLITE).read_bytes()
    code, out, err = run_main(
        capsys, "--site", str(site), "--hub-pidfile", str(tmp_path / "none.pid")
    )
    assert code == 1 and out == ""
    assert "refused: JupyterHub's upgrade of a copy of the SQLite database failed" in err
    assert (data / mig.HUB_SQLITE).read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == [mig.HUB_SQLITE]  # no copy left


def test_an_unreachable_target_fails_with_exit_1(tmp_path, capsys):
    site, data = write_site(tmp_path)
    make_hub_sqlite(data / mig.HUB_SQLITE)
    code, out, err = run_main(
        capsys, "--site", str(site), "--hub-pidfile", str(tmp_path / "none.pid")
    )
    assert code == 1 and out == ""
    assert "failed: cannot connect to postgresql+psycopg2://" in err
    assert sorted(p.name for p in data.iterdir()) == [mig.HUB_SQLITE]  # no copy left


# ---------------------------------------------------------------- migrate()'s own checks


@pytest.mark.parametrize(
    "source, target, message",
    [
        ("postgresql://x@/db", "postgresql://x@/db", "the source must be a SQLite file"),
        ("sqlite://", "postgresql://x@/db", "the source must be a SQLite file"),
        ("sqlite:///relative.sqlite", "postgresql://x@/db", "the source must be a SQLite file"),
        ("not a url", "postgresql://x@/db", "not a database URL"),
        ("sqlite:////tmp/x.sqlite", "sqlite:////tmp/y.sqlite", "must be a PostgreSQL database"),
    ],
)
def test_urls_are_checked(source, target, message):
    with pytest.raises(mig.MigrationRefused, match=message):
        mig.migrate(source, target)


def test_passwords_are_not_printed():
    assert (
        mig.hidden("postgresql+psycopg2://hub:s3cret@db.example/jupyterhub")
        == "postgresql+psycopg2://hub:***@db.example/jupyterhub"
    )


def test_the_report_lines():
    report = mig.Report(
        mig.MIGRATED,
        Path("/d/jupyterhub.sqlite"),
        "postgresql://h@/j",
        rows={"users": 2, "spawners": 3},
        from_revision="4621fec11365",
        to_revision="f460b0348206",
        kept_as=Path("/d/jupyterhub.sqlite.migrated-to-postgresql"),
    )
    assert report.lines() == [
        "migrated /d/jupyterhub.sqlite into postgresql://h@/j: 5 rows",
        "  users: 2",
        "  spawners: 3",
        "schema: the SQLite copy was upgraded from JupyterHub revision 4621fec11365 to "
        "f460b0348206 (the SQLite file itself is unchanged)",
        "kept the SQLite file as /d/jupyterhub.sqlite.migrated-to-postgresql",
    ]
    dry = mig.Report(
        mig.WOULD_MIGRATE,
        Path("/d/jupyterhub.sqlite"),
        "postgresql://h@/j",
        rows={"users": 1},
        from_revision="f460b0348206",
        to_revision="f460b0348206",
    )
    assert dry.lines()[0] == "would migrate /d/jupyterhub.sqlite into postgresql://h@/j: 1 rows"
    assert dry.lines()[-2:] == [
        "schema: JupyterHub revision f460b0348206",
        "would keep the SQLite file as /d/jupyterhub.sqlite.migrated-to-postgresql",
    ]


def test_hub_side_only():
    """The tool runs in the hub's environment: it loads nothing of the kernels' side,
    directly or through the hub's configuration (docs/architecture.md, "Import rules")."""
    code = (
        "import sys, aiworkbench.admin.hub_db_migrate, aiworkbench.hub.config\n"
        "print(' '.join(n for n in sys.modules if n.split('.')[0] == 'aiworkbench'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "aiworkbench.hub.config" in loaded
    assert [name for name in loaded if import_rules.side(name) == "kernel"] == []
