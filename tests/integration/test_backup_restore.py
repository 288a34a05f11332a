"""Backup and restore on the running factory: a backup taken while it runs, the hub's
database (PostgreSQL) and Slurm accounting (MariaDB) wiped, restored with
`aiworkbench-backup`, the factory started again: the running session is the hub's
again, and the accounting of a job from before the backup is back.
"""

import tempfile
from pathlib import Path

import pytest

from ..conftest import HubUser, hub_api_answers, run, wait_for

pytestmark = pytest.mark.integration
LEARNER = "intro-19"  # a workshop account of class intro no other test uses
BACKUP = "/usr/local/sbin/aiworkbench-backup"  # the accounting server's (role admin_tools)
SITE = "/etc/aiworkbench/site.toml"  # the site the factory runs with


def database_names(site):
    hub = run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "--no-psqlrc",
            "-tAc",
            "SELECT datname FROM pg_database",
        ]
    ).stdout.split()
    accounting = run(
        ["mariadb", "--batch", "--skip-column-names", "--execute", "SHOW DATABASES"]
    ).stdout.split()
    return hub, accounting


def test_a_backup_brings_back_sessions_and_accounting(site, hub_url, hub_up, cluster_up):
    assert site.hub.database == "postgresql"  # the production variant, on a real server
    learner = HubUser(hub_url, LEARNER, site.classes["intro"].learner_password)
    if learner.server() is not None:
        learner.stop_server()
    dest = Path(tempfile.mkdtemp(prefix="aiwb-backup-test-"))
    try:
        response = learner.api("POST", f"/users/{LEARNER}/server", json={"profile": "cpu-small"})
        assert response.status_code in (201, 202), response.text
        before = learner.wait_ready()
        job = run(
            [
                "sbatch",
                "--parsable",
                "--wait",
                "--account=edu-intro",
                "--time=2",
                "--mem=100M",
                "--chdir=/tmp",
                "--output=/dev/null",
                "--wrap",
                "true",
            ],
            user=LEARNER,
        ).stdout.strip()
        wait_for(
            lambda: (
                "COMPLETED" in run(["sacct", "-X", "-n", "-P", "-j", job, "--format=State"]).stdout
            ),
            60,
            what="the job in accounting",
        )

        made = run([BACKUP, "--site", SITE, "backup", "--online", str(dest)], timeout=300)
        folder = made.stdout.strip().splitlines()[-1]
        assert Path(folder).parent == dest, made.stdout

        # Lose both databases (and the cookie secret) with their daemons stopped.
        run(["supervisorctl", "stop", "jupyterhub", "slurmdbd"])
        run(["runuser", "-u", "postgres", "--", "dropdb", site.hub.postgresql_database])
        run(["mariadb", "--execute", "DROP DATABASE slurm_acct_db"])
        secret = Path(site.hub.data_dir, "jupyterhub_cookie_secret")
        secret_before = secret.read_bytes()
        secret.unlink()
        hub_dbs, accounting_dbs = database_names(site)
        assert site.hub.postgresql_database not in hub_dbs
        assert "slurm_acct_db" not in accounting_dbs

        restored = run([BACKUP, "--site", SITE, "restore", folder], timeout=300)
        assert "make up" in restored.stdout
        assert secret.read_bytes() == secret_before  # users' login cookies stay valid
        run(["supervisorctl", "start", "slurmdbd", "jupyterhub"])

        # Accounting: the job from before the backup (once slurmdbd answers again).
        def listed():
            return run(
                ["sacct", "-X", "-n", "-P", "-j", job, "--format=User,Account,State"], check=False
            ).stdout.strip()

        wait_for(
            lambda: listed() == f"{LEARNER}|edu-intro|COMPLETED",
            60,
            what=f"job {job} in the restored accounting",
        )
        # The hub: the same session, still running in Slurm, answers through the proxy.
        wait_for(lambda: hub_api_answers(hub_url), 60, what="the hub's API")
        after = learner.wait_ready()
        assert after["started"] == before["started"]
        status = learner.session.get(f"{hub_url}/user/{LEARNER}/api/status", timeout=30)
        assert status.status_code == 200, status.text
    finally:
        if learner.server() is not None:
            learner.stop_server()
        run(["rm", "-rf", str(dest)])
