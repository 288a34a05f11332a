"""What every spawner and page of one hub shares, made once where the hub starts.

The hub's configuration (:func:`aiworkbench.hub.config.apply_site`, which
``jupyterhub_config.py`` calls when the hub process starts) makes one
:class:`HubShared` from the site and hands it to JupyterHub in its tornado
settings, under :data:`SETTINGS_KEY`. JupyterHub gives those settings to every
spawner (``spawner.user.settings``) and handler (``handler.settings``): the way it
hands its own shared objects around, and the way the workbench API hands its budget
reader to its routes (:mod:`aiworkbench.api.app`). Tests make their own and hand
them in the same way.

Making one runs nothing: the poller queries Slurm once a session is watched, the
readers at their first read.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiworkbench.budgets.accounting import AccountingReader
from aiworkbench.core import slurm
from aiworkbench.core.site import Site
from aiworkbench.sessions.capacity import CapacityReader
from aiworkbench.sessions.poller import SlurmPoller
from aiworkbench.sessions.request import FormChoices

SETTINGS_KEY = "aiworkbench"  # the key of a HubShared in the hub's tornado settings


@dataclass(eq=False)
class HubShared:
    """The hub's shared objects: one of each per hub process."""

    poller: SlurmPoller  # every session's job state: one squeue per tick for all
    budgets: AccountingReader  # budgets: one sshare and one squeue per refresh for all
    capacity: CapacityReader  # the form's free capacity and expected starts, the GPU kind
    form_choices: FormChoices  # each user's last form choices

    @classmethod
    def from_site(cls, site: Site) -> HubShared:
        """The hub's objects as the site sets them: the poller's two ticks
        (hub.slurm_poll_interval, hub.slurm_steady_poll_interval), the readers'
        interval (hub.accounting_refresh), Slurm read as slurm.reader."""
        hub = site.hub
        as_reader = slurm.reader_run(site.slurm.reader)
        return cls(
            poller=SlurmPoller(
                float(hub.slurm_poll_interval), as_reader, float(hub.slurm_steady_poll_interval)
            ),
            budgets=AccountingReader(float(hub.accounting_refresh), run=as_reader),
            capacity=CapacityReader(float(hub.accounting_refresh)),
            form_choices=FormChoices(),
        )

    # traitlets deep-copies every configuration value it loads (tornado_settings and
    # template_vars each once): each copy must be this one, or the hub would hold two.
    def __deepcopy__(self, memo) -> HubShared:
        return self

    def __copy__(self) -> HubShared:
        return self


def hub_shared(settings: dict) -> HubShared:
    """The hub's shared objects in its tornado ``settings`` (a spawner's
    ``user.settings``, a handler's ``settings``)."""
    try:
        return settings[SETTINGS_KEY]
    except KeyError as err:
        raise RuntimeError(
            f"the hub's tornado settings have no {SETTINGS_KEY!r}: its configuration "
            "must come from aiworkbench.hub.config.apply_site"
        ) from err
