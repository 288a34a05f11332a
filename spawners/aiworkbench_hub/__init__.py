"""The hub side of the AI Factory Workbench: site schema, Slurm access, spawner.

Imported by the hub (``hub_config/jupyterhub_config.py``) and by provisioning.
Never imports the notebook-side package ``aiworkbench``.
"""
