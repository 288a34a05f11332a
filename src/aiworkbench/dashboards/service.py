"""The dashboards service: Voila behind the hub's OAuth, with the ingestion beside it.

It is the hub's external service ``dashboards``: the process supervisor runs it as
its own program, as the dashboards' own system user (``dashboards.user``), through::

    /opt/aiworkbench/hub/bin/aiworkbench-service dashboards

which checks the user, reads the service's API token, sets the environment JupyterHub
gives a service (``JUPYTERHUB_*``) and this service's settings, and execs
``aiworkbench-dashboards`` of the kernels' environment (Voila runs notebooks)
(:mod:`aiworkbench.hub.services`).

It runs ``jupyterhub-singleuser`` (a Jupyter server whose every request is checked
with the hub: only holders of ``access:services!service=dashboards``, the managers,
get in; anyone else logged in gets 403) with only the Voila extension: no JupyterLab,
no terminals. Voila renders the notebooks in
``AIWORKBENCH_DASHBOARDS_DIR`` (the shipped ``example_notebooks/dashboards``) with
their code hidden. A thread ingests Slurm accounting and the rest into the store
every ``AIWORKBENCH_DASHBOARDS_INGEST_SECONDS`` (:mod:`.ingest`).
"""

from __future__ import annotations

import logging
import os
import pwd
import sys
import threading

from aiworkbench.dashboards.ingest import Ingestor, loop, reader_run
from aiworkbench.dashboards.views import STORE_ENV, store_path

DIR_ENV = "AIWORKBENCH_DASHBOARDS_DIR"
INGEST_ENV = "AIWORKBENCH_DASHBOARDS_INGEST_SECONDS"
HISTORY_ENV = "AIWORKBENCH_DASHBOARDS_HISTORY_DAYS"
READER_ENV = "AIWORKBENCH_SLURM_READER"
FIRST = "usage"  # the dashboard a manager lands on
# Server extensions the environment enables for sessions that the service must not run.
OFF = (
    "jupyterlab",
    "jupyter_lsp",
    "jupyter_server_terminals",
    "notebook_shim",
    "aiworkbench.jobserver.extension",
)


def server_argv(notebooks: str) -> list[str]:
    """jupyterhub-singleuser's arguments: Voila only, code hidden, read-only files."""
    return [
        f"--ServerApp.root_dir={notebooks}",
        f"--ServerApp.default_url=/voila/render/{FIRST}.ipynb",
        "--ServerApp.terminals_enabled=False",
        "--ServerApp.jpserver_extensions=" + repr({"voila": True, **dict.fromkeys(OFF, False)}),
        "--ContentsManager.allow_hidden=False",
        # A dashboard's kernel lives while its page is open; one left without a page
        # (a closed tab, a fetch without a browser) is shut down after 10 minutes.
        "--MappingKernelManager.cull_idle_timeout=600",
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_connected=False",
        "--VoilaConfiguration.show_tracebacks=False",
        "--VoilaConfiguration.file_allowlist=[]",
    ]


def main(argv: list[str] | None = None) -> None:
    if argv or (argv is None and sys.argv[1:]):
        sys.exit(
            "aiworkbench-dashboards takes no arguments: `aiworkbench-service "
            "dashboards` runs it with its settings in the environment "
            f"({STORE_ENV}, {DIR_ENV}, {INGEST_ENV})"
        )
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    notebooks = os.environ.get(DIR_ENV, "")
    if not os.path.isdir(notebooks):
        sys.exit(
            f"aiworkbench-dashboards: {DIR_ENV}={notebooks!r} is not a folder of "
            f"dashboard notebooks"
        )
    try:
        every = float(os.environ.get(INGEST_ENV, "60"))
        days = int(os.environ.get(HISTORY_ENV, "365"))
    except ValueError as err:
        sys.exit(f"aiworkbench-dashboards: {err}")
    # The service's files (kernels' runtime) go in its own user's home.
    home = pwd.getpwuid(os.getuid()).pw_dir
    os.environ.update(
        HOME=home,
        JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"),
        JUPYTERHUB_SINGLEUSER_EXTENSION="1",
    )
    ingestor = Ingestor(
        store_path(), history_days=days, run=reader_run(os.environ.get(READER_ENV, ""))
    )
    # The first round waits until the hub has routed its services (the workbench API).
    threading.Thread(
        target=loop,
        args=(ingestor, every),
        kwargs={"first_after": 10},
        name="ingestion",
        daemon=True,
    ).start()
    from jupyterhub.singleuser import main as singleuser

    singleuser(server_argv(notebooks))


if __name__ == "__main__":
    main()
