"""Login settings: [auth] (PAM or OpenID Connect), TLS on the proxy, the hub config they
produce, and the mapping of a provider's claims to a factory user and projects."""

import asyncio
import io
import json
import urllib.error

import pytest
from tornado import web
from traitlets.config import Config

from aiworkbench.core import oidc
from aiworkbench.core.site import SiteError, parse_site
from aiworkbench.hub import services
from aiworkbench.hub.authenticator import WorkbenchOIDCAuthenticator
from aiworkbench.hub.config import OIDC_AUTHENTICATOR, apply_site

from .test_services import TOKENS
from .test_site import DEMO

DEMO_TEXT = DEMO.read_text()
ISSUER = "https://id.example.org/realms/ai"
DISCOVERY = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
    "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
    "userinfo_endpoint": f"{ISSUER}/protocol/openid-connect/userinfo",
}


def site_with(auth: str = "", hub: str = ""):
    """The demo site with these [auth] lines and extra [hub] lines."""
    text = DEMO_TEXT.replace("[hub]\n", f"[hub]\n{hub}\n", 1)
    return parse_site(text + f"\n[auth]\n{auth}\n")


def problems_of(auth: str = "", hub: str = "") -> str:
    with pytest.raises(SiteError) as info:
        site_with(auth, hub)
    return "\n".join(info.value.problems)


def oidc_auth(secret_file="/etc/aiworkbench/oidc-secret", **extra):
    lines = [
        'type = "oidc"',
        f'issuer = "{ISSUER}"',
        'client_id = "workbench"',
        f'client_secret_file = "{secret_file}"',
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines)


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "client-secret"
    path.write_text("s3cret-value\n")
    path.chmod(0o600)
    return path


# --- the schema -------------------------------------------------------------------


def test_the_default_is_pam_with_plain_http():
    site = site_with()
    assert site.auth.type == "pam"
    assert site.auth.scopes == ["openid", "profile", "email"]
    assert site.auth.username_claim == "preferred_username"
    assert site.auth.projects_claim == "" and site.auth.strip_domain is False
    assert site.hub.tls_cert == site.hub.tls_key == site.hub.public_url == ""


def test_oidc_names_every_missing_required_setting():
    problems = problems_of('type = "oidc"')
    assert (
        'auth.issuer, auth.client_id, auth.client_secret_file: required with auth.type = "oidc"'
    ) in problems


def test_an_unknown_type_is_refused():
    assert "auth.type: must be one of pam, oidc; got 'ldap'" in problems_of('type = "ldap"')


def test_pam_refuses_oidc_settings_rather_than_ignoring_them():
    problems = problems_of(f'issuer = "{ISSUER}"\nprojects_claim = "groups"')
    assert 'auth.issuer: only used with auth.type = "oidc"' in problems
    assert 'auth.projects_claim: only used with auth.type = "oidc"' in problems


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:9400", "http://localhost:9400/x", "http://[::1]:9400"]
)
def test_an_http_issuer_is_accepted_on_loopback_only(issuer):
    site = site_with(oidc_auth().replace(ISSUER, issuer))
    assert site.auth.issuer == issuer


def test_an_http_issuer_elsewhere_is_refused():
    problems = problems_of(oidc_auth().replace(ISSUER, "http://id.example.org"))
    assert "auth.issuer: 'http://id.example.org' must be https" in problems


@pytest.mark.parametrize(
    "issuer", ["ftp://id.example.org", "https://id example.org", "https://id.example.org/?q=1"]
)
def test_an_issuer_that_is_not_a_url_is_refused(issuer):
    assert "auth.issuer:" in problems_of(oidc_auth().replace(ISSUER, issuer))


def test_scopes_must_include_openid_and_be_scope_names():
    problems = problems_of(oidc_auth(scopes=["profile", 'a"b']))
    assert "auth.scopes: must include 'openid'" in problems
    assert "auth.scopes: 'a\"b' is not a valid scope name" in problems


def test_the_secret_itself_has_no_place_in_the_site_file():
    problems = problems_of(oidc_auth() + '\nclient_secret = "s3cret"')
    assert "auth.client_secret: unknown key" in problems
    assert "auth.client_secret_file: 'secret.txt' does not match" in problems_of(
        oidc_auth(secret_file="secret.txt")
    )


def test_tls_needs_both_certificate_and_key():
    problems = problems_of(hub='tls_cert = "/etc/ssl/hub.pem"')
    assert "hub.tls_cert, hub.tls_key: set both" in problems


def test_a_public_url_is_scheme_host_and_port_only():
    assert "hub.public_url:" in problems_of(hub='public_url = "https://f.example.org/hub/"')
    site = site_with(hub='public_url = "https://f.example.org:8443"')
    assert site.public_url() == "https://f.example.org:8443"


def test_an_http_public_url_with_tls_on_the_proxy_is_refused():
    problems = problems_of(
        hub='tls_cert = "/c.pem"\ntls_key = "/k.pem"\npublic_url = "http://f.example.org"'
    )
    assert "hub.public_url: 'http://f.example.org' is http, but the proxy serves https" in problems


# --- the hub configuration --------------------------------------------------------


def test_pam_keeps_the_site_groups_and_adds_project_groups():
    c = Config()
    apply_site(c, site_with(), gpu_kind="simulated", tokens=TOKENS)
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.PAMAuthenticator.open_sessions is False
    assert c.JupyterHub.load_groups["project-edu-intro"]["users"][:2] == ["intro-01", "intro-02"]
    assert "student" in c.JupyterHub.load_groups["project-sme-trial"]["users"]
    assert not c.Authenticator.get("manage_groups")


def test_oidc_configures_the_authenticator_from_discovery(secret_file):
    site = site_with(
        oidc_auth(secret_file, projects_claim="projects"),
        hub='public_url = "https://factory.example.org"',
    )
    c = Config()
    apply_site(c, site, gpu_kind="simulated", tokens=TOKENS, discovery=DISCOVERY)
    assert c.JupyterHub.authenticator_class == OIDC_AUTHENTICATOR
    oauth = c.WorkbenchOIDCAuthenticator
    authenticator = WorkbenchOIDCAuthenticator(config=c)
    assert authenticator.authorize_url == DISCOVERY["authorization_endpoint"]
    assert authenticator.token_url == DISCOVERY["token_endpoint"]
    assert authenticator.userdata_url == DISCOVERY["userinfo_endpoint"]
    assert oauth.client_id == "workbench" and oauth.client_secret == "s3cret-value"
    assert oauth.oauth_callback_url == "https://factory.example.org/hub/oauth_callback"
    assert oauth.scope == ["openid", "profile", "email"]
    assert oauth.username_claim == "preferred_username"
    assert oauth.enable_pkce is True and oauth.site is site
    # Groups are the authenticator's: load_groups would make JupyterHub refuse to start.
    assert c.Authenticator.manage_groups is True and c.JupyterHub.load_groups == {}
    assert c.Authenticator.admin_users == {"admin"}
    assert "intro-20" in c.Authenticator.allowed_users
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["dashboard-viewers"]["groups"] == ["managers"]
    assert roles["budget-readers"]["groups"] == ["managers", "admins"]


def test_oidc_reads_the_issuer_when_the_hub_starts_not_when_its_configuration_loads(
    secret_file, monkeypatch
):
    asked = []
    monkeypatch.setattr(oidc, "discover", lambda issuer: asked.append(issuer) or DISCOVERY)
    c = Config()
    apply_site(c, site_with(oidc_auth(secret_file)), gpu_kind="simulated", tokens=TOKENS)
    assert asked == []  # the configuration contacts no server
    authenticator = WorkbenchOIDCAuthenticator(config=c)
    assert asked == []
    authenticator.check_allow_config()  # JupyterHub's check as the hub starts
    assert asked == [ISSUER]
    assert authenticator.token_url == DISCOVERY["token_endpoint"] and asked == [ISSUER]


def test_oidc_does_not_start_when_the_provider_does_not_answer(secret_file, monkeypatch):
    def refused(issuer):
        raise oidc.OIDCSetupError(f"auth.issuer: cannot read {issuer}: refused")

    monkeypatch.setattr(oidc, "discover", refused)
    c = Config()
    apply_site(c, site_with(oidc_auth(secret_file)), gpu_kind="simulated", tokens=TOKENS)
    with pytest.raises(oidc.OIDCSetupError, match="cannot read"):
        WorkbenchOIDCAuthenticator(config=c).check_allow_config()


def test_oidc_does_not_start_with_a_world_readable_secret(secret_file):
    secret_file.chmod(0o644)
    with pytest.raises(
        oidc.OIDCSetupError,
        match=r"readable or writable by everyone "
        r"\(mode 0644\)",
    ):
        apply_site(
            Config(),
            site_with(oidc_auth(secret_file)),
            gpu_kind="simulated",
            tokens=TOKENS,
            discovery=DISCOVERY,
        )


def test_plain_http_by_default():
    c = Config()
    apply_site(c, site_with(), gpu_kind="simulated", tokens=TOKENS)
    assert c.JupyterHub.bind_url == "http://:8000"
    assert not c.JupyterHub.get("ssl_cert") and not c.JupyterHub.get("public_url")
    # Sessions reach the workbench API through the proxy, at the hub's address
    # (the demo's: the bridge its namespace nodes are on).
    assert c.WorkbenchSpawner.api_url == "http://10.77.0.1:8000/services/workbench/api"


def test_tls_makes_the_proxy_serve_https_and_internal_calls_avoid_it():
    site = site_with(
        hub='ip = "10.1.2.3"\ntls_cert = "/etc/ssl/hub.pem"\ntls_key = "/etc/ssl/private/hub.key"'
    )
    c = Config()
    apply_site(c, site, gpu_kind="simulated", tokens=TOKENS)
    assert c.JupyterHub.bind_url == "https://10.1.2.3:8000"
    assert c.JupyterHub.ssl_cert == "/etc/ssl/hub.pem"
    assert c.JupyterHub.ssl_key == "/etc/ssl/private/hub.key"
    # The hub's own API (sessions call back to it) stays plain http on its own port.
    assert c.JupyterHub.hub_bind_url == "http://10.77.0.1:8081"
    # Sessions reach the workbench API through the proxy, by the certificate's name.
    assert c.WorkbenchSpawner.api_url == "https://10.1.2.3:8000/services/workbench/api"
    # The dashboards service goes straight to the API's loopback port.
    dash = services.service(site, "dashboards")
    assert dash.environment["AIWORKBENCH_API_URL"] == (
        "http://127.0.0.1:8090/services/workbench/api"
    )
    entries = {s["name"]: s for s in c.JupyterHub.services}
    assert all(s.get("url", "http://").startswith("http://") for s in entries.values())


def test_the_derived_public_url_follows_tls(monkeypatch):
    monkeypatch.setattr("socket.getfqdn", lambda: "node1.example.org")
    assert site_with().public_url() == "http://node1.example.org:8000"
    site = site_with(hub='tls_cert = "/c.pem"\ntls_key = "/k.pem"')
    assert site.public_url() == "https://node1.example.org:8000"


# --- discovery and the client secret ---------------------------------------------


def answering(document):
    def urlopen(request, timeout):
        assert request.full_url == f"{ISSUER}/.well-known/openid-configuration"
        return io.BytesIO(json.dumps(document).encode())

    return urlopen


def test_discovery_returns_the_endpoints():
    assert (
        oidc.discover(ISSUER + "/", urlopen=answering(DISCOVERY))["token_endpoint"]
        == DISCOVERY["token_endpoint"]
    )


def test_discovery_refuses_another_issuer():
    other = dict(DISCOVERY, issuer="https://evil.example.org")
    with pytest.raises(oidc.OIDCSetupError, match="names issuer 'https://evil.example.org'"):
        oidc.discover(ISSUER, urlopen=answering(other))


def test_discovery_names_missing_endpoints():
    partial = {k: v for k, v in DISCOVERY.items() if k != "userinfo_endpoint"}
    with pytest.raises(oidc.OIDCSetupError, match="has no userinfo_endpoint"):
        oidc.discover(ISSUER, urlopen=answering(partial))


def test_discovery_says_when_the_provider_does_not_answer():
    def refused(request, timeout):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    with pytest.raises(
        oidc.OIDCSetupError,
        match="cannot read https://id.example.org/realms/ai/.well-known/openid-configuration",
    ):
        oidc.discover(ISSUER, urlopen=refused)


def test_the_secret_is_read_from_its_file(secret_file):
    assert oidc.read_client_secret(str(secret_file)) == "s3cret-value"
    secret_file.chmod(0o640)  # readable by the hub's group: fine
    assert oidc.read_client_secret(str(secret_file)) == "s3cret-value"


def test_a_missing_or_empty_secret_file_is_refused(tmp_path):
    with pytest.raises(oidc.OIDCSetupError, match="No such file or directory"):
        oidc.read_client_secret(str(tmp_path / "absent"))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(oidc.OIDCSetupError, match="must hold the client secret on one line"):
        oidc.read_client_secret(str(empty))
    with pytest.raises(oidc.OIDCSetupError, match="not a regular file"):
        oidc.read_client_secret(str(tmp_path))


# --- claims → user and projects -----------------------------------------------------

OIDC_SITE = site_with(oidc_auth(projects_claim="projects"))


def test_the_username_claim_names_the_unix_user_lower_cased():
    assert oidc.unix_user({"preferred_username": "Student"}, OIDC_SITE) == "student"
    assert oidc.unix_user({"preferred_username": "intro-07"}, OIDC_SITE) == "intro-07"


def test_a_domain_is_stripped_only_when_asked():
    with pytest.raises(oidc.LoginRefused, match="'student@uni.example' is not a user of"):
        oidc.unix_user({"preferred_username": "student@uni.example"}, OIDC_SITE)
    site = site_with(oidc_auth(strip_domain=True, username_claim="email"))
    assert oidc.unix_user({"email": "Student@uni.example"}, site) == "student"


def test_a_person_who_is_not_a_factory_user_is_refused_with_the_reason():
    with pytest.raises(oidc.LoginRefused) as refused:
        oidc.unix_user({"preferred_username": "mallory"}, OIDC_SITE)
    assert str(refused.value).startswith(
        "'mallory' is not a user of Demo AI Factory: your "
        "account at the identity provider is not a "
        "factory account."
    )


def test_a_missing_username_claim_is_refused():
    with pytest.raises(oidc.LoginRefused, match="did not send the claim 'preferred_username'"):
        oidc.unix_user({"sub": "123"}, OIDC_SITE)


@pytest.mark.parametrize(
    "value, names",
    [
        (["edu-intro", "other"], ["edu-intro", "other"]),
        ("edu-intro sme-trial", ["edu-intro", "sme-trial"]),
        ("edu-intro, sme-trial,,", ["edu-intro", "sme-trial"]),
        (None, []),
        (42, []),
        ([1, " edu-intro "], ["edu-intro"]),
    ],
)
def test_a_projects_claim_is_a_list_or_a_separated_string(value, names):
    assert oidc.claimed_projects(value) == names


def test_projects_are_the_claims_that_are_also_the_users_site_projects():
    claims = {"projects": ["sme-trial", "sme-vision", "unknown"]}
    assert oidc.login_projects("student", claims, OIDC_SITE) == ["sme-trial"]


def test_without_a_projects_claim_setting_all_site_projects_count():
    site = site_with(oidc_auth())
    assert oidc.login_projects("student", {}, site) == ["edu-intro", "sme-trial"]


def test_a_projects_claim_naming_none_of_the_users_projects_is_refused():
    with pytest.raises(oidc.LoginRefused) as refused:
        oidc.login_projects("student", {"projects": ["sme-vision"]}, OIDC_SITE)
    assert "names none of their projects (edu-intro, sme-trial) in the claim 'projects'" in str(
        refused.value
    )
    with pytest.raises(oidc.LoginRefused):
        oidc.login_projects("student", {}, OIDC_SITE)


def test_the_hub_groups_at_login():
    assert oidc.hub_groups_of("student", ["edu-intro"], OIDC_SITE) == [
        "class-intro",
        "project-edu-intro",
        "students",
    ]


# --- the authenticator ------------------------------------------------------------


def authenticator():
    return WorkbenchOIDCAuthenticator(
        site=OIDC_SITE, manage_groups=True, allowed_users=set(OIDC_SITE.users)
    )


def auth_model(name, claims):
    return {"name": name, "admin": None, "auth_state": {"oauth_user": claims}}


def test_the_authenticator_sets_admin_and_groups_from_site_and_claims():
    auth = authenticator()
    model = asyncio.run(
        auth.update_auth_model(auth_model("student", {"projects": "edu-intro unknown"}))
    )
    assert model["admin"] is False
    assert model["auth_state"]["workbench_projects"] == ["edu-intro"]
    groups = asyncio.run(auth.get_user_groups(model["auth_state"]))
    assert groups == {"students", "class-intro", "project-edu-intro"}
    admin = asyncio.run(auth.update_auth_model(auth_model("admin", {"projects": ["factory-ops"]})))
    assert admin["admin"] is True


def test_the_authenticator_refuses_with_403_and_the_message():
    auth = authenticator()
    with pytest.raises(web.HTTPError) as refused:
        auth.user_info_to_username({"preferred_username": "mallory"})
    assert refused.value.status_code == 403
    assert "not a factory account" in refused.value.log_message % refused.value.args
    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(auth.update_auth_model(auth_model("sme", {"projects": ["edu-intro"]})))
    assert refused.value.status_code == 403
    assert "names none of their projects" in refused.value.log_message % refused.value.args
