"""The stock recipe the workbench is compared with: batchspawner's SlurmSpawner.

Run by benchmarks/spawn_benchmark.py as a second hub beside the workbench's,
on other ports, as the same unprivileged user with the same sudoers rule. Only
what the stock spawner needs to work here is set: sudo without -E (the
sudoers rule passes the job's environment through env_keep), full paths, and
the same resources as the workbench's cpu-small profile.
"""

import os

import batchspawner  # noqa: F401 (registers batchspawner's own port handler)

c = get_config()  # noqa: F821

state = os.environ["STOCK_HUB_STATE"]
env = os.environ.get("AIWORKBENCH_ENV", "/opt/aiworkbench/env")
c.JupyterHub.bind_url = "http://127.0.0.1:8100"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8181"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8101"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/cookie_secret"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.allow_named_servers = True
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = set(os.environ["STOCK_HUB_USERS"].split(","))

c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120
c.Spawner.cmd = [f"{env}/bin/jupyterhub-singleuser"]
c.SlurmSpawner.batchspawner_singleuser_cmd = f"{env}/bin/batchspawner-singleuser"
c.SlurmSpawner.exec_prefix = "sudo -u {username}"
c.SlurmSpawner.req_partition = "cpu"
c.SlurmSpawner.req_nprocs = "1"
c.SlurmSpawner.req_memory = "2G"
c.SlurmSpawner.req_runtime = "1:00:00"
c.SlurmSpawner.req_prologue = f"export PATH={env}/bin:$PATH"
