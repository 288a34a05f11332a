"""JupyterHub configuration of the AI Factory Workbench.

Thin on purpose: load the site file, validate it, apply it. Everything it
sets is in aiworkbench.hub.config.apply_site, which is tested. Admins who
need more than the site file offers can add Python files to
/etc/aiworkbench/jupyterhub_config.d/ (read last, in name order).
"""

from pathlib import Path

from aiworkbench.core.site import default_site_file, load_site
from aiworkbench.hub.config import apply_site

c = get_config()  # noqa: F821 (provided by JupyterHub)

site = load_site(default_site_file())
apply_site(c, site)

for extra in sorted(Path("/etc/aiworkbench/jupyterhub_config.d").glob("*.py")):
    exec(compile(extra.read_text(), str(extra), "exec"))  # noqa: S102 (admin-owned files)
