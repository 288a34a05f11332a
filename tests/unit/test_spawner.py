"""The session spawner renders only validated values into the batch script."""

import asyncio
import json
import re
from types import SimpleNamespace

import pytest
from jupyterhub.spawner import SpawnException
from traitlets.config import Config

from aiworkbench.budgets.accounting import AccountingReader
from aiworkbench.core.site import load_site
from aiworkbench.hub.config import apply_site
from aiworkbench.hub.shared import SETTINGS_KEY, HubShared
from aiworkbench.sessions.capacity import CapacityReader
from aiworkbench.sessions.poller import SlurmPoller
from aiworkbench.sessions.request import FormChoices
from aiworkbench.sessions.spawner import WorkbenchSpawner

from .test_services import TOKENS
from .test_site import DEMO

SITE = load_site(DEMO)


async def no_slurm(argv, **kwargs):
    raise AssertionError(f"a unit test ran {argv}")


def hub_objects(budgets=None) -> HubShared:
    """What a hub shares among its spawners, made by the test (no Slurm behind it)."""
    return HubShared(
        poller=SlurmPoller(5.0, no_slurm, 30.0),
        budgets=budgets or AccountingReader(30.0, run=no_slurm),
        capacity=CapacityReader(30.0, run=no_slurm, test_only=no_slurm),
        form_choices=FormChoices(),
    )


def make_spawner(options, shared=None):
    """A spawner of user student, handed the hub's objects as JupyterHub hands them (the
    user's tornado settings): ``shared``, else new ones."""
    spawner = WorkbenchSpawner(site=SITE, req_env_dir="/opt/aiworkbench/env")
    spawner.user = SimpleNamespace(
        name="student",
        url="/user/student/",
        settings={SETTINGS_KEY: shared if shared is not None else hub_objects()},
    )
    spawner.user_options = options
    spawner.req_username = "student"
    spawner.req_homedir = "/home/student"
    spawner.req_keepvars = "PATH,JUPYTERHUB_API_TOKEN"
    return spawner


def render(spawner):
    spawner.apply_request(spawner.validated_request())
    subvars = spawner.get_req_subvars()
    subvars["cmd"] = "batchspawner-singleuser jupyterhub-singleuser"
    return asyncio.run(spawner._get_batch_script(**subvars))


def sbatch_lines(script):
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


def test_gpu_profile_renders_partition_account_and_gres():
    script = render(make_spawner({"profile": "gpu-1", "project": "edu-intro"}))
    lines = sbatch_lines(script)
    assert "#SBATCH --partition=gpu" in lines
    assert "#SBATCH --account=edu-intro" in lines
    assert "#SBATCH --gres=gpu:1" in lines
    assert "#SBATCH --time=1:00:00" in lines
    assert "#SBATCH --cpus-per-task=2" in lines
    assert "export PATH=/opt/aiworkbench/env/bin:$PATH" in script


def test_cpu_profile_asks_for_no_gpu():
    lines = sbatch_lines(render(make_spawner({"profile": "cpu-small"})))
    assert "#SBATCH --partition=cpu" in lines
    assert not any("--gres" in line for line in lines)


@pytest.mark.parametrize(
    "options",
    [
        {"profile": "gpu-1\n#SBATCH --uid=0"},
        {"project": "sme-vision"},
        {"partition": "gpu", "extra": "$(reboot)"},
        {"hours": "1:00:00\n#SBATCH --uid=0"},
        {"partition": "gpu", "gpus": "1 --uid=0"},
    ],
)
def test_hostile_options_are_refused_with_400(options):
    with pytest.raises(SpawnException) as info:
        make_spawner(options).validated_request()
    assert info.value.status_code == 400


def form_data(form):
    """The JSON the form's script reads (limits per project and partition)."""
    match = re.search(
        r'<script type="application/json" id="aiwb-form-data">(.*?)</script>', form, re.S
    )
    return json.loads(match.group(1))


def selected(form, name):
    select = re.search(rf'<select[^>]*name="{name}".*?</select>', form, re.S).group(0)
    return re.findall(r'<option value="([^"]*)" selected', select)


def test_form_has_every_field_only_the_users_projects_and_the_cost():
    spawner = make_spawner({})
    spawner.gpu_kind = "simulated"
    form = spawner.render_form()
    for name in ("profile", "project", "partition", "preset", "gpus", "hours"):
        assert f'name="{name}"' in form
    assert 'value="edu-intro"' in form and 'value="sme-trial"' in form
    assert 'value="sme-vision"' not in form
    assert "GPUs (simulated)" in form
    assert selected(form, "profile") == ["cpu-small"] and selected(form, "preset") == ["small"]
    assert "up to 1 core-hour from edu-intro" in form
    limits = form_data(form)["limits"]
    assert set(limits) == {"edu-intro", "sme-trial"}
    assert limits["edu-intro"]["gpu"]["max_gpus"] == 1
    assert limits["sme-trial"]["gpu"]["max_gpus"] == 2
    assert limits["edu-intro"]["gpu"]["text"] == (
        "Project edu-intro on partition gpu: 1 GPU and up to 4 hours per session."
    )


def test_refused_form_shows_the_users_choices_again_and_nothing_hostile():
    spawner = make_spawner({})
    options = spawner.options_from_form(
        {
            "profile": ["gpu-1"],
            "project": ["sme-trial"],
            "partition": ["gpu"],
            "preset": ["large"],
            "gpus": ["2"],
            "hours": ["40"],
        }
    )
    assert options["hours"] == "40"
    with pytest.raises(SpawnException, match="hours = 40 is not allowed"):
        spawner.validated_request(options)
    # JupyterHub shows the form of the user's default server, whichever was asked for:
    # another spawner of the same hub shows the choices too.
    for form in (spawner.render_form(), make_spawner({}, shared=spawner.shared).render_form()):
        assert selected(form, "project") == ["sme-trial"]
        assert selected(form, "preset") == ["large"]
        assert 'value="40"' in form and 'value="2"' in form
        assert "up to 80 GPU-hours and 160 core-hours from sme-trial" in form

    spawner.options_from_form(
        {
            "project": ["sme-vision"],
            "hours": ['"><script>x()</script>'],
            "preset": ["</script><script>alert(1)</script>"],
        }
    )
    form = spawner.render_form()
    assert "<script>x()" not in form and "alert(1)" not in form
    assert selected(form, "project") == ["edu-intro"]  # not the student's: not offered


def test_job_script_shows_what_a_spawn_submits():
    spawner = make_spawner({"profile": "gpu-1", "project": "edu-intro"})
    spawner.cmd = ["/opt/aiworkbench/env/bin/jupyterhub-singleuser"]
    script = asyncio.run(spawner.job_script())
    assert "#SBATCH --gres=gpu:1" in sbatch_lines(script)
    assert "\nexec aiworkbench-singleuser /opt/aiworkbench/env/bin/jupyterhub-singleuser" in script
    assert "srun" not in script  # the server is the batch step: no extra job step
    custom = asyncio.run(spawner.job_script({"partition": "cpu", "preset": "large", "hours": "3"}))
    lines = sbatch_lines(custom)
    assert "#SBATCH --cpus-per-task=4" in lines and "#SBATCH --mem=8G" in lines
    assert "#SBATCH --time=3:00:00" in lines and not any("--gres" in x for x in lines)
    with pytest.raises(SpawnException, match="unknown option"):
        asyncio.run(spawner.job_script({"hours": "1", "script": "rm -rf ~"}))
    # Looking at another request's script leaves the session's own as it was.
    assert spawner.req_partition == "" and spawner.request is None
    assert asyncio.run(spawner.job_script()) == script


def test_commands_run_as_argument_lists_not_through_a_shell():
    spawner = make_spawner({})
    out = asyncio.run(spawner.run_command("echo 'a;b' $HOME", env={"HOME": "/x"}))
    assert out == "a;b $HOME"


def test_apply_site_wires_hub_to_the_site():
    c = Config()
    apply_site(c, SITE, gpu_kind="simulated", tokens=TOKENS)
    assert c.JupyterHub.bind_url == "http://:8000"
    assert c.JupyterHub.spawner_class == "workbench"
    assert c.Authenticator.admin_users == {"admin"}
    assert c.JupyterHub.load_groups["managers"] == {"users": ["manager"]}
    intro = c.JupyterHub.load_groups["class-intro"]["users"]
    assert "student" in intro and "intro-20" in intro and len(intro) == 21
    assert "intro-07" in c.Authenticator.allowed_users
    assert c.JupyterHub.cleanup_servers is False
    assert c.Spawner.cmd == ["/opt/aiworkbench/env/bin/jupyterhub-singleuser"]
    # Everyone's jobs and budgets are read as the Slurm reader (PrivateData hides them).
    assert c.WorkbenchSpawner.slurm_reader == "slurm-reader"


def test_state_keeps_job_address_token_hash_and_end_reason():
    spawner = make_spawner({})
    spawner.job_id = "45"
    spawner.api_token = "secret-token"
    import hashlib

    spawner.token_sha256 = hashlib.sha256(b"secret-token").hexdigest()
    spawner.job_ip, spawner.job_port = "10.0.0.5", 40123
    state = spawner.get_state()
    assert state["job_id"] == "45" and state["job_port"] == 40123
    assert "secret-token" not in str(state)

    restored = make_spawner({})
    restored.load_state(state)
    assert restored.owns_token("secret-token") and not restored.owns_token("other")
    assert (restored.job_ip, restored.job_port) == ("10.0.0.5", 40123)

    restored.ended_reason = "the session reached its time limit"
    restored.clear_state()
    assert restored.job_id == "" and restored.job_port == 0 and not restored.owns_token("x")
    assert restored.get_state() == {"ended_reason": "the session reached its time limit"}


def budget_snapshot(gpu_used=0, cpu_used=0):
    from aiworkbench.budgets.accounting import build_snapshot

    shares = (
        f" edu-intro||cpu=1200,gres/gpu=300|cpu={cpu_used},gres/gpu={gpu_used}|cpu=0,gres/gpu=0\n"
    )
    return build_snapshot(shares, "", taken_at=0)


def test_a_request_above_the_projects_budget_is_refused_with_the_numbers():
    class Reader:
        async def snapshot(self):
            return budget_snapshot(gpu_used=150)

    spawner = make_spawner({}, shared=hub_objects(budgets=Reader()))
    request = spawner.validated_request({"profile": "gpu-1", "hours": "2"})
    asyncio.run(spawner.check_request_budget(request))  # 2 GPU-h of 2.5 left: fine
    over = spawner.validated_request({"profile": "gpu-1", "hours": "3"})
    with pytest.raises(SpawnException) as refused:
        asyncio.run(spawner.check_request_budget(over))
    assert refused.value.status_code == 400
    assert refused.value.message == (
        "Not enough budget: this session needs 3.0 GPU-h, project edu-intro has 2.5 GPU-h "
        "left. Ask for fewer GPUs, cores or hours, or another project."
    )
    spawner.check_budget = False
    asyncio.run(spawner.check_request_budget(over))


def test_form_shows_each_projects_remaining_budget_and_an_over_budget_request():
    spawner = make_spawner({})
    spawner.form_choices.remember(
        "student",
        {
            "profile": "gpu-1",
            "project": "edu-intro",
            "partition": "gpu",
            "preset": "medium",
            "gpus": "1",
            "hours": "4",
        },
    )
    form = spawner.render_form(snapshot=budget_snapshot(gpu_used=240, cpu_used=30))
    assert "left: 1.0 GPU-h, 19.5 core-h" in form
    data = json.loads(re.search(r'id="aiwb-form-data">(.*?)</script>', form, re.S).group(1))
    assert data["budgets"]["edu-intro"] == {"gpu": 60, "cpu": 1170}
    assert "— needs 4.0 GPU-h, project edu-intro has 1.0 GPU-h left" in form


# --- one owner for each default: the site schema ---------------------------------------

# Every spawner trait a site setting sets: (trait, the site's table and key, the
# setting's value in the trait's unit).
SITE_OWNED = [
    ("req_env_dir", "factory", "prefix", lambda prefix: f"{prefix}/env"),
    ("poll_interval", "hub", "poll_interval", int),
    ("max_sessions", "hub", "max_sessions_per_user", int),
    ("queue_timeout", "hub", "queue_wait_hours", lambda hours: hours * 3600),
    ("lab_timeout", "hub", "start_timeout", float),
    ("slurm_reader", "slurm", "reader", str),
    ("cull_idle_timeout", "idle", "cull_minutes", lambda minutes: minutes * 60),
    ("gpu_idle_threshold", "idle", "gpu_threshold_percent", float),
    ("gpu_idle_warn", "idle", "gpu_warn_minutes", lambda minutes: minutes * 60),
    ("gpu_idle_stop", "idle", "gpu_stop_minutes", lambda minutes: minutes * 60),
    ("gpu_report_interval", "idle", "gpu_report_seconds", float),
]
# What apply_site sets that is not a site setting's default: derived from the site's
# content, from Slurm, or the hub's own choice.
NOT_SITE_DEFAULTS = {
    "site",  # the site itself
    "cmd",  # absolute paths in the kernels' environment (a bare spawner finds them on PATH)
    "batchspawner_singleuser_cmd",
    "extend_helper",  # the hub environment's Python (a bare spawner's is its own)
    "api_url",  # from the hub's address
    "gpu_kind",  # from Slurm's GRES
    "gpu_metrics",
    "default_url",  # the hub's choices: no site setting
    "http_timeout",
    "server_token_scopes",
}


def schema_default(table: str, key: str):
    """The site schema's default of ``table.key`` (core/site.py's dataclasses)."""
    import dataclasses
    import typing

    from aiworkbench.core.site import Site

    settings = typing.get_type_hints(Site)[table]
    (found,) = [f for f in dataclasses.fields(settings) if f.name == key]
    return found.default


@pytest.mark.parametrize(
    ("trait", "table", "key", "unit"), SITE_OWNED, ids=[trait for trait, *_ in SITE_OWNED]
)
def test_a_spawner_traits_default_is_its_site_settings_default(trait, table, key, unit):
    assert getattr(WorkbenchSpawner(), trait) == unit(schema_default(table, key))


def test_every_spawner_setting_the_site_sets_defaults_to_the_site_schemas_default():
    """A site of nothing but the schema's defaults configures the spawner as its own
    defaults do: a trait with a default of its own fails here."""
    import dataclasses

    from aiworkbench.core.site import FactorySettings, HubSettings, IdleSettings, SlurmSettings

    defaults = dataclasses.replace(
        SITE,
        factory=FactorySettings(),
        hub=HubSettings(),
        idle=IdleSettings(),
        slurm=SlurmSettings(),
    )
    c = Config()
    apply_site(c, defaults, gpu_kind="simulated", tokens=TOKENS)
    configured, bare = WorkbenchSpawner(config=c), WorkbenchSpawner()
    names = (set(c.Spawner) | set(c.WorkbenchSpawner)) - NOT_SITE_DEFAULTS
    assert {trait for trait, *_ in SITE_OWNED} <= names
    differ = {n: (getattr(bare, n), getattr(configured, n)) for n in names}
    assert {n: pair for n, pair in differ.items() if pair[0] != pair[1]} == {}
