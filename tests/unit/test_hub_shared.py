"""The hub's shared objects (aiworkbench.hub.shared): made once where the hub starts,
handed to JupyterHub in its tornado settings, and nothing run when they are made."""

import copy
import subprocess
import urllib.request
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from aiworkbench.core import commands
from aiworkbench.hub.config import apply_site
from aiworkbench.hub.shared import SETTINGS_KEY, HubShared, hub_shared
from aiworkbench.sessions.request import FormChoices

from .test_services import TOKENS
from .test_spawner import SITE, hub_objects


def test_apply_site_makes_the_hubs_objects_from_the_site_and_runs_nothing(monkeypatch):
    """Loading the hub's configuration runs no command (no sinfo for the GPU kind) and
    contacts no server (no OpenID discovery): the hub's objects only wait for use."""
    ran = []
    monkeypatch.setattr(commands, "run", lambda argv, **kw: ran.append(argv))
    monkeypatch.setattr(commands, "run_async", lambda argv, **kw: ran.append(argv))
    monkeypatch.setattr(subprocess, "Popen", lambda argv, **kw: ran.append(argv))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, **kw: ran.append(url))
    c = Config()
    apply_site(c, SITE, tokens=TOKENS)
    shared = c.JupyterHub.tornado_settings[SETTINGS_KEY]
    assert isinstance(shared, HubShared) and ran == []
    assert "gpu_kind" not in c.WorkbenchSpawner  # read from Slurm at first use
    hub = SITE.hub
    assert (shared.poller.interval, shared.poller.steady_interval) == (
        hub.slurm_poll_interval,
        hub.slurm_steady_poll_interval,
    )
    assert shared.budgets.interval == shared.capacity.interval == hub.accounting_refresh
    assert (shared.poller.queries, shared.budgets.refreshes, shared.capacity.reads) == (0, 0, 0)


class Budgets:
    """The home page's side of a budget reader: what it has cached."""

    def __init__(self):
        self.asked = 0

    def cached(self):
        self.asked += 1


def test_the_objects_handed_in_are_the_ones_every_copy_of_the_configuration_holds():
    c = Config()
    c.JupyterHub.tornado_settings = {"other": 1}
    mine = hub_objects(budgets=Budgets())
    apply_site(c, SITE, gpu_kind="simulated", tokens=TOKENS, shared=mine)
    # JupyterHub's configuration loading deep-copies every value (traitlets).
    loaded = copy.deepcopy(c)
    assert hub_shared(loaded.JupyterHub.tornado_settings) is mine
    assert loaded.JupyterHub.tornado_settings["other"] == 1  # others' settings are kept
    # The home page's budget warnings read the same reader.
    warnings = loaded.JupyterHub.template_vars["budget_warnings"]
    assert warnings(SimpleNamespace(name="student")) == [] and mine.budgets.asked == 1


def test_a_hub_without_its_objects_says_where_they_come_from():
    with pytest.raises(RuntimeError, match="must come from aiworkbench.hub.config.apply_site"):
        hub_shared({})


def test_the_forms_last_choices_keep_the_forms_fields_of_the_latest_users_only():
    choices = FormChoices(limit=2)
    choices.remember("ada", {"profile": "gpu-1", "hours": "3", "extra": "x" * 10_000})
    assert choices.last("ada") == {"profile": "gpu-1", "hours": "3"}
    choices.remember("bob", {"hours": "1"})
    choices.remember("ada", {"hours": "2"})  # ada is the latest again
    choices.remember("cy", {"hours": "4"})
    assert len(choices) == 2
    assert choices.last("bob") == {}  # the earliest went
    assert choices.last("ada") == {"hours": "2"} and choices.last("cy") == {"hours": "4"}
    choices.last("ada")["hours"] = "9"  # a copy: the store is unchanged
    assert choices.last("ada") == {"hours": "2"}
