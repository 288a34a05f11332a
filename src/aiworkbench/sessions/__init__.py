"""Notebook sessions as Slurm jobs.

In the hub: the spawner (:mod:`.spawner`, its form in ``templates/``), session
requests from the form (:mod:`.request`), the shared Slurm poller (:mod:`.poller`),
reasons in plain words (:mod:`.reasons`), the home page's session cards
(:mod:`.cards`; the page itself is the portal's), the job's port report
(:mod:`.port_callback`) and idle-GPU reports (:mod:`.gpu_idle`).
In the API: what a project may run where (:mod:`.api`). In the session's job: GPU
sampling (:mod:`.gpu_metrics`); in notebooks, ``aiworkbench.session_info()``
(:mod:`.info`).
"""

from pathlib import Path

# The session form (Jinja2), rendered by the spawner.
TEMPLATES = Path(__file__).parent / "templates"
