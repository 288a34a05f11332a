"""Budget routes of the workbench API: every answer comes from the cached reader; who
sees what is :mod:`aiworkbench.budgets.access`'s."""

from __future__ import annotations

from aiworkbench.api.base import APIError, APIHandler
from aiworkbench.budgets.access import payload, visible
from aiworkbench.core import names, slurm

BOOLEAN = {"true": True, "1": True, "false": False, "0": False}


class BudgetsHandler(APIHandler):
    async def get(self, project: str | None = None):
        me = self.hub_user["name"]
        if project is not None:
            self.query({})
            chosen = visible(
                self.site, me, self.can_read_all(), project=self.name_param(project, names.PROJECT)
            )
        else:
            params = self.query(
                {
                    "all": "true or false: every project (managers and admins)",
                    "user": "a user name: that user's projects (managers and admins; anyone "
                    "for themselves)",
                }
            )
            every = params.get("all", "false").lower()
            if every not in BOOLEAN:
                raise APIError(400, f"all={params['all'][:40]!r} is not allowed; use true or false")
            user = self.name_param(params["user"], names.USER) if "user" in params else None
            chosen = visible(self.site, me, self.can_read_all(), every=BOOLEAN[every], user=user)
        snapshot = await self.snapshot()
        self.write_json(payload(snapshot, self.reader.interval, me, chosen))

    async def snapshot(self):
        try:
            return await self.reader.snapshot()
        except slurm.SlurmError as err:
            raise APIError(503, f"Slurm accounting cannot be read: {err}") from None


class StatusHandler(APIHandler):
    async def get(self):
        self.query({})
        snapshot = self.reader.cached()
        self.write_json(
            {
                "refresh_interval_s": self.reader.interval,
                "refreshes": self.reader.refreshes,
                "age_s": None if snapshot is None else round(snapshot.age(), 1),
                "error": "" if snapshot is None else snapshot.error,
            }
        )


ROUTES = [
    (r"budgets/?", BudgetsHandler),
    (r"budgets/([^/]+)/?", BudgetsHandler),
    (r"status/?", StatusHandler),
]
