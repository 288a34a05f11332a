"""The hub's OpenID Connect authenticator: oauthenticator's GenericOAuthenticator (code
flow, state and PKCE as it does them) with the factory's mapping of claims to a Unix
user and projects (aiworkbench.core.oidc). aiworkbench.hub.config.apply_site configures it;
the provider's endpoints are read from its discovery document when the hub starts, not
while the configuration loads."""

from __future__ import annotations

from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from traitlets import Any, Dict, default

from aiworkbench.core import oidc


class WorkbenchOIDCAuthenticator(GenericOAuthenticator):
    """Logs in factory users through the site's OpenID provider. A person whose
    username claim is not a factory user, or (with auth.projects_claim) whose projects
    claim names none of their projects, gets a 403 page saying so. The hub groups
    (manage_groups) are set at each login from the site file and the projects claim."""

    site = Any(help="The validated site (aiworkbench.core.site.Site).").tag(config=True)
    discovery = Dict(
        help="The provider's discovery document (ISSUER/.well-known/openid-configuration): "
        "the authorization, token and userinfo endpoints. Empty: read from the site's "
        "auth.issuer when the hub starts (check_allow_config); the hub does not start if "
        "the provider does not answer, names another issuer or lacks an endpoint.",
    ).tag(config=True)

    def check_allow_config(self):
        """JupyterHub's check of the authenticator's configuration, once as the hub
        starts: the provider's endpoints are read here (OIDCSetupError stops the hub)."""
        super().check_allow_config()
        self.read_discovery()

    def read_discovery(self) -> dict:
        """The discovery document: as configured, else read from the issuer (once)."""
        if not self.discovery:
            self.discovery = oidc.discover(self.site.auth.issuer)
        return self.discovery

    @default("authorize_url")
    def _authorize_url_default(self):
        return self.read_discovery()["authorization_endpoint"]

    @default("token_url")
    def _token_url_default(self):
        return self.read_discovery()["token_endpoint"]

    @default("userdata_url")
    def _userdata_url_default(self):
        return self.read_discovery()["userinfo_endpoint"]

    def user_info_to_username(self, user_info):
        try:
            return oidc.unix_user(user_info, self.site)
        except oidc.LoginRefused as refused:
            self.log.warning("OIDC login refused: %s", refused)
            raise web.HTTPError(403, "%s", str(refused)) from None

    async def update_auth_model(self, auth_model):
        name = auth_model["name"]
        claims = auth_model["auth_state"][self.user_auth_state_key]
        try:
            projects = oidc.login_projects(name, claims, self.site)
        except oidc.LoginRefused as refused:
            self.log.warning("OIDC login refused: %s", refused)
            raise web.HTTPError(403, "%s", str(refused)) from None
        auth_model["admin"] = self.site.users[name].role == "admin"
        auth_model["auth_state"]["workbench_projects"] = projects
        auth_model["auth_state"]["workbench_groups"] = oidc.hub_groups_of(name, projects, self.site)
        return auth_model

    async def get_user_groups(self, auth_state):
        return set(auth_state["workbench_groups"])
