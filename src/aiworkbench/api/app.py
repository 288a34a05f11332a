"""The workbench API service: a tornado app behind the hub's authentication (budgets:
:mod:`.budgets`; the dataset catalog: :mod:`.catalog`; courses: :mod:`.courses`;
exercise progress: :mod:`.progress`)."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from tornado import ioloop, web
from tornado.httpserver import HTTPServer

from aiworkbench.api.base import NotFoundHandler
from aiworkbench.budgets import api as budgets
from aiworkbench.budgets.accounting import AccountingReader
from aiworkbench.catalog import api as catalog
from aiworkbench.core import slurm
from aiworkbench.core.site import SiteError, default_site_file, load_site
from aiworkbench.courses import api as courses
from aiworkbench.courses import progress_api as progress
from aiworkbench.courses.progress import ProgressStore
from aiworkbench.sessions import api as partitions

log = logging.getLogger("aiworkbench.api")
TOKEN_CACHE_S = 60
PROGRESS_FILE = "workbench-progress.sqlite"  # in hub.data_dir, the hub user's only


def make_app(site, reader: AccountingReader, prefix: str) -> web.Application:
    api = url_path_join(prefix, "api")
    routes = [
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        *[
            (url_path_join(api, path), handler)
            for path, handler in [
                *budgets.ROUTES,
                *catalog.ROUTES,
                *courses.ROUTES,
                *partitions.ROUTES,
                *progress.ROUTES,
            ]
        ],
        (url_path_join(api, ".*"), NotFoundHandler),
    ]
    # Every handler uses the one HubOAuth instance (HubAuthenticated ignores a hub_auth
    # setting). A token's identity and scopes are re-checked with the hub after a minute,
    # so that a revoked token or role stops working within a minute.
    HubOAuth.instance(cache_max_age=TOKEN_CACHE_S)
    return web.Application(
        routes,
        site=site,
        reader=reader,
        catalog=catalog.CatalogStore(site.catalog.index),
        # opened at the first progress request, not before
        progress=functools.cache(lambda: ProgressStore(f"{site.hub.data_dir}/{PROGRESS_FILE}")),
        cookie_secret=os.urandom(32),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="aiworkbench-api",
        description="The workbench API, the hub's external service 'workbench' "
        "(run by `aiworkbench-service workbench`, which sets its environment).",
    )
    parser.add_argument(
        "--site", default=default_site_file(), help="the site file (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    try:
        site = load_site(args.site)
    except (SiteError, OSError) as err:
        sys.exit(f"aiworkbench-api: {err}")
    url = os.environ.get("JUPYTERHUB_SERVICE_URL")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/workbench/")
    if not url:
        sys.exit(
            "aiworkbench-api: JUPYTERHUB_SERVICE_URL is not set; `aiworkbench-service "
            "workbench` sets it (run that instead)"
        )
    reader = AccountingReader(
        interval=site.hub.accounting_refresh, run=slurm.reader_run(site.slurm.reader)
    )
    app = make_app(site, reader, prefix)
    host, _, port = url.split("//", 1)[1].rstrip("/").rpartition(":")
    # Tornado reads a whole body before a handler sees it: no larger than a course.
    HTTPServer(app, xheaders=True, max_body_size=courses.upload_limit(site)).listen(
        int(port), host.strip("[]")
    )
    log.info(
        "workbench API at %s%s (accounting read every %s s)",
        url,
        prefix,
        site.hub.accounting_refresh,
    )
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
