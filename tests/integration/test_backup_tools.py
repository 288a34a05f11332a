"""aiworkbench-backup against real database servers, private to each test.

A throwaway PostgreSQL 15 cluster and a throwaway MariaDB server are started in
temporary folders, on their own sockets with no TCP: the factory's live servers
(and slurm_acct_db) are never touched. The accounting database here has a
scratch name, so that even a wrong socket could not reach slurm_acct_db.
A missing tool is a failure, never a skip.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from aiworkbench.admin import backup as bk
from aiworkbench.admin.backup import Factory

pytestmark = pytest.mark.integration

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PORT = 54329  # only names the socket file: the private cluster listens on no TCP port
HUB_ROLE = "nobody"  # the hub user of this test: any system user will do for peer auth


def run(argv, *, user=None, input=None, timeout=120):
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    done = subprocess.run(
        argv, input=input, capture_output=True, text=True, timeout=timeout, cwd="/"
    )
    assert done.returncode == 0, f"{argv} failed ({done.returncode}): {done.stderr}"
    return done.stdout


def need(*paths):
    missing = [p for p in paths if not (Path(p).exists() if "/" in p else shutil.which(p))]
    assert not missing, (
        f"missing tools: {', '.join(missing)} (apt-get install postgresql-15 "
        f"mariadb-server mariadb-client)"
    )


def private_dir(prefix: str, owner: str) -> Path:
    """A temporary folder under /tmp the server's user can reach (pytest's is root's only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    shutil.chown(path, owner, owner)
    return path


def hub_files(tmp_path: Path) -> Path:
    data = tmp_path / "hub"
    data.mkdir(mode=0o700)
    (data / bk.COOKIE_SECRET).write_text("ab" * 32 + "\n")
    return data


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def postgresql():
    """A private PostgreSQL 15 cluster (socket folder, port), peer authentication."""
    need(
        str(PG_BIN / "initdb"),
        str(PG_BIN / "pg_ctl"),
        "pg_dump",
        "pg_restore",
        "psql",
        "createdb",
        "dropdb",
        "runuser",
    )
    root = private_dir("aiwb-pg-", "postgres")
    data = root / "data"
    run(
        [
            str(PG_BIN / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            "postgres",
            "--auth-local",
            "peer",
            "--auth-host",
            "reject",
            "--encoding",
            "UTF8",
        ],
        user="postgres",
    )
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            f"\nlisten_addresses = ''\nport = {PG_PORT}\nunix_socket_directories = '{root}'\n"
        )
    run(
        [
            str(PG_BIN / "pg_ctl"),
            "--pgdata",
            str(data),
            "--log",
            str(root / "server.log"),
            "--wait",
            "start",
        ],
        user="postgres",
    )
    try:
        yield root, PG_PORT
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "--pgdata",
                str(data),
                "--mode",
                "fast",
                "--wait",
                "stop",
            ],
            capture_output=True,
            cwd="/",
        )
        shutil.rmtree(root, ignore_errors=True)


def psql(socket_dir, port, database, sql, user=HUB_ROLE):
    return run(
        [
            "psql",
            "--host",
            str(socket_dir),
            "--port",
            str(port),
            "--dbname",
            database,
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--set",
            "ON_ERROR_STOP=1",
            "--command",
            sql,
        ],
        user=user,
    )


def test_postgresql_hub_database_backed_up_dropped_and_restored(postgresql, tmp_path):
    socket_dir, port = postgresql
    database = "hub_backup_test"
    psql(socket_dir, port, "postgres", f"CREATE ROLE {HUB_ROLE} LOGIN", user="postgres")
    run(
        ["createdb", "--host", str(socket_dir), "--port", str(port), "--owner", HUB_ROLE, database],
        user="postgres",
    )
    psql(
        socket_dir,
        port,
        database,
        "CREATE TABLE users (id serial PRIMARY KEY, name text UNIQUE);"
        "CREATE TABLE spawners (id serial PRIMARY KEY, user_id int REFERENCES users, "
        "state jsonb);"
        "INSERT INTO users (name) VALUES ('ada'), ('has@x');"
        'INSERT INTO spawners (user_id, state) VALUES (1, \'{"job_id": "4242"}\');',
    )
    factory = Factory(
        data_dir=hub_files(tmp_path),
        hub_user=HUB_ROLE,
        hub_database="postgresql",
        pg_host=str(socket_dir),
        pg_port=port,
        pg_database=database,
        cluster_name="pgtest",
        hub_pidfile=str(tmp_path / "hub.pid"),
        slurmdbd_pidfile=str(tmp_path / "slurmdbd.pid"),
    )
    dest = tmp_path / "backups"
    dest.mkdir()

    folder = bk.backup(factory, dest, parts=("hub",), online=True)
    dump = folder / bk.HUB_PGDUMP
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    manifest = bk.verify(folder)
    assert manifest["tools"]["pg_dump"].startswith("pg_dump (PostgreSQL) 15")

    def state():
        return psql(
            socket_dir,
            port,
            database,
            "SELECT u.name, s.state->>'job_id' FROM users u LEFT JOIN spawners s "
            "ON s.user_id = u.id ORDER BY u.id",
        ).split()

    expected = ["ada|4242", "has@x|"]
    assert state() == expected
    # Changed after the backup: the restore drops it with the database.
    psql(
        socket_dir,
        port,
        database,
        "INSERT INTO users (name) VALUES ('later');CREATE TABLE extra (x int);",
    )
    bk.restore(factory, folder, parts=("hub",))
    assert state() == expected
    assert psql(socket_dir, port, database, "SELECT to_regclass('extra') IS NULL") == "t\n"

    # Gone altogether: created again, owned by the hub role, as are its tables.
    run(["dropdb", "--host", str(socket_dir), "--port", str(port), database], user="postgres")
    done = bk.restore(factory, folder, parts=("hub",))
    assert state() == expected
    assert (
        psql(
            socket_dir,
            port,
            database,
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()",
        )
        == f"{HUB_ROLE}\n"
    )
    assert (
        psql(
            socket_dir,
            port,
            database,
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
        )
        == f"{HUB_ROLE}\n"
    )
    assert any(
        f"PostgreSQL database {database} recreated (owner {HUB_ROLE})" in line for line in done
    )
    assert (factory.data_dir / bk.COOKIE_SECRET).stat().st_mode & 0o777 == 0o600

    # A dump that does not load leaves the hub database as it was, and no scratch one.
    dump.write_bytes(b"PGDMP" + b"\x00" * 64)
    with pytest.raises(bk.BackupError, match="pg_restore"):
        bk.restore_postgresql(factory, dump)
    assert state() == expected
    assert (
        psql(
            socket_dir,
            port,
            "postgres",
            "SELECT datname FROM pg_database WHERE datname LIKE 'hub_backup_test_%'",
        )
        == ""
    )


# ---------------------------------------------------------------- MariaDB


@pytest.fixture
def mariadb():
    """A private MariaDB server on its own socket, no networking; yields the socket."""
    need("mariadb-install-db", "mariadbd", "mariadb", "mariadb-dump")
    root = private_dir("aiwb-mariadb-", "mysql")
    data, sock = root / "data", root / "sock"
    run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            "--user=mysql",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        timeout=300,
    )
    server = subprocess.Popen(
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={sock}",
            "--skip-networking",
            "--user=mysql",
            f"--pid-file={root}/mariadbd.pid",
            f"--log-error={root}/error.log",
        ],
        cwd="/",
    )
    try:
        deadline = time.monotonic() + 60
        while (
            subprocess.run(
                ["mariadb", f"--socket={sock}", "--execute", "SELECT 1"], capture_output=True
            ).returncode
            != 0
        ):
            assert server.poll() is None, (root / "error.log").read_text()
            assert time.monotonic() < deadline, "the private mariadbd did not answer in 60 s"
            time.sleep(0.5)
        yield str(sock)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def sql(sock, statement, database=""):
    return run(
        [
            "mariadb",
            f"--socket={sock}",
            "--batch",
            "--skip-column-names",
            *([database] if database else []),
            "--execute",
            statement,
        ]
    )


@pytest.mark.parametrize("compress", [True, False])
def test_mariadb_accounting_backed_up_dropped_and_restored(mariadb, tmp_path, compress):
    database = f"aiwb_backup_test_{secrets.token_hex(4)}"  # never slurm_acct_db
    sql(mariadb, f"CREATE DATABASE {database}")
    sql(
        mariadb,
        "CREATE TABLE job_table (id_job INT PRIMARY KEY, account VARCHAR(64), "
        "gpu_minutes BIGINT) ENGINE=InnoDB;"
        "INSERT INTO job_table VALUES (1, 'edu-intro', 30), (2, 'has@x', 0);"
        "CREATE PROCEDURE used_minutes() SELECT SUM(gpu_minutes) FROM job_table;",
        database,
    )
    factory = Factory(
        data_dir=hub_files(tmp_path),
        hub_user="root",
        accounting_database=database,
        mariadb_socket=mariadb,
        cluster_name="mariadbtest",
        hub_pidfile=str(tmp_path / "hub.pid"),
        slurmdbd_pidfile=str(tmp_path / "slurmdbd.pid"),
    )
    dest = tmp_path / "backups"
    dest.mkdir()

    folder = bk.backup(factory, dest, parts=("accounting",), online=True, compress=compress)
    name = f"{database}.sql" + (".gz" if compress else "")
    assert [e["name"] for e in bk.verify(folder)["files"]] == [name]
    assert "mariadb-dump" in bk.verify(folder)["tools"]["mariadb-dump"]

    expected = "1\tedu-intro\t30\n2\thas@x\t0\n"
    select = "SELECT * FROM job_table ORDER BY id_job"
    # Changed after the backup: gone after the restore (the dump recreates the database).
    sql(
        mariadb,
        "INSERT INTO job_table VALUES (3, 'later', 5); CREATE TABLE extra (x INT);",
        database,
    )
    done = bk.restore(factory, folder, parts=("accounting",))
    assert sql(mariadb, select, database) == expected
    assert sql(mariadb, f"SHOW TABLES FROM {database}") == "job_table\n"
    assert sql(mariadb, "CALL used_minutes()", database) == "30\n"
    assert done == [f"Slurm accounting: MariaDB database {database} recreated from {name}"]

    sql(mariadb, f"DROP DATABASE {database}")
    bk.restore(factory, folder, parts=("accounting",))
    assert sql(mariadb, select, database) == expected
