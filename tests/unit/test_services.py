"""The hub's external services (aiworkbench.hub.services): the hub's configuration names
them as JupyterHub expects, ``aiworkbench-service NAME`` gives each exactly the
environment JupyterHub gives a service it starts itself, and refuses a wrong user, an
unknown name and a token file that is missing, empty or open to others."""

import asyncio
import inspect
import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest
from traitlets.config import Config

from aiworkbench.core import daemons
from aiworkbench.core.site import parse_site
from aiworkbench.hub import services
from aiworkbench.hub.config import apply_site
from aiworkbench.hub.services import ServiceError, read_token, service_environment

from .test_site import DEMO

# Tokens for apply_site's seam (no token files in unit tests).
TOKENS = {
    "workbench": "0123456789abcdef" * 4,
    "dashboards": "fedcba9876543210" * 4,
    "idle-culler": "00112233445566778899aabbccddeeff" * 2,
}
DEMO_TEXT = DEMO.read_text()
# Users every Debian machine has, standing in for the hub's and the dashboards' users.
HUB_USER, DASH_USER = "daemon", "nobody"


def site_with(hub: str = "", dashboards: str = ""):
    """The demo site with these extra [hub] and [dashboards] lines."""
    text = DEMO_TEXT.replace("[hub]\n", f"[hub]\n{hub}\n", 1)
    return parse_site(text.replace("[dashboards]\n", f"[dashboards]\n{dashboards}\n", 1))


def configured(site):
    c = Config()
    apply_site(c, site, gpu_kind="simulated", tokens=TOKENS)
    return c


def jupyterhub_app(c):
    """JupyterHub itself, given the configuration apply_site makes (an in-memory
    database), up to its services."""
    from jupyterhub.app import JupyterHub

    c.JupyterHub.db_url = "sqlite://"
    c.JupyterHub.services = [s for s in c.JupyterHub.services if s["name"] != "idle-culler"]
    app = JupyterHub(config=c)
    app.init_db()
    app.init_hub()
    app.init_oauth()
    made = app.init_role_creation()
    if inspect.isawaitable(made):  # JupyterHub 6: a coroutine
        asyncio.run(made)
    app.init_services()
    return app


def managed_environment(app, name, monkeypatch):
    """The environment JupyterHub's own Service.start would give service ``name`` if it
    started it (its command set, the process not started)."""
    from jupyterhub.services import service as jupyterhub_service

    started = {}

    class NoProcess(subprocess.Popen):
        def __init__(self, cmd, *, env, **kwargs):  # noqa: D107 (starts nothing)
            started.update(env)
            self.pid, self.returncode, self._child_created = 0, None, False

    monkeypatch.setattr(jupyterhub_service, "Popen", NoProcess)
    monkeypatch.setattr(jupyterhub_service._ServiceSpawner, "start_polling", lambda self: None)
    svc = app._service_map[name]
    svc.command = ["/bin/true"]
    asyncio.run(svc.start())
    return started


def jupyterhub_variables(env):
    return {k: v for k, v in env.items() if k.startswith("JUPYTERHUB_")}


# --- the hub's configuration --------------------------------------------------------


def test_both_services_are_external_with_their_token_and_oauth_client():
    c = configured(site_with())
    entries = {s["name"]: s for s in c.JupyterHub.services}
    for name, port in (("workbench", 8090), ("dashboards", 8091)):
        entry = entries[name]
        assert "command" not in entry and "environment" not in entry and "user" not in entry
        assert entry["url"] == f"http://127.0.0.1:{port}"
        assert entry["api_token"] == TOKENS[name]
        assert entry["oauth_client_id"] == f"service-{name}"
        assert entry["oauth_redirect_uri"] == f"/services/{name}/oauth_callback"
        assert entry["oauth_no_confirm"] is True
    assert entries["workbench"]["display"] is False
    assert entries["dashboards"]["display"] is True
    assert entries["dashboards"]["info"]["description"].startswith("Usage, budgets")
    assert "sudo" not in json.dumps(c.JupyterHub.services)


def test_the_hub_keeps_its_pid_file_in_its_data_folder():
    c = configured(site_with(hub='data_dir = "/srv/hub-state"'))
    assert c.JupyterHub.pid_file == "/srv/hub-state/jupyterhub.pid"
    assert daemons.DAEMONS["hub"]["pidfile_name"] == "jupyterhub.pid"


def test_jupyterhub_takes_them_as_external_services_with_oauth_clients():
    app = jupyterhub_app(configured(site_with()))
    for name in ("workbench", "dashboards"):
        svc = app._service_map[name]
        assert svc.kind == "external" and svc.api_token == TOKENS[name]
        assert svc.oauth_client.identifier == f"service-{name}"
        assert svc.oauth_client.redirect_uri == f"/services/{name}/oauth_callback"
        assert svc.orm.server.base_url == f"/services/{name}/"
        assert f"access:services!service={name}" in svc.oauth_client.allowed_scopes


def test_the_hub_reads_the_token_files_when_no_tokens_are_given(tmp_path, monkeypatch):
    monkeypatch.setitem(daemons.DAEMONS, "service_token_dir", str(tmp_path))
    for name, token in TOKENS.items():
        (tmp_path / f"{name}.token").write_text(token + "\n")
        (tmp_path / f"{name}.token").chmod(0o440)
    c = Config()
    apply_site(c, site_with(), gpu_kind="simulated")
    assert {s["name"]: s.get("api_token") for s in c.JupyterHub.services} == {**TOKENS}
    (tmp_path / "dashboards.token").unlink()
    with pytest.raises(
        ServiceError, match=f"token file {tmp_path}/dashboards.token: No such file or directory"
    ):
        apply_site(Config(), site_with(), gpu_kind="simulated")


# --- the services' environment ---------------------------------------------------------


@pytest.mark.parametrize(
    "hub",
    [
        "",
        'public_url = "https://factory.example.org:8443"\n'
        'tls_cert = "/etc/ssl/hub.pem"\n'
        'tls_key = "/etc/ssl/private/hub.key"',
    ],
)
@pytest.mark.parametrize("name", ["workbench", "dashboards"])
def test_the_environment_is_what_jupyterhub_gives_a_service_it_starts(name, hub, monkeypatch):
    site = site_with(hub)
    given = managed_environment(jupyterhub_app(configured(site)), name, monkeypatch)
    ours = service_environment(site, name, TOKENS[name], "/etc/aiworkbench/site.toml")
    assert jupyterhub_variables(ours) == jupyterhub_variables(given)
    assert ours["JUPYTERHUB_API_URL"] == "http://10.77.0.1:8081/hub/api"
    port = site.hub.api_port if name == "workbench" else site.dashboards.port
    assert ours["JUPYTERHUB_SERVICE_URL"] == f"http://127.0.0.1:{port}"
    if hub:
        assert ours["JUPYTERHUB_PUBLIC_URL"] == (
            f"https://factory.example.org:8443/services/{name}/"
        )


def test_each_service_gets_its_own_settings():
    site = site_with()
    api = service_environment(site, "workbench", TOKENS["workbench"], "/s/site.toml")
    assert api["AIWORKBENCH_SITE"] == "/s/site.toml"
    dash = service_environment(site, "dashboards", TOKENS["dashboards"], "/s/site.toml")
    assert dash["AIWORKBENCH_DASHBOARDS_STORE"] == (
        "/var/lib/aiworkbench/dashboards/accounting.duckdb"
    )
    assert dash["AIWORKBENCH_DASHBOARDS_DIR"] == "/opt/aiworkbench/dashboards"
    assert dash["AIWORKBENCH_DASHBOARDS_INGEST_SECONDS"] == "15"
    assert dash["AIWORKBENCH_DASHBOARDS_HISTORY_DAYS"] == "365"
    assert dash["AIWORKBENCH_SLURM_READER"] == "slurm-reader"  # reads Slurm as the reader
    # Straight to the API's loopback port, never through a TLS proxy.
    assert dash["AIWORKBENCH_API_URL"] == "http://127.0.0.1:8090/services/workbench/api"
    assert dash["JUPYTERHUB_API_TOKEN"] == TOKENS["dashboards"]
    assert json.loads(dash["JUPYTERHUB_OAUTH_ACCESS_SCOPES"]) == [
        "access:services",
        "access:services!service=dashboards",
    ]


@pytest.mark.parametrize(
    "hub_ip, api",
    [
        ("0.0.0.0", "http://127.0.0.1:8081/hub/api"),
        ("::", "http://[::1]:8081/hub/api"),
        ("fd00::7", "http://[fd00::7]:8081/hub/api"),
    ],
)
def test_a_hub_listening_everywhere_is_called_on_loopback(hub_ip, api):
    site = parse_site(DEMO_TEXT.replace('hub_ip = "10.77.0.1"', f'hub_ip = "{hub_ip}"'))
    env = service_environment(site, "workbench", TOKENS["workbench"])
    assert env["JUPYTERHUB_API_URL"] == api


# --- token files ---------------------------------------------------------------------


def token_at(tmp_path, text, mode=0o440, name="dashboards"):
    path = tmp_path / f"{name}.token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_token_file_is_in_the_shared_token_folder():
    assert services.token_file("workbench") == "/etc/aiworkbench/services/workbench.token"
    assert daemons.DAEMONS["service_token_dir"] == "/etc/aiworkbench/services"


@pytest.mark.parametrize("mode", [0o440, 0o400, 0o600])
def test_a_private_token_file_is_read(tmp_path, mode):
    token_at(tmp_path, TOKENS["dashboards"] + "\n", mode)
    assert read_token("dashboards", str(tmp_path)) == TOKENS["dashboards"]


@pytest.mark.parametrize(
    "text, mode, problem",
    [
        (None, 0o440, "No such file or directory"),
        ("", 0o440, "is empty"),
        ("\n  \n", 0o440, "is empty"),
        (TOKENS["dashboards"], 0o444, "is open to others (mode 0444)"),
        (TOKENS["dashboards"], 0o460, "is open to others (mode 0460)"),
        ("not-hex-at-all-not-hex-at-all-not-hex", 0o440, "does not hold one line of at least 32"),
        (TOKENS["dashboards"] + "\n" + TOKENS["dashboards"], 0o440, "does not hold one line"),
        ("abc123", 0o440, "at least 32 hex digits"),
    ],
)
def test_a_bad_token_file_is_refused_naming_the_file_and_what_it_needs(
    tmp_path, text, mode, problem
):
    if text is not None:
        token_at(tmp_path, text, mode)
    with pytest.raises(ServiceError) as info:
        read_token("dashboards", str(tmp_path))
    message = str(info.value)
    assert f"{tmp_path}/dashboards.token" in message and problem in message, message
    assert "one line of hex" in message and "chmod 0440" in message, message


def test_a_folder_is_not_a_token_file(tmp_path):
    (tmp_path / "workbench.token").mkdir(mode=0o750)
    with pytest.raises(ServiceError, match="workbench.token is not a regular file"):
        read_token("workbench", str(tmp_path))


# --- aiworkbench-service NAME ---------------------------------------------------------


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A site file whose services run as HUB_USER and DASH_USER, and their tokens."""
    site_file = tmp_path / "site dir" / "site.toml"
    site_file.parent.mkdir()
    text = DEMO_TEXT.replace("[hub]\n", f'[hub]\nuser = "{HUB_USER}"\n', 1)
    site_file.write_text(text.replace("[dashboards]\n", f'[dashboards]\nuser = "{DASH_USER}"\n', 1))
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    token_at(tokens, TOKENS["workbench"] + "\n", 0o400, "workbench")
    token_at(tokens, TOKENS["dashboards"] + "\n", 0o440, "dashboards")
    for key in list(os.environ):
        if key.startswith("JUPYTERHUB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "a-stale-token")  # never passed on
    monkeypatch.setenv("AIWORKBENCH_SITE", str(site_file))
    monkeypatch.setenv("PATH", "/opt/aiworkbench/hub/bin:/usr/bin:/bin")  # the supervisor's
    return {"site": site_file, "tokens": str(tokens)}


def run_main(installed, argv, user, dropped=None):
    execs = []
    services.main(
        argv,
        execve=lambda *call: execs.append(call),
        uid=pwd.getpwnam(user).pw_uid,
        token_dir=installed["tokens"],
        drop=(dropped if dropped is not None else []).append,
    )
    return execs


@pytest.mark.parametrize(
    "name, user, program, search_path",
    [
        # The API runs in the hub's environment, the dashboards (Voila) in the kernels'.
        (
            "workbench",
            HUB_USER,
            "/opt/aiworkbench/hub/bin/aiworkbench-api",
            "/opt/aiworkbench/hub/bin:/usr/bin:/bin",
        ),
        (
            "dashboards",
            DASH_USER,
            "/opt/aiworkbench/env/bin/aiworkbench-dashboards",
            "/opt/aiworkbench/env/bin:/opt/aiworkbench/hub/bin:/usr/bin:/bin",
        ),
    ],
)
def test_main_execs_the_service_with_its_environment(installed, name, user, program, search_path):
    [(path, argv, env)] = run_main(installed, [name], user)
    assert (path, argv) == (program, [program])
    site = parse_site(installed["site"].read_text())
    expected = service_environment(site, name, TOKENS[name], str(installed["site"]))
    assert {k: env[k] for k in expected} == expected
    assert jupyterhub_variables(env) == jupyterhub_variables(expected)  # no stale ones
    assert env["HOME"] == pwd.getpwnam(user).pw_dir
    assert env["PATH"] == search_path
    assert env["AIWORKBENCH_SITE"] == str(installed["site"])


def test_main_reads_the_site_named_on_its_command_line(installed, monkeypatch):
    monkeypatch.delenv("AIWORKBENCH_SITE")
    [(_, _, env)] = run_main(installed, ["dashboards", "--site", str(installed["site"])], DASH_USER)
    assert env["AIWORKBENCH_SITE"] == str(installed["site"])


def test_main_refuses_an_unknown_service(installed, capsys):
    with pytest.raises(SystemExit) as info:
        run_main(installed, ["proxy"], HUB_USER)
    assert info.value.code == 2
    assert "invalid choice: 'proxy'" in capsys.readouterr().err


def test_main_refuses_the_wrong_user(installed):
    with pytest.raises(SystemExit) as info:
        run_main(installed, ["dashboards"], HUB_USER)
    assert info.value.code == (
        f"aiworkbench-service dashboards: runs as '{DASH_USER}' "
        f"(or starts as root), not as '{HUB_USER}'"
    )


def test_main_started_as_root_becomes_the_services_user_before_it_runs_it(installed):
    dropped = []
    [(path, _, env)] = run_main(installed, ["dashboards"], "root", dropped)
    assert [account.pw_name for account in dropped] == [DASH_USER]
    assert env["HOME"] == pwd.getpwnam(DASH_USER).pw_dir
    assert path.endswith("/aiworkbench-dashboards")


def test_main_refuses_a_token_file_open_to_everyone(installed):
    os.chmod(os.path.join(installed["tokens"], "dashboards.token"), 0o644)
    with pytest.raises(
        SystemExit,
        match=r"aiworkbench-service dashboards: service "
        r"dashboards: token file .*dashboards.token is "
        r"open to others \(mode 0644\)",
    ):
        run_main(installed, ["dashboards"], DASH_USER)


def test_main_says_when_the_site_or_the_program_is_missing(installed, tmp_path):
    with pytest.raises(
        SystemExit,
        match=r"aiworkbench-service workbench: .*none.toml: "
        r"invalid site file:\n  - cannot read the file",
    ):
        run_main(installed, ["workbench", "--site", str(tmp_path / "none.toml")], HUB_USER)

    def missing(path, argv, env):
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(
        SystemExit,
        match="cannot run /opt/aiworkbench/hub/bin/aiworkbench-api: No such file or directory",
    ):
        services.main(
            ["workbench"],
            execve=missing,
            uid=pwd.getpwnam(HUB_USER).pw_uid,
            token_dir=installed["tokens"],
        )


def test_the_idle_culler_runs_with_the_sites_timings_and_only_what_it_needs(installed):
    token_at(Path(installed["tokens"]), TOKENS["idle-culler"] + "\n", 0o400, "idle-culler")
    [(path, argv, env)] = run_main(installed, ["idle-culler"], HUB_USER)
    assert path == "/opt/aiworkbench/hub/bin/python3"  # the hub's environment
    assert argv[1:] == ["-m", "jupyterhub_idle_culler", "--timeout=7200", "--cull-every=300"]
    assert env["JUPYTERHUB_API_TOKEN"] == TOKENS["idle-culler"]
    assert env["JUPYTERHUB_API_URL"].endswith("/hub/api")
    assert "JUPYTERHUB_SERVICE_URL" not in env and "JUPYTERHUB_CLIENT_ID" not in env
