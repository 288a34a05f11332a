"""aiworkbench-hub-db-migrate against real databases, private to each test.

The source is a real JupyterHub SQLite database, made with JupyterHub's own ORM. The
target is a throwaway PostgreSQL 15 cluster in a temporary folder, on its own socket
with no TCP, peer authentication (the fixture of test_backup_tools.py): the factory's
live PostgreSQL is never touched. The migrations log in as the test's own system user
(root: a role of that name owns the databases in the private cluster), as the hub's
would as its own. A missing tool is a failure, never a skip.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from jupyterhub import dbutil, orm
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from aiworkbench.admin import hub_db_migrate as mig
from aiworkbench.core.site import parse_site
from aiworkbench.hub.config import db_url

from ..unit.test_site import MINIMAL
from .test_backup_tools import psql, run

pytestmark = pytest.mark.integration

ME = pwd.getpwuid(os.geteuid()).pw_name  # in-process migrations log in as this role
JH5_REVISION = "4621fec11365"  # the schema of JupyterHub 5.x (manage_roles)
JOB_STATE = {"job_id": "4242", "job_status": "RUNNING", "job_host": "cpu-1"}


# ---------------------------------------------------------------- databases


def new_database(pg, name: str, owner: str = ME) -> str:
    """An empty database owned by ``owner`` in the private cluster; its URL, written as
    hub.config.db_url writes the hub's (socket folder as host)."""
    socket_dir, port = pg
    psql(
        socket_dir,
        port,
        "postgres",
        f"DO $$ BEGIN CREATE ROLE {owner} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        user="postgres",
    )
    run(
        ["createdb", "--host", str(socket_dir), "--port", str(port), "--owner", owner, name],
        user="postgres",
    )
    return f"postgresql+psycopg2://{owner}@/{name}?host={socket_dir}&port={port}"


def make_hub_sqlite(path: Path) -> dict:
    """A hub database as a JupyterHub hub leaves it: users (one with an awkward name and
    encrypted auth state), groups, roles, a running session (server, spawner state),
    a stopped named one, a share, a service, API tokens. Returns what to look for."""
    db = orm.new_session_factory(f"sqlite:///{path}")()
    db.add(orm.OAuthClient(identifier="jupyterhub", description="JupyterHub"))
    db.add(
        orm.OAuthClient(
            identifier="service-workbench",
            secret="s3cret",
            redirect_uri="/services/workbench/oauth_callback",
            allowed_scopes=["access:services!service=workbench"],
        )
    )
    user_role = orm.Role(name="user", scopes=["self", "access:services!service=workbench"])
    readers = orm.Role(
        name="budget-readers", description="Managers and admins", scopes=["read:users:activity"]
    )
    ada = orm.User(
        name="ada",
        admin=True,
        encrypted_auth_state=b"\x00\xffsealed",
        created=datetime(2025, 3, 1, 9, 30, 15, 123456),
    )
    weird = orm.User(name="has@x", user_info={"display": "Has X"})
    db.add_all([user_role, readers, ada, weird])
    db.commit()
    ada.roles.append(user_role)
    weird.roles.append(user_role)
    managers = orm.Group(name="managers", users=[ada], properties={"site": "home"})
    managers.roles.append(readers)
    db.add(managers)
    server = orm.Server(ip="10.0.0.5", port=45678, base_url="/user/ada/")
    running = orm.Spawner(
        user=ada,
        server=server,
        name="",
        state=JOB_STATE,
        user_options={"profile": "small", "project": "p1"},
        started=datetime(2025, 3, 2, 8, 0, 0),
    )
    stopped = orm.Spawner(user=weird, name="gpu session", state={"job_id": "4243"})
    db.add_all([server, running, stopped])
    service = orm.Service(name="workbench", url="http://127.0.0.1:8890", display=False)
    db.add_all(
        [service, orm.Role(name="workbench-service", scopes=["read:users"], services=[service])]
    )
    db.commit()
    db.add(orm.Share(owner=ada, spawner=running, user=weird, scopes=["access:servers!server=ada/"]))
    token = ada.new_api_token(note="workbench tests", scopes=["read:users!user=ada"])
    service_token = service.new_api_token(scopes=["read:users"])
    db.commit()
    db.close()
    return {"token": token, "service_token": service_token}


def typed_rows(url: str) -> dict[str, list]:
    """Every row of every JupyterHub table, decoded by JupyterHub's own column types,
    in primary-key order."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in orm.Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def hub_session(url: str):
    """A session on the target as the hub opens it (checks the alembic revision)."""
    return orm.new_session_factory(url)()


def sqlite_tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


def alembic(url: str, *args: str, tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    dbutil.write_alembic_ini(str(ini), url)
    subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "-c", str(ini), *args],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )


@pytest.fixture
def data_dir(tmp_path) -> Path:
    data = tmp_path / "hub"
    data.mkdir(mode=0o700)
    return data


# ---------------------------------------------------------------- the migration


def test_rows_relations_and_sequences_survive_the_move(postgresql, data_dir):
    source = data_dir / mig.HUB_SQLITE
    made = make_hub_sqlite(source)
    before = typed_rows(f"sqlite:///{source}")
    target = new_database(postgresql, "hub_migrate_test")

    report = mig.migrate(f"sqlite:///{source}", target)

    assert report.outcome == mig.MIGRATED
    assert report.rows == {name: len(rows) for name, rows in before.items()}
    assert report.rows["users"] == 2 and report.rows["spawners"] == 2
    assert report.rows["api_tokens"] == 2 and report.rows["user_role_map"] == 2
    assert list(report.rows) == [t.name for t in orm.Base.metadata.sorted_tables]
    head = mig.alembic_head()
    assert report.from_revision == report.to_revision == head
    # The SQLite file is kept beside, renamed; nothing else is left in the folder.
    assert (
        not source.exists()
        and report.kept_as == data_dir / "jupyterhub.sqlite.migrated-to-postgresql"
    )
    assert sorted(p.name for p in data_dir.iterdir()) == [report.kept_as.name]
    assert report.lines()[0].startswith(f"migrated {source} into postgresql+psycopg2://")

    # Every row, column for column (dates, booleans, JSON, bytes).
    assert typed_rows(target) == before
    db = hub_session(target)
    try:
        assert db.scalar(text("SELECT version_num FROM alembic_version")) == head
        ada, weird = orm.User.find(db, "ada"), orm.User.find(db, "has@x")
        assert ada.admin and not weird.admin
        assert ada.encrypted_auth_state == b"\x00\xffsealed"
        assert ada.created == datetime(2025, 3, 1, 9, 30, 15, 123456)
        assert weird.user_info == {"display": "Has X"}
        assert [g.name for g in ada.groups] == ["managers"] and weird.groups == []
        assert [r.name for r in orm.Group.find(db, "managers").roles] == ["budget-readers"]
        assert {r.name for r in weird.roles} == {"user"}
        session = ada.orm_spawners[""]
        assert session.state == JOB_STATE
        assert session.user_options == {"profile": "small", "project": "p1"}
        assert (session.server.ip, session.server.port) == ("10.0.0.5", 45678)
        assert weird.orm_spawners["gpu session"].server is None
        assert [s.user.name for s in db.query(orm.Share)] == ["has@x"]
        token = orm.APIToken.find(db, made["token"])
        assert token.user.name == "ada" and token.note == "workbench tests"
        assert token.scopes == ["read:users!user=ada"]
        assert orm.APIToken.find(db, made["service_token"]).service.name == "workbench"

        # New rows after the move: the sequences were set past the copied ids.
        newcomer = orm.User(name="newcomer")
        db.add(newcomer)
        db.add(orm.Group(name="trainers", users=[newcomer]))
        db.add(orm.Role(name="newcomers", users=[newcomer]))
        db.add(orm.Spawner(user=newcomer, name="", server=orm.Server(port=45679)))
        db.add(orm.OAuthClient(identifier="service-dashboards"))
        db.commit()
        newcomer.new_api_token(note="after the move")
        db.add(
            orm.Share(
                owner=ada,
                spawner=session,
                group=orm.Group.find(db, "trainers"),
                scopes=["access:servers!server=ada/"],
            )
        )
        db.commit()
        assert newcomer.id == max(u.id for u in (ada, weird)) + 1
    finally:
        db.close()

    # A second run has nothing to do and changes nothing.
    after = typed_rows(target)
    again = mig.migrate(f"sqlite:///{source}", target)
    assert again.outcome == mig.NOTHING
    assert again.lines() == [
        f"nothing to migrate: {source} does not exist (an earlier "
        f"run moved it into PostgreSQL; the file is kept as "
        f"{report.kept_as})"
    ]
    assert typed_rows(target) == after


def test_dry_run_counts_and_writes_nothing(postgresql, data_dir):
    source = data_dir / mig.HUB_SQLITE
    make_hub_sqlite(source)
    original = source.read_bytes()
    target = new_database(postgresql, "hub_dry_run_test")

    report = mig.migrate(f"sqlite:///{source}", target, dry_run=True)

    assert report.outcome == mig.WOULD_MIGRATE and report.kept_as is None
    assert report.rows["users"] == 2 and report.total > 10
    assert report.lines()[0].startswith("would migrate ")
    assert source.read_bytes() == original
    assert sorted(p.name for p in data_dir.iterdir()) == [mig.HUB_SQLITE]
    socket_dir, port = postgresql
    assert (
        psql(
            socket_dir,
            port,
            "hub_dry_run_test",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            user=ME,
        )
        == "0\n"
    )
    assert mig.migrate(f"sqlite:///{source}", target).rows == report.rows


def test_a_target_with_users_is_refused_and_left_alone(postgresql, data_dir):
    source = data_dir / mig.HUB_SQLITE
    make_hub_sqlite(source)
    original = source.read_bytes()
    target = new_database(postgresql, "hub_live_test")
    db = hub_session(target)  # a hub started on it: its schema, and a user
    db.add(orm.User(name="live"))
    db.commit()
    db.close()
    before = typed_rows(target)

    with pytest.raises(
        mig.MigrationRefused,
        match="already holds 1 users: a live hub database is never overwritten",
    ):
        mig.migrate(f"sqlite:///{source}", target)

    assert typed_rows(target) == before
    assert source.read_bytes() == original
    assert sorted(p.name for p in data_dir.iterdir()) == [mig.HUB_SQLITE]


def test_a_target_with_other_rows_is_refused(postgresql, data_dir):
    source = data_dir / mig.HUB_SQLITE
    make_hub_sqlite(source)
    target = new_database(postgresql, "hub_roles_only_test")
    db = hub_session(target)  # a hub that made its roles, then stopped before its users
    db.add(orm.Role(name="admin"))
    db.commit()
    db.close()

    with pytest.raises(
        mig.MigrationRefused,
        match=r"already holds rows \(no users\): "
        r"roles \(1\)",
    ):
        mig.migrate(f"sqlite:///{source}", target)
    assert source.exists()


def test_an_empty_schema_made_by_the_hub_is_migrated_into(postgresql, data_dir):
    source = data_dir / mig.HUB_SQLITE
    make_hub_sqlite(source)
    target = new_database(postgresql, "hub_empty_schema_test")
    hub_session(target).close()  # tables at head, no rows

    assert mig.migrate(f"sqlite:///{source}", target).rows["users"] == 2
    assert typed_rows(target)["users"]


def test_a_missing_source_is_nothing_to_migrate(data_dir):
    # No server at all: a missing source is decided before any connection.
    target = "postgresql+psycopg2://nobody@/jupyterhub?host=/nonexistent&port=5432"
    report = mig.migrate(f"sqlite:///{data_dir}/{mig.HUB_SQLITE}", target)
    assert report.outcome == mig.NOTHING
    assert report.lines() == [f"nothing to migrate: {data_dir}/{mig.HUB_SQLITE} does not exist"]


def test_a_failure_midway_rolls_everything_back(postgresql, data_dir):
    """A row PostgreSQL rejects (here: a NUL character, which SQLite stores) aborts
    the one transaction: no tables, no stamp, the SQLite file where it was."""
    source = data_dir / mig.HUB_SQLITE
    make_hub_sqlite(source)
    db = sqlite3.connect(source)
    db.execute("UPDATE spawners SET display_name = ? WHERE name = 'gpu session'", ("bad\x00name",))
    db.commit()
    db.close()
    target = new_database(postgresql, "hub_rollback_test")

    with pytest.raises(
        mig.MigrationError,
        match="failed while copying table spawners and "
        "was rolled back: A string literal cannot "
        "contain NUL",
    ):
        mig.migrate(f"sqlite:///{source}", target)

    socket_dir, port = postgresql
    assert (
        psql(
            socket_dir,
            port,
            "hub_rollback_test",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            user=ME,
        )
        == "0\n"
    )
    assert sorted(p.name for p in data_dir.iterdir()) == [mig.HUB_SQLITE]


def test_an_old_schema_is_upgraded_first_on_a_copy(postgresql, data_dir, tmp_path):
    """A database from JupyterHub 5 (an older alembic revision, fewer columns) is brought
    to the installed JupyterHub's schema by JupyterHub's own upgrade, on a copy."""
    source = data_dir / mig.HUB_SQLITE
    made = make_hub_sqlite(source)
    alembic(f"sqlite:///{source}", "downgrade", JH5_REVISION, tmp_path=tmp_path)
    assert mig.sqlite_revision(source) == JH5_REVISION
    old = source.read_bytes()
    target = new_database(postgresql, "hub_old_schema_test")

    report = mig.migrate(f"sqlite:///{source}", target)

    assert report.from_revision == JH5_REVISION and report.to_revision == mig.alembic_head()
    assert "upgraded from JupyterHub revision 4621fec11365" in "\n".join(report.lines())
    assert report.kept_as.read_bytes() == old  # the original file was not upgraded
    db = hub_session(target)
    try:
        ada = orm.User.find(db, "ada")
        assert ada.orm_spawners[""].state == JOB_STATE
        assert ada.orm_spawners[""].display_name is None  # a column JupyterHub 6 added
        assert orm.APIToken.find(db, made["token"]).user is ada
        assert sorted(u.name for u in db.query(orm.User)) == ["ada", "has@x"]
    finally:
        db.close()


def test_an_untagged_database_is_guessed_as_jupyterhub_does(postgresql, data_dir):
    """Hubs before 0.8 did not stamp their database; JupyterHub's check guesses the
    revision from the tables, as its upgrade-db does."""
    source = data_dir / mig.HUB_SQLITE
    make_hub_sqlite(source)
    db = sqlite3.connect(source)
    db.execute("DROP TABLE alembic_version")
    db.commit()
    db.close()
    target = new_database(postgresql, "hub_untagged_test")

    report = mig.migrate(f"sqlite:///{source}", target)
    assert report.from_revision is None and report.rows["users"] == 2
    assert "upgraded from JupyterHub revision untagged" in "\n".join(report.lines())


# ---------------------------------------------------------------- the command


def test_the_command_from_the_site_file(postgresql, data_dir):
    """``--site`` gives both databases (the target through hub.config.db_url, the socket
    folder as host); the command runs as the site's hub user (here the test's own: the
    test's Python may live where other users cannot run it) and logs in by peer
    authentication; exit 0 with migrated, then with nothing to migrate."""
    socket_dir, port = postgresql
    make_hub_sqlite(data_dir / mig.HUB_SQLITE)
    site_text = MINIMAL + (
        f'\n[hub]\nuser = "{ME}"\ndata_dir = "{data_dir}"\n'
        f'database = "postgresql"\npostgresql_host = "{socket_dir}"\n'
        f'postgresql_port = {port}\npostgresql_database = "hub_cli_test"\n'
    )
    site_file = data_dir.parent / "site.toml"
    site_file.write_text(site_text)
    target = new_database(postgresql, "hub_cli_test")
    assert target == db_url(parse_site(site_text))

    def command(*args):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "aiworkbench.admin.hub_db_migrate",
                "--site",
                str(site_file),
                "--hub-pidfile",
                str(data_dir.parent / "no-hub.pid"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd="/",
        )

    dry = command("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"would migrate {data_dir}/jupyterhub.sqlite into ")
    assert "\n  users: 2\n" in dry.stdout
    assert (
        psql(
            socket_dir,
            port,
            "hub_cli_test",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            user=ME,
        )
        == "0\n"
    )

    done = command()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"migrated {data_dir}/jupyterhub.sqlite into postgresql+psycopg2://{ME}@/hub_cli_test"
    )
    assert (
        f"kept the SQLite file as {data_dir}/jupyterhub.sqlite.migrated-to-postgresql"
        in done.stdout
    )
    assert (
        psql(
            socket_dir,
            port,
            "hub_cli_test",
            "SELECT string_agg(name, ',' ORDER BY id) FROM users",
            user=ME,
        )
        == "ada,has@x\n"
    )
    assert (
        psql(
            socket_dir,
            port,
            "hub_cli_test",
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
            user=ME,
        )
        == f"{ME}\n"
    )

    again = command()
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing to migrate: ")

    # A second SQLite file, made by a hub started on SQLite again: the target has users.
    make_hub_sqlite(data_dir / mig.HUB_SQLITE)
    refused = command()
    assert refused.returncode == 1 and refused.stdout == ""
    assert "refused: both " in refused.stderr
