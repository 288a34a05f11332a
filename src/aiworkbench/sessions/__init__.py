"""Notebook sessions as Slurm jobs.

In the hub: the spawner (:mod:`.spawner`, its form and the home page in
``templates/``), session requests from the form (:mod:`.request`), the shared
Slurm poller (:mod:`.poller`), reasons in plain words (:mod:`.reasons`), the
job's port report (:mod:`.port_callback`) and idle-GPU reports (:mod:`.gpu_idle`).
In the API: what a project may run where (:mod:`.api`). In the session's job: GPU
sampling (:mod:`.gpu_metrics`); in notebooks, ``aiworkbench.session_info()``
(:mod:`.info`).
"""

from pathlib import Path

# The hub's pages of this feature: the session form and the home page (Jinja2).
TEMPLATES = Path(__file__).parent / "templates"
