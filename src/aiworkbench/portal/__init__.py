"""The portal: the hub's pages as people see them.

Templates over JupyterHub's (``templates/``: every page's frame with the factory's
name and logo, the login, home, spawn-progress and error pages), the workbench's
own logo (``static/``), and :mod:`.pages`, which puts them into the hub's
configuration. The home page's session cards come from :mod:`aiworkbench.sessions.cards`.
"""

from pathlib import Path

PRODUCT = "AI Factory Workbench"  # the software's name, beside the factory's own
TEMPLATES = Path(__file__).parent / "templates"
LOGO = Path(__file__).parent / "static" / "logo.svg"
