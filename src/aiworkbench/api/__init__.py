"""The workbench API: an external JupyterHub service (``aiworkbench-api``, run by the
supervisor), authenticated by the hub (tokens or OAuth cookies) with RBAC scopes.

This folder is the process: the application and its routes' table (:mod:`.app`) and
what every route shares (:mod:`.base`). The routes live with their feature:
``budgets.api``, ``sessions.api``, ``catalog.api``, ``courses.api`` and
``courses.progress_api``; the guide is docs/api.md.
"""
