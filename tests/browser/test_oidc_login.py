"""Login with OpenID Connect, end to end: a real OpenID provider (oidc-provider-mock) and
a second JupyterHub of this factory (the installed environment's jupyterhub, this
repository's hub configuration, the demo site with [auth] type = "oidc" and TLS on the
proxy with a self-signed certificate), both started here on free loopback ports and
stopped at the end. Chromium logs in as a factory user; a person who is not a factory
user, and a factory user whose projects claim names none of their projects, are refused
with the reason.

The second hub runs as the site's hub user, as in production: its data, the
certificate's key and the client secret are that user's. It starts no service: the
workbench API and the dashboards are external services, which the factory's supervisor
runs; this hub's configuration names them as the factory's hub does (the demo site's
ports, the factory's token files, which the hub user reads), and its idle culler is off
(cull_minutes = 0). What it starts, its proxy, it stops.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import sync_playwright

from aiworkbench.core.site import load_site

from ..conftest import REPO, wait_for
from .conftest import CHROMIUM, CHROMIUM_ARGS, screenshot

pytestmark = pytest.mark.browser

HUB_CONFIG = REPO / "hub_config" / "jupyterhub_config.py"
DEMO_SITE = REPO / "hub_config" / "site.toml"
HUB_ENV = load_site(DEMO_SITE).factory.hub_env  # the hub's Python environment
JUPYTERHUB = f"{HUB_ENV}/bin/jupyterhub"
CLIENT_ID = "workbench-test"
START_TIMEOUT = 120  # seconds: the hub and its proxy (and its wait for the services)
PROXY_PIDFILE = "jupyterhub-proxy.pid"  # JupyterHub's default, in its working directory


def free_ports(count):
    """``count`` distinct free loopback ports (bound together, then released)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for held in sockets:
            held.bind(("127.0.0.1", 0))
        return [held.getsockname()[1] for held in sockets]


def site_text(ports, data_dir, secret_file, cert, key, issuer):
    """The demo site with [auth] type = "oidc", TLS on the proxy, and ports and data of
    this test's own. The services' ports stay the demo's: the factory's own services,
    which this hub names but does not start; no idle culler (a service it would start)."""
    text = DEMO_SITE.read_text()
    hub = (
        f'[hub]\nip = "127.0.0.1"\nport = {ports["hub"]}\n'
        f"proxy_api_port = {ports['proxy_api']}\nhub_port = {ports['hub_api']}\n"
        f'data_dir = "{data_dir}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
    )
    # Its own database too: a file in its data folder, never the demo hub's.
    text = re.sub(r'(?m)^database = "postgresql"$', 'database = "sqlite"', text)
    assert 'database = "postgresql"' not in text
    old = "[hub]\nport = 8000\n"
    assert text.count(old) == 1, f"{DEMO_SITE} changed: no single {old!r} to replace"
    text = text.replace(old, hub)
    assert not re.search(r"(?m)^\[(idle|auth)\]$", text), (
        f"{DEMO_SITE} changed: it has [idle] or [auth] now"
    )
    return text + (
        f"\n[idle]\ncull_minutes = 0\n"
        f'\n[auth]\ntype = "oidc"\nissuer = "{issuer}"\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret_file = "{secret_file}"\n'
        f'projects_claim = "projects"\n'
    )


def stop(process, name):
    """Stop a process this test started: TERM (the hub then stops its proxy), then KILL
    its process group after 90 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    return f"{name} exited with {process.returncode}"


def stop_leftovers(proxy_pidfile, ports):
    """After the hub: its proxy (a session of its own) if the hub could not stop it; the
    ports still listened on, by name."""
    try:
        pid = int(Path(proxy_pidfile).read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        pass  # stopped by the hub, as it should be

    def listening():
        busy = []
        for name, port in ports.items():
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    busy.append(f"{name} ({port})")
        return busy

    try:
        wait_for(lambda: not listening(), 20, 0.5, what="the hub's ports to be free")
    except AssertionError:
        return listening()
    return []


def log_tail(path, lines=60):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(no log: {err})"


@pytest.fixture(scope="module")
def factory():
    """The provider and the second hub, running; yields their addresses and files."""
    assert Path(JUPYTERHUB).is_file(), f"{JUPYTERHUB} is missing: install the factory (make up)"
    assert shutil.which("openssl"), "the openssl command is missing"
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing"
    probe = subprocess.run(
        [sys.executable, "-c", "import oidc_provider_mock"], capture_output=True, text=True
    )
    assert probe.returncode == 0, (
        f"oidc-provider-mock is not installed in {sys.executable} (the dev extras): {probe.stderr}"
    )
    probe = subprocess.run(
        [
            str(Path(JUPYTERHUB).parent / "python"),
            "-c",
            "import oauthenticator, aiworkbench.hub.authenticator",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, (
        f"the hub's environment cannot load the OIDC "
        f"authenticator (oauthenticator, the hub extras; make "
        f"up installs them): {probe.stderr}"
    )

    site_dir = Path(tempfile.mkdtemp(prefix="aiwb-oidc-"))
    site_dir.chmod(0o755)
    names = ("provider", "hub", "proxy_api", "hub_api")
    ports = dict(zip(names, free_ports(len(names))))
    issuer = f"http://127.0.0.1:{ports['provider']}"
    hub_url = f"https://127.0.0.1:{ports['hub']}"
    processes = []
    try:
        provider_log = site_dir / "provider.log"
        with open(provider_log, "w") as log:
            provider = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "oidc_provider_mock",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports["provider"]),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append((provider, "the provider", provider_log))

        # The hub's files, as an administrator would lay them out.
        hub_user = "jupyterhub"
        account = pwd.getpwnam(hub_user)
        data_dir = site_dir / "hub"
        data_dir.mkdir(mode=0o700)
        os.chown(data_dir, account.pw_uid, account.pw_gid)
        cert, key = site_dir / "hub.pem", site_dir / "hub.key"
        made = subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0, f"openssl failed: {made.stderr}"
        secret_file = site_dir / "client-secret"
        secret_file.write_text("test-client-secret\n")
        for private in (key, secret_file):
            private.chmod(0o600)
            os.chown(private, account.pw_uid, account.pw_gid)
        cert.chmod(0o644)
        site_file = site_dir / "site.toml"
        site_file.write_text(site_text(ports, data_dir, secret_file, cert, key, issuer))
        site_file.chmod(0o644)

        def provider_answers():
            try:
                return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).ok
            except requests.RequestException:
                return provider.poll() is not None  # stop waiting: it died

        wait_for(provider_answers, 30, 0.3, what="the OpenID provider")
        assert provider.poll() is None, log_tail(provider_log)

        # The hub as the factory starts it (ansible's hub role), here on our ports.
        hub_log = site_dir / "hub.log"
        env = {
            "HOME": str(data_dir),
            "AIWORKBENCH_SITE": str(site_file),
            "PATH": f"{HUB_ENV}/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        }
        if os.environ.get("PYTHONPATH"):  # a checkout's code instead of the installed one
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        # Started as the hub user directly (no runuser in between, which would kill the
        # hub two seconds after a SIGTERM, before it stops its proxy).
        with open(hub_log, "w") as log:
            hub = subprocess.Popen(
                [JUPYTERHUB, "--config", str(HUB_CONFIG)],
                env=env,
                cwd=data_dir,
                user=account.pw_uid,
                group=account.pw_gid,
                extra_groups=os.getgrouplist(hub_user, account.pw_gid),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append((hub, "the hub", hub_log))

        def hub_answers():
            if hub.poll() is not None:
                return True
            try:
                return (
                    requests.get(f"{hub_url}/hub/api/", verify=str(cert), timeout=3).status_code
                    == 200
                )
            except requests.RequestException:
                return False

        wait_for(hub_answers, START_TIMEOUT, 0.5, what="the OIDC hub through its TLS proxy")
        assert hub.poll() is None, f"the hub exited:\n{log_tail(hub_log)}"
        yield {
            "hub_url": hub_url,
            "issuer": issuer,
            "cert": cert,
            "hub_log": hub_log,
            "data_dir": data_dir,
            "ports": ports,
        }
    finally:
        for process, name, _log in reversed(processes):
            print(stop(process, name))
        for _process, name, log in processes:
            print(f"--- {name} ---\n{log_tail(log, 30)}")
        left = stop_leftovers(site_dir / "hub" / PROXY_PIDFILE, ports)
        shutil.rmtree(site_dir, ignore_errors=True)
        assert not left, f"still listening after the hub stopped: {left}"


def set_claims(issuer, subject, claims):
    """The claims the provider will give ``subject`` (oidc-provider-mock's REST API)."""
    answer = requests.put(f"{issuer}/users/{quote(subject, safe='')}", json=claims, timeout=10)
    assert answer.status_code == 204, answer.text


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page with no cookies (no session at the hub or the provider); the hub's
    certificate is self-signed."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in_at_provider(page, factory, subject):
    """From the hub's login page through the provider's form as ``subject``; the
    response of the hub's OAuth callback."""
    page.goto(f"{factory['hub_url']}/hub/login")
    page.get_by_role("button", name="Sign in with OpenID Connect").click()
    page.wait_for_url(f"{factory['issuer']}/oauth2/authorize?*")
    page.get_by_placeholder("sub").fill(subject)
    with page.expect_response(re.compile(r"/hub/oauth_callback")) as callback:
        page.get_by_role("button", name="Authorize").click()
    page.wait_for_load_state("load")
    return callback.value


def explain(page, request, factory):
    return (
        f"page at {page.url}; {screenshot(page, request.node.name)}\n"
        f"hub log:\n{log_tail(factory['hub_log'], 40)}"
    )


def test_a_factory_user_logs_in_with_their_projects(factory, page, request):
    # The subject is the provider's id; the username claim names the Unix user.
    set_claims(
        factory["issuer"],
        "id-0042",
        {
            "preferred_username": "Student",
            "name": "Demo Student",
            "projects": ["edu-intro", "not-a-project"],
        },
    )
    try:
        log_in_at_provider(page, factory, "id-0042")
        page.wait_for_url(re.compile(r"/hub/(home|spawn)"))
        assert page.url.startswith(factory["hub_url"])
        assert page.locator("#login_widget").inner_text().split()[0] == "student"
        # The hub's REST API, with the session's cookie and XSRF token, as the page does.
        model = page.evaluate("""async () => {
            const r = await fetch("/hub/api/user",
                                  {headers: {"X-XSRFToken": window.jhdata.xsrf_token}});
            return {status: r.status, body: await r.json()};
        }""")
    except Exception as err:
        raise AssertionError(f"{err}\n{explain(page, request, factory)}") from err
    assert model["status"] == 200, model
    assert model["body"]["name"] == "student"
    # The projects claim gave edu-intro only (not sme-trial, which the site also gives
    # the student); the site file gave the role and class groups.
    assert sorted(model["body"]["groups"]) == ["class-intro", "project-edu-intro", "students"], (
        model["body"]
    )
    assert model["body"]["admin"] is False


def test_a_person_who_is_not_a_factory_user_is_refused(factory, page, request):
    set_claims(
        factory["issuer"], "mallory", {"preferred_username": "mallory", "projects": ["edu-intro"]}
    )
    callback = log_in_at_provider(page, factory, "mallory")
    text = page.locator("body").inner_text()
    assert callback.status == 403, f"{callback.status}: {text}\n{explain(page, request, factory)}"
    assert "'mallory' is not a user of Demo AI Factory" in text, text
    assert "not a factory account" in text, text
    page.goto(f"{factory['hub_url']}/hub/home")  # no session: back to the login page
    page.wait_for_url(re.compile(r"/hub/login"))


def test_a_factory_user_without_their_projects_in_the_claim_is_refused(factory, page, request):
    # sme works in sme-vision and sme-trial; the provider names another project only.
    set_claims(
        factory["issuer"],
        "id-0007",
        {"preferred_username": "sme", "projects": "edu-intro factory-ops"},
    )
    callback = log_in_at_provider(page, factory, "id-0007")
    text = page.locator("body").inner_text()
    assert callback.status == 403, f"{callback.status}: {text}\n{explain(page, request, factory)}"
    assert (
        "sme is a user of Demo AI Factory, but the identity provider names none of "
        "their projects (sme-vision, sme-trial) in the claim 'projects'" in text
    ), text
