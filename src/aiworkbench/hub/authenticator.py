"""The hub's OpenID Connect authenticator: oauthenticator's GenericOAuthenticator (code
flow, state and PKCE as it does them) with the factory's mapping of claims to a Unix
user and projects (aiworkbench.core.oidc). aiworkbench.hub.config.apply_site configures it."""

from __future__ import annotations

from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from traitlets import Any

from aiworkbench.core import oidc


class WorkbenchOIDCAuthenticator(GenericOAuthenticator):
    """Logs in factory users through the site's OpenID provider. A person whose
    username claim is not a factory user, or (with auth.projects_claim) whose projects
    claim names none of their projects, gets a 403 page saying so. The hub groups
    (manage_groups) are set at each login from the site file and the projects claim."""

    site = Any(help="The validated site (aiworkbench.core.site.Site).").tag(config=True)

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
