"""Fixtures of the component tier: the hub's real code, no daemons (no hub, no Slurm)."""

import time

import pytest

from aiworkbench.budgets import accounting
from aiworkbench.core.site import load_site

from . import api_doubles


# --- the workbench API (test_api_routes.py) ------------------------------------------
@pytest.fixture
def small_site(tmp_path):
    """:data:`api_doubles.SITE`, its folders (data, catalog, courses) under tmp_path."""
    return load_site(api_doubles.write_site(tmp_path / "factory"))


@pytest.fixture
def accounting_slurm():
    """Scripted ``sshare``/``squeue`` for a budget reader (:class:`AccountingSlurm`)."""
    return api_doubles.AccountingSlurm()


@pytest.fixture
def reader_clock():
    """The budget reader's clock: ``time.time``, moved by ``reader_clock.offset``."""
    return api_doubles.Clock(time.time)


@pytest.fixture
def budget_reader(small_site, accounting_slurm, reader_clock):
    """A real AccountingReader over the scripted Slurm, as the API service builds it."""
    return accounting.AccountingReader(
        interval=small_site.hub.accounting_refresh, run=accounting_slurm, clock=reader_clock
    )


@pytest.fixture
def catalog_index(small_site):
    """The catalog's datasets (api_doubles.DATASETS) and their index; the catalog root."""
    return api_doubles.write_catalog(small_site)


@pytest.fixture
def workbench_api(small_site, budget_reader, monkeypatch):
    """The real workbench API (``make_app``) served on loopback with the environment
    ``aiworkbench-service workbench`` gives it; only the hub's answer to "whose token is
    this?" is a double (``api.hub``: :class:`HubTokens`). Yields an
    :class:`APIClient`."""
    from jupyterhub.services.auth import HubOAuth

    from aiworkbench.api import app as api_app
    from aiworkbench.courses import api as courses
    from aiworkbench.hub import services

    env = services.service_environment(
        small_site, services.API_SERVICE, "the-api-token", "/etc/aiworkbench/site.toml"
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    HubOAuth.clear_instance()
    app = api_app.make_app(small_site, budget_reader, api_doubles.PREFIX)
    hub_auth = HubOAuth.instance()
    hub = api_doubles.HubTokens(small_site, hub_auth.api_url)
    monkeypatch.setattr(hub_auth, "_api_request", hub.api_request)
    served = api_doubles.ServedAPI(app, max_body_size=courses.upload_limit(small_site))
    try:
        yield api_doubles.APIClient(served, hub, app)
    finally:
        served.close()
        HubOAuth.clear_instance()
