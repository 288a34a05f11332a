"""What a project may run where: the partitions a project may use, with the limits of
one job there (the stricter of the partition's and the project's). Notebook helpers
that submit work (Dask workers, batch jobs) check requests against this before
Slurm sees them, so a refusal says what is allowed."""

from __future__ import annotations

from aiworkbench.api.base import APIHandler
from aiworkbench.budgets.access import visible
from aiworkbench.core import names


def policy(site, project: str) -> dict:
    return {
        "project": project,
        "partitions": {
            name: {
                "description": site.partitions[name].description,
                "gpus": site.partitions[name].gpus,
                "max_cpus": site.partitions[name].max_cpus,
                "min_gpus": limits.min_gpus,
                "max_gpus": limits.max_gpus,
                "max_hours": limits.max_hours,
            }
            for name, limits in site.usable_partitions(project).items()
        },
    }


class PartitionsHandler(APIHandler):
    async def get(self, project: str):
        self.query({})
        [(name, _whose)] = visible(
            self.site,
            self.hub_user["name"],
            self.can_read_all(),
            project=self.name_param(project, names.PROJECT),
        )
        self.write_json(policy(self.site, name))


ROUTES = [(r"projects/([^/]+)/partitions/?", PartitionsHandler)]
