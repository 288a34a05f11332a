"""Setup: a second converge changes nothing, bad input stops setup before it changes
anything, what `make up` gives a newcomer, `make down` and `make uninstall`'s refusal.
(ansible-lint is tests/unit/test_lint.py's; that `make uninstall` leaves nothing and
`make up` builds everything from nothing is CI's own path, .ci/run.)"""

import glob
import json
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from aiworkbench.core import teardown

from ..conftest import REPO, SITE_FILE, held_port, run, wait_for

FACTORY = str(REPO / "scripts" / "factory")
STOPPED = "Setup stopped before changing anything"


def factory(*args, site=None, user=None, timeout=900, stdin=None):
    env = dict(os.environ, SITE=str(site or SITE_FILE))
    argv = [FACTORY, *args]
    if user:
        argv = ["runuser", "-u", user, "--", "env", f"SITE={env['SITE']}", *argv]
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=stdin
    )


@pytest.mark.ansible
def test_the_production_inventory_gives_each_machine_its_roles():
    """The example multi-node inventory parses with the same playbook, and each play
    reaches the machines of its group."""
    ansible = REPO / ".venv" / "bin"
    inventory = "inventory/production/hosts.ini"
    checked = subprocess.run(
        [str(ansible / "ansible-playbook"), "-i", inventory, "site.yml", "--syntax-check"],
        cwd=REPO / "ansible",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    listed = subprocess.run(
        [str(ansible / "ansible-playbook"), "-i", inventory, "site.yml", "--list-hosts"],
        cwd=REPO / "ansible",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    hosts = {}
    for block in listed.stdout.split("play #")[1:]:
        name = re.match(r"\d+ \(.*?\): (.*?)\t", block).group(1)
        hosts[name] = set(block.split("):", 2)[2].split("\n\n")[0].split())
    assert len(hosts["Every machine of the factory, Slurm included"]) == 15
    assert hosts["Projects and budgets in Slurm accounting"] == {"slurm01.factory.example.org"}
    assert hosts["The login node, JupyterHub and its services"] == {"login01.factory.example.org"}
    assert len(hosts["The kernel environment, on the login node and the compute nodes"]) == 13


@pytest.mark.ansible
def test_second_converge_changes_nothing(cluster_up, hub_up):
    result = factory("converge")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    recap = re.search(
        r"localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", result.stdout
    )
    assert recap, result.stdout[-3000:]
    changed, task = [], None
    for line in result.stdout.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.rstrip(" *")
        elif line.startswith("changed:"):
            changed.append(f"{task}: {line}")
    assert recap.group(1) == "0", f"a healthy factory was changed: {changed}"


@pytest.mark.integration
def test_malformed_site_file_stops_setup_with_its_mistakes(tmp_path):
    bad = tmp_path / "site.toml"
    bad.write_text(open(SITE_FILE).read().replace("gpu_minutes = 6000", "gpu_minutes = 'many'"))
    result = factory("up", site=bad, timeout=120)
    assert result.returncode == 1
    assert STOPPED in result.stderr
    assert "projects.edu-intro.gpu_minutes: must be an integer, got 'many'" in result.stderr
    assert "PLAY" not in result.stdout and "Installing" not in result.stdout


@pytest.mark.integration
def test_port_held_by_another_program_stops_setup(tmp_path):
    with held_port() as port:
        site = tmp_path / "site.toml"
        site.write_text(open(SITE_FILE).read().replace("port = 8000", f"port = {port}"))
        result = factory("up", site=site, timeout=120)
    assert result.returncode == 1
    assert STOPPED in result.stderr
    assert f"port {port} (the hub's public port (the proxy)) is already in use" in result.stderr
    assert "PLAY" not in result.stdout


@pytest.mark.integration
def test_setup_as_a_normal_user_is_refused(tmp_path):
    # A world-readable copy of the repository, so that the user can read the script.
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", ".git", ".factory"))
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:
        if not os.stat(parent).st_mode & 0o001:
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    result = subprocess.run(
        ["runuser", "-u", "student", "--", str(copy / "scripts" / "factory"), "up"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "setup must run as root" in result.stderr
    assert not (copy / ".venv").exists()


def daemon_processes(site):
    """(pid, command) of the factory's daemons and of its system users' processes: the
    supervisor, munged, MariaDB, PostgreSQL, Slurm's daemons (not the jobs' slurmstepd),
    the hub, its proxy and its services."""
    exes = {
        "/usr/sbin/munged",
        "/usr/sbin/mariadbd",
        "/usr/sbin/slurmdbd",
        "/usr/sbin/slurmctld",
        "/usr/sbin/slurmd",
        "/usr/bin/supervisord",
    }
    users = set()
    for name in ("munge", "mysql", "postgres", "slurm", site.hub.user, site.dashboards.user):
        try:
            users.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    found = []
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            exe = os.readlink(f"{proc}/exe")
            uid = os.stat(proc).st_uid
            command = open(f"{proc}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if exe in exes or uid in users:
            found.append((int(proc.rsplit("/", 1)[1]), command[:100]))
    return found


@pytest.mark.ansible
def test_down_stops_only_our_daemons_and_keeps_data(cluster_up, hub_user, tmp_path, site):
    sme = hub_user("sme")  # a hub token: lives in the hub's database
    job = (
        run(
            [
                "sbatch",
                "--parsable",
                "--wait",
                "--partition=cpu",
                "--account=sme-vision",
                "--time=1",
                "--output=/dev/null",
                "--wrap=true",
            ],
            user="sme",
        )
        .stdout.strip()
        .split(";")[0]
    )
    # A program that is not ours, even one named like a Slurm daemon, keeps running.
    impostor = tmp_path / "slurmd"
    shutil.copy("/bin/sleep", impostor)
    bystander = subprocess.Popen([str(impostor), "600"])
    try:
        down = factory("down", timeout=300)
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-2000:]
        assert daemon_processes(site) == [], "make down left daemons running"
        assert run(["supervisorctl", "pid"], check=False).returncode != 0, (
            "make down left the supervisor running"
        )
        assert run(["scontrol", "ping"], check=False).returncode != 0
        assert bystander.poll() is None, "down killed a process it did not start"
    finally:
        bystander.kill()
    up = factory("up", timeout=900)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
    assert "is running: http://" in up.stdout
    # Accounting and the hub's database survived.
    listed = wait_for(
        lambda: run(
            ["sacct", "--noheader", "--parsable2", "-X", "-j", job, "--format=JobID,State"],
            check=False,
        ).stdout.strip(),
        60,
        what="sacct to answer after restart",
    )
    assert listed == f"{job}|COMPLETED"
    assert sme.api("GET", "/users/sme").status_code == 200


@pytest.mark.ansible
def test_start_gate_has_a_slot_per_core_that_users_can_lock_but_not_change(cluster_up):
    from aiworkbench.jobserver.singleuser import START_GATE

    slots = sorted(os.listdir(START_GATE))
    assert slots == [f"slot-{i:03d}" for i in range(os.cpu_count())], slots
    probe = (
        "import sys; from aiworkbench.jobserver.singleuser import take_start_slot; "
        "print(take_start_slot(wait=1) is not None)"
    )
    took = run(["/opt/aiworkbench/env/bin/python", "-c", probe], user="intro-01")
    assert took.stdout.strip() == "True", took.stderr
    denied = run(
        ["touch", f"{START_GATE}/{slots[0]}", f"{START_GATE}/slot-999"],
        user="intro-01",
        check=False,
    )
    assert denied.returncode != 0 and not os.path.exists(f"{START_GATE}/slot-999")


@pytest.mark.integration
def test_uninstall_without_yes_and_no_terminal_changes_nothing():
    plan = teardown.make_plan(SITE_FILE)
    refused = factory("uninstall", timeout=120, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "no terminal to ask: run it with --yes (make uninstall YES=1)" in refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert "make uninstall removes:" in refused.stdout and "slurmctld" in refused.stdout
    assert teardown.make_plan(SITE_FILE) == plan
    assert "UP" in run(["scontrol", "ping"]).stdout


@pytest.mark.integration
def test_a_newcomer_finds_the_welcome_notebook_and_the_shipped_courses(site):
    welcome = Path("/home/student/Welcome.ipynb")
    assert welcome.is_file() and welcome.stat().st_uid == pwd.getpwnam("student").pw_uid
    assert json.loads(welcome.read_text())["cells"][0]["source"][0].startswith("# Welcome")
    assert Path("/home/student/.bashrc").is_file()  # the system's skeleton too
    shipped = sorted(
        p.name for p in Path(site.courses.root, "intro").iterdir() if not p.name.startswith(".")
    )
    assert shipped == [
        "dask-on-slurm",
        "first-steps",
        "notebook-to-batch",
        "torch-image-classifier",
    ]
