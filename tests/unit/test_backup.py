"""aiworkbench-backup: online copies, checked restores, refusals, commands without a shell.

The hub's SQLite files are real; the owner of the restored files is root here (the
hub user in production). The database tools' paths are tested for real in
tests/integration/test_backup_tools.py.
"""

import dataclasses
import hashlib
import json
import re
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aiworkbench.admin import backup as bk
from aiworkbench.admin.backup import BackupError, Factory, ToolFailed
from aiworkbench.core.site import parse_site

from .test_site import MINIMAL

REPO = Path(__file__).resolve().parents[2]
SECRET = bytes(range(32)).hex().encode() + b"\n"


def make_hub_db(path: Path, users=("ada", "has@x")):
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE servers (id INTEGER PRIMARY KEY, user_id INTEGER, "
        "job_id TEXT);"
    )
    for i, name in enumerate(users, 1):
        db.execute("INSERT INTO users (id, name) VALUES (?, ?)", (i, name))
        db.execute("INSERT INTO servers (user_id, job_id) VALUES (?, ?)", (i, str(1000 + i)))
    db.commit()
    return db


def rows(
    path: Path,
    query="SELECT u.name, s.job_id FROM users u JOIN servers s ON s.user_id = u.id ORDER BY u.id",
):
    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


@pytest.fixture
def factory(tmp_path):
    """A hub data folder with a live hub database (its connection stays open), course
    progress and a cookie secret; no daemon running."""
    data = tmp_path / "hub data"  # a space on purpose
    data.mkdir(mode=0o700)
    hub_db = make_hub_db(data / bk.HUB_SQLITE)
    progress = sqlite3.connect(data / bk.PROGRESS_SQLITE)
    progress.execute("CREATE TABLE progress (user TEXT, exercise TEXT, passed INTEGER)")
    progress.execute("INSERT INTO progress VALUES ('ada', 'ex1', 1)")
    progress.commit()
    (data / bk.COOKIE_SECRET).write_bytes(SECRET)
    (data / bk.COOKIE_SECRET).chmod(0o600)
    yield Factory(
        data_dir=data,
        hub_user="root",
        cluster_name="testcluster",
        hub_pidfile=str(tmp_path / "hub.pid"),
        slurmdbd_pidfile=str(tmp_path / "slurmdbd.pid"),
    )
    hub_db.close()
    progress.close()


@pytest.fixture
def dest(tmp_path):
    dest = tmp_path / "backups"
    dest.mkdir()
    return dest


@pytest.fixture
def sleeper():
    """A running process of ours, as a daemon would be."""
    proc = subprocess.Popen(["sleep", "60"])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    while cmdline.read_bytes() != b"sleep\x0060\x00":  # until it is sleep, not our fork
        time.sleep(0.01)
    yield proc.pid
    proc.kill()
    proc.wait()


def hub_backup(factory, dest, **kwargs):
    return bk.backup(factory, dest, parts=("hub",), **kwargs)


def test_online_backup_of_the_hub_then_restore_into_an_emptied_data_dir(factory, dest):
    writer = sqlite3.connect(factory.data_dir / bk.HUB_SQLITE)  # the hub, still open
    folder = hub_backup(factory, dest, online=True)
    writer.execute("INSERT INTO users (id, name) VALUES (3, 'after-the-backup')")
    writer.commit()
    writer.close()

    assert folder.parent == dest and re.fullmatch(r"aiworkbench-\d{8}-\d{6}", folder.name)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [bk.HUB_SQLITE, bk.PROGRESS_SQLITE, bk.COOKIE_SECRET, bk.MANIFEST]
    )
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}

    for path in factory.data_dir.iterdir():
        path.unlink()
    factory.data_dir.rmdir()
    done = bk.restore(factory, folder, parts=("hub",))

    data = factory.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in (bk.HUB_SQLITE, bk.PROGRESS_SQLITE, bk.COOKIE_SECRET):
        info = (data / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o600, name
        assert (info.st_uid, info.st_gid) == (0, 0), name
    assert rows(data / bk.HUB_SQLITE) == [("ada", "1001"), ("has@x", "1002")]
    assert rows(data / bk.PROGRESS_SQLITE, "SELECT * FROM progress") == [("ada", "ex1", 1)]
    assert (data / bk.COOKIE_SECRET).read_bytes() == SECRET
    assert sorted(p.name for p in data.iterdir()) == sorted(
        [bk.HUB_SQLITE, bk.PROGRESS_SQLITE, bk.COOKIE_SECRET]
    )  # no temporary left
    assert any(str(data / bk.HUB_SQLITE) in line for line in done)


def test_restore_removes_a_stale_journal_that_would_be_replayed(factory, dest):
    folder = hub_backup(factory, dest)
    journal = factory.data_dir / (bk.HUB_SQLITE + "-journal")
    journal.write_bytes(b"left over from a crash")
    wal = factory.data_dir / (bk.HUB_SQLITE + "-wal")
    wal.write_bytes(b"left over")
    bk.restore(factory, folder, parts=("hub",))
    assert not journal.exists() and not wal.exists()
    assert rows(factory.data_dir / bk.HUB_SQLITE)[0] == ("ada", "1001")


def test_manifest_records_sizes_checksums_cluster_time_and_tools(factory, dest):
    created = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    folder = hub_backup(factory, dest, created=created)
    assert folder.name == "aiworkbench-20260304-050607"
    manifest = json.loads((folder / bk.MANIFEST).read_text())
    assert manifest["created"] == "2026-03-04T05:06:07+00:00"
    assert manifest["cluster_name"] == "testcluster"
    assert manifest["parts"] == ["hub"] and manifest["hub_database"] == "sqlite"
    assert manifest["tools"]["sqlite"] == sqlite3.sqlite_version
    by_name = {e["name"]: e for e in manifest["files"]}
    secret = by_name[bk.COOKIE_SECRET]
    assert secret["bytes"] == len(SECRET)
    assert secret["sha256"] == hashlib.sha256(SECRET).hexdigest()
    assert all(e["part"] == "hub" for e in manifest["files"])


def test_a_modified_file_is_refused_and_nothing_is_restored(factory, dest):
    folder = hub_backup(factory, dest)
    secret = folder / bk.COOKIE_SECRET
    secret.write_bytes(SECRET.replace(b"0", b"1"))  # same size, other bytes
    (factory.data_dir / bk.COOKIE_SECRET).write_bytes(b"current\n")
    with pytest.raises(BackupError) as info:
        bk.restore(factory, folder, parts=("hub",))
    message = str(info.value)
    assert f"{bk.COOKIE_SECRET}: its sha256 differs from the manifest's" in message
    assert "nothing was restored" in message
    assert (factory.data_dir / bk.COOKIE_SECRET).read_bytes() == b"current\n"


def test_missing_truncated_and_extra_files_are_all_named(factory, dest):
    folder = hub_backup(factory, dest)
    (folder / bk.PROGRESS_SQLITE).unlink()
    with open(folder / bk.HUB_SQLITE, "ab") as f:
        f.write(b"x")
    (folder / "intruder.sql").write_text("DROP DATABASE x;")
    with pytest.raises(BackupError) as info:
        bk.verify(folder)
    message = str(info.value)
    assert f"{bk.PROGRESS_SQLITE}: missing" in message
    assert f"{bk.HUB_SQLITE}: " in message and "the manifest says" in message
    assert "intruder.sql: not in the manifest" in message


def test_a_folder_without_manifest_is_not_a_backup(tmp_path):
    with pytest.raises(BackupError, match="has no manifest.json: not a backup"):
        bk.verify(tmp_path)


def test_backup_refuses_while_the_hub_runs_unless_online(factory, dest, sleeper):
    Path(factory.hub_pidfile).write_text(f"{sleeper}\n")
    with pytest.raises(BackupError) as info:
        hub_backup(factory, dest)
    message = str(info.value)
    assert (
        f"the hub (JupyterHub) is running (pid {sleeper} in {factory.hub_pidfile}: "
        f"sleep 60)" in message
    )
    assert "make down" in message and "--online" in message
    assert list(dest.iterdir()) == []
    assert hub_backup(factory, dest, online=True).is_dir()


def test_restore_refuses_while_slurmdbd_or_the_hub_runs(factory, dest, sleeper):
    folder = hub_backup(factory, dest)
    manifest = json.loads((folder / bk.MANIFEST).read_text())
    Path(factory.slurmdbd_pidfile).write_text(f"{sleeper}\n")
    # the hub part alone does not wait for slurmdbd
    bk.restore(factory, folder, parts=("hub",))
    Path(factory.hub_pidfile).write_text(f"{sleeper}\n")
    with pytest.raises(BackupError) as info:
        bk.refuse_running(factory, bk.PARTS, "restore", online_hint=False)
    message = str(info.value)
    assert f"the hub (JupyterHub) is running (pid {sleeper}" in message
    assert f"slurmdbd is running (pid {sleeper} in {factory.slurmdbd_pidfile}" in message
    assert "make down" in message and "--online" not in message
    assert "stop it: supervisorctl stop slurmdbd" in message
    assert "stop it: supervisorctl stop jupyterhub\n" in message
    (factory.data_dir / bk.COOKIE_SECRET).write_bytes(b"current\n")
    with pytest.raises(BackupError, match="the hub \\(JupyterHub\\) is running"):
        bk.restore(factory, folder, parts=("hub",))
    assert (factory.data_dir / bk.COOKIE_SECRET).read_bytes() == b"current\n"
    assert manifest["parts"] == ["hub"]


def test_a_stale_pid_file_does_not_block(factory, dest):
    dead = subprocess.Popen(["true"])
    dead.wait()
    Path(factory.hub_pidfile).write_text(f"{dead.pid}\n")
    Path(factory.slurmdbd_pidfile).write_text("not a pid\n")
    assert bk.running_pid(factory.hub_pidfile) is None
    assert bk.running_pid(factory.slurmdbd_pidfile) is None
    assert hub_backup(factory, dest).is_dir()


def test_a_failing_dump_removes_the_partial_folder(factory, dest, monkeypatch):
    monkeypatch.setattr(
        bk,
        "mariadb_dump_argv",
        lambda f: [
            sys.executable,
            "-c",
            "import sys; print('-- half a dump'); sys.exit('mariadb-dump: Got error: 2002')",
        ],
    )
    with pytest.raises(BackupError) as info:
        bk.backup(factory, dest)
    assert "failed (exit status 1): mariadb-dump: Got error: 2002" in str(info.value)
    assert info.value.returncode == 1  # a CommandError, like every command's failure
    assert list(dest.iterdir()) == []


def test_a_missing_cookie_secret_removes_the_partial_folder(factory, dest):
    (factory.data_dir / bk.COOKIE_SECRET).unlink()
    with pytest.raises(BackupError, match="jupyterhub_cookie_secret does not exist"):
        hub_backup(factory, dest)
    assert list(dest.iterdir()) == []


def test_a_dump_that_does_not_answer_in_time_is_ended_and_removes_the_partial_folder(
    factory, dest, monkeypatch
):
    assert bk.DUMP_TIMEOUT_S == 12 * 3600  # hours: a large site's accounting dump, loaded back
    monkeypatch.setattr(bk, "DUMP_TIMEOUT_S", 0.5)
    monkeypatch.setattr(
        bk,
        "mariadb_dump_argv",
        lambda f: [
            sys.executable,
            "-c",
            "import time; print('-- half', flush=True); time.sleep(60)",
        ],
    )
    started = time.monotonic()
    with pytest.raises(BackupError, match=r"did not answer within 0\.5s$") as info:
        bk.backup(factory, dest, parts=("accounting",))
    assert time.monotonic() - started < 30 and not info.value.exited
    assert list(dest.iterdir()) == []
    dump = factory.data_dir / "dump.sql"
    dump.write_text("SELECT 1;\n")
    never_done = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(ToolFailed, match=r"did not answer within 0\.5s$"):
        bk.run_from_file(never_done, dump, timeout=0.5)


def test_a_missing_tool_is_named(factory, dest, monkeypatch):
    monkeypatch.setattr(bk, "mariadb_dump_argv", lambda f: ["no-such-dump-tool"])
    with pytest.raises(BackupError, match="cannot run no-such-dump-tool: .*is it installed"):
        bk.backup(factory, dest, parts=("accounting",))
    assert list(dest.iterdir()) == []


def test_dump_and_restore_commands_are_argument_lists():
    f = Factory(
        data_dir=Path("/d"),
        hub_user="jupyterhub",
        hub_database="postgresql",
        pg_database="hubdb",
        pg_port=5433,
        accounting_database="acct",
        mariadb_socket="/tmp/my sock",
    )
    pg = ["--host", "/var/run/postgresql", "--port", "5433"]
    assert bk.pg_dump_argv(f) == [
        "runuser",
        "-u",
        "jupyterhub",
        "--",
        "pg_dump",
        "--format=custom",
        *pg,
        "--dbname",
        "hubdb",
    ]
    assert bk.dropdb_argv(f) == [
        "runuser",
        "-u",
        "postgres",
        "--",
        "dropdb",
        "--if-exists",
        *pg,
        "hubdb",
    ]
    assert bk.createdb_argv(f) == [
        "runuser",
        "-u",
        "postgres",
        "--",
        "createdb",
        *pg,
        "--owner",
        "jupyterhub",
        "--template",
        "template0",
        "--encoding",
        "UTF8",
        "hubdb",
    ]
    assert bk.pg_restore_argv(f) == [
        "runuser",
        "-u",
        "jupyterhub",
        "--",
        "pg_restore",
        *pg,
        "--dbname",
        "hubdb",
        "--no-owner",
        "--exit-on-error",
        "--single-transaction",
    ]
    assert bk.mariadb_dump_argv(f) == [
        "mariadb-dump",
        "--socket=/tmp/my sock",
        "--single-transaction",
        "--routines",
        "--triggers",
        "--add-drop-database",
        "--databases",
        "acct",
    ]
    assert bk.mariadb_load_argv(f) == ["mariadb", "--socket=/tmp/my sock", "--batch"]
    remote = Factory(data_dir=Path("/d"), hub_user="hub", pg_host="db.example.org")
    assert bk.pg_dump_argv(remote)[6:10] == ["--host", "db.example.org", "--port", "5432"]
    assert (
        bk.mariadb_dump_argv(Factory(data_dir=Path("/d"), hub_user="hub"))[1]
        == "--single-transaction"
    )  # no socket option: the client's default


def test_the_tools_run_without_a_shell(factory, dest, monkeypatch):
    calls = []
    real_popen = subprocess.Popen

    def recording_popen(argv, **kwargs):
        calls.append((argv, kwargs))
        return real_popen([sys.executable, "-c", "print('dump')"], **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    f = dataclasses.replace(factory, hub_database="postgresql")
    folder = bk.backup(f, dest, compress=False)
    assert [argv for argv, _ in calls] == [
        bk.pg_dump_argv(f),
        bk.mariadb_dump_argv(f),
        ["pg_dump", "--version"],
        ["mariadb-dump", "--version"],
    ]
    for argv, kwargs in calls:
        assert isinstance(argv, list) and not kwargs.get("shell")
    assert (folder / bk.HUB_PGDUMP).read_text() == "dump\n"
    assert (folder / "slurm_acct_db.sql").read_text() == "dump\n"


def test_the_accounting_dump_is_gzipped_and_loaded_back(factory, dest, monkeypatch):
    monkeypatch.setattr(
        bk,
        "mariadb_dump_argv",
        lambda f: [sys.executable, "-c", "print('CREATE DATABASE x; -- has@x')"],
    )
    folder = bk.backup(factory, dest, parts=("accounting",))
    dump = folder / "slurm_acct_db.sql.gz"
    assert dump.read_bytes()[:2] == b"\x1f\x8b"
    loaded = factory.data_dir / "loaded.sql"
    monkeypatch.setattr(
        bk,
        "mariadb_load_argv",
        lambda f: [
            sys.executable,
            "-c",
            f"import sys, shutil; shutil.copyfileobj(sys.stdin, open({str(loaded)!r}, 'w'))",
        ],
    )
    monkeypatch.setattr(bk, "check_mariadb_answers", lambda f: None)
    done = bk.restore(factory, folder, parts=("accounting",))
    assert loaded.read_text() == "CREATE DATABASE x; -- has@x\n"
    assert done == [
        "Slurm accounting: MariaDB database slurm_acct_db recreated from slurm_acct_db.sql.gz"
    ]


def test_restore_refuses_before_any_change_when_mariadb_does_not_answer(factory, dest, monkeypatch):
    monkeypatch.setattr(bk, "mariadb_dump_argv", lambda f: [sys.executable, "-c", "print()"])
    folder = bk.backup(factory, dest)
    (factory.data_dir / bk.COOKIE_SECRET).write_bytes(b"current\n")
    down = dataclasses.replace(factory, mariadb_socket=str(dest / "no-such.sock"))
    # The client as it fails without a server (the real one: tests/integration).
    monkeypatch.setattr(
        bk,
        "mariadb_load_argv",
        lambda f: [
            sys.executable,
            "-c",
            "import sys; sys.exit(\"ERROR 2002 (HY000): Can't connect to "
            'local server through socket \'" + sys.argv[1] + "\' (2)")',
            f.mariadb_socket,
        ],
    )
    with pytest.raises(BackupError) as info:
        bk.restore(down, folder)
    message = str(info.value)
    assert message.startswith(
        "MariaDB does not answer, and the accounting restore needs "
        "it; nothing was restored. After `make down` start MariaDB "
        "alone: supervisord --configuration "
        "/etc/supervisor/supervisord.conf; supervisorctl start mariadb"
    )
    assert "no-such.sock" in message  # the client's own words
    assert (factory.data_dir / bk.COOKIE_SECRET).read_bytes() == b"current\n"


def test_a_backup_of_another_kind_or_database_is_refused(factory, dest):
    folder = hub_backup(factory, dest)
    pg = dataclasses.replace(factory, hub_database="postgresql")
    with pytest.raises(
        BackupError, match="its hub database is sqlite, the site's hub.database is postgresql"
    ):
        bk.restore(pg, folder, parts=("hub",))
    with pytest.raises(BackupError, match="it holds no accounting part"):
        bk.restore(factory, folder)


def test_list_shows_each_backup_with_time_and_contents(factory, dest):
    first = hub_backup(factory, dest, created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    hub_backup(factory, dest, created=datetime(2026, 1, 3, 3, 4, 5, tzinfo=UTC))
    (dest / "aiworkbench-20260104-000000").mkdir()
    (dest / "unrelated").mkdir()
    lines = bk.list_backups(dest)
    assert len(lines) == 3
    assert lines[0].startswith(
        f"{first.name}  2026-01-02T03:04:05+00:00  cluster testcluster  {bk.HUB_SQLITE} ("
    )
    assert f"{bk.COOKIE_SECRET} (65 B)" in lines[0]
    assert lines[2].startswith("aiworkbench-20260104-000000  UNUSABLE: ")


def test_command_line(factory, dest, tmp_path, capsys):
    site = tmp_path / "site.toml"
    site.write_text(
        MINIMAL + f'\n[hub]\nuser = "root"\ndata_dir = "{tmp_path}/hubdata"\n'
        f'[slurm]\ncluster_name = "clitest"\n'
    )
    data = tmp_path / "hubdata"
    data.mkdir()
    for path in factory.data_dir.iterdir():
        (data / path.name).write_bytes(path.read_bytes())
    # --online: the live factory's daemons may be running on this machine
    assert bk.main(["--site", str(site), "backup", "--hub", "--online", str(dest)]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (
        folder.parent == dest
        and json.loads((folder / bk.MANIFEST).read_text())["cluster_name"] == "clitest"
    )
    assert bk.main(["--site", str(site), "list", str(dest)]) == 0
    assert folder.name in capsys.readouterr().out
    (folder / bk.HUB_SQLITE).write_bytes(b"tampered")
    assert bk.main(["--site", str(site), "restore", "--hub", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aiworkbench-backup: ") and "does not match its manifest" in err
    assert bk.main(["--site", str(tmp_path / "missing.toml"), "backup", str(dest)]) == 1
    assert "cannot read the file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        bk.main(["restore"])
    assert info.value.code == 2


def test_from_site_reads_the_hub_settings():
    site = parse_site(
        MINIMAL + '\n[hub]\ndatabase = "postgresql"\npostgresql_port = 6543\n'
        'postgresql_database = "hubdb"\n'
    )
    f = Factory.from_site(site, accounting_database="acct")
    assert (
        f.data_dir,
        f.hub_user,
        f.hub_database,
        f.pg_host,
        f.pg_port,
        f.pg_database,
        f.cluster_name,
        f.accounting_database,
    ) == (
        Path("/var/lib/aiworkbench/hub"),
        "jupyterhub",
        "postgresql",
        "",
        6543,
        "hubdb",
        "aifactory",
        "acct",
    )
    assert (f.hub_pidfile, f.slurmdbd_pidfile) == (
        "/var/lib/aiworkbench/hub/jupyterhub.pid",
        "/run/slurmdbd.pid",
    )


def test_file_names_match_the_hub_and_the_api():
    app = (REPO / "src" / "aiworkbench" / "api" / "app.py").read_text()
    assert f'PROGRESS_FILE = "{bk.PROGRESS_SQLITE}"' in app
    hubconfig = (REPO / "src" / "aiworkbench" / "hub" / "config.py").read_text()
    assert f"/{bk.HUB_SQLITE}" in hubconfig and f"/{bk.COOKIE_SECRET}" in hubconfig
    assert f'"{bk.PG_SOCKET_DIR}"' in hubconfig
    from aiworkbench.core.daemons import DAEMONS

    assert DAEMONS["slurmdbd"]["pidfile"] == bk.SLURMDBD_PIDFILE


def test_the_module_uses_the_standard_library_only():
    source = (REPO / "src" / "aiworkbench" / "admin" / "backup.py").read_text()
    imported = set(re.findall(r"^(?:from|import) ([a-z0-9_.]+)", source, re.M))
    ours = imported - set(sys.stdlib_module_names) - {"__future__"}
    # the admin tools' environment holds the workbench alone: the core is all it may use
    assert ours and all(name.startswith("aiworkbench.core") for name in ours), ours
    assert "shell=True" not in source
