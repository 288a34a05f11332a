"""The portal in the hub's configuration: its templates first, the factory's name and
logo, and what every page is given (``portal``) to say who runs the factory and where
to get help."""

from __future__ import annotations

from aiworkbench.core import names
from aiworkbench.core.site import Site
from aiworkbench.portal import LOGO, PRODUCT, TEMPLATES
from aiworkbench.sessions.cards import session_cards


def portal_vars(site: Site) -> dict:
    """What every page knows of the portal: the factory's name, the product's, and the
    helpdesk's address ('' when the site names none)."""
    return {"name": site.factory.name, "product": PRODUCT, "helpdesk": site.factory.helpdesk}


def apply_portal(c, site: Site) -> None:
    """The portal's templates over JupyterHub's, its logo, and its template values (the
    home page's session cards are computed for the user who reads it)."""
    c.JupyterHub.template_paths = [str(TEMPLATES)]
    c.JupyterHub.logo_file = site.factory.logo or str(LOGO)
    c.JupyterHub.template_vars = {
        **(c.JupyterHub.get("template_vars") or {}),
        "portal": portal_vars(site),
        # The home page's field for another session's name: JupyterHub's rule for it.
        "session_name": {
            "pattern": names.SESSION.pattern.pattern,
            "limit": names.SESSION.limit,
            "allowed": names.SESSION.allowed,
        },
        # Called by the home page only (every page gets it).
        "session_cards": lambda user: lambda: session_cards(user),
    }
