"""The workbench API: an external JupyterHub service (``aiworkbench-api``, run by the supervisor).

Notebook widgets, the budget CLI and (later) dashboards get the factory's
shared data from it, authenticated by the hub (tokens or OAuth cookies) with
RBAC scopes. Routes live under the service prefix, ``/services/workbench/``:

``GET api/budgets``            the caller's projects (``?all=true``: every project,
                               for holders of the ``custom:workbench:budgets:read-all``
                               scope, i.e. managers and admins)
``GET api/budgets/PROJECT``    one project (403 unless a member or a reader of all)
``GET api/status``             the accounting reader's state (refreshes, age)
"""
