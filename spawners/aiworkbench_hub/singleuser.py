"""``aiworkbench-singleuser``: start the single-user server in a session's job.

Picks a free port, starts ``jupyterhub-singleuser`` on it in this process, and
reports the port to the hub once the server really listens, so that the hub
never waits on a server that is not up yet. Replaces
``batchspawner-singleuser``, which reports before the server listens.

The start is lean: :func:`defer_rfc3987_syntax` keeps a grammar that nothing
needs at start-up from being compiled on the way.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import socket
import sys
import threading
import time
import types
from runpy import run_path
from shutil import which
from urllib.parse import urlparse, urlunparse

import requests

REPORT_PATH = "aiworkbench/session-port"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 600.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def report_port(port: int) -> None:
    if not wait_listening(port):
        print(f"aiworkbench-singleuser: nothing listens on port {port}; not reporting",
              file=sys.stderr)
        return
    url = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/" + REPORT_PATH
    headers = {"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"}
    for attempt in range(5):
        try:
            response = requests.post(url, json={"port": port}, headers=headers, timeout=30)
            if response.status_code == 201:
                return
            print(f"aiworkbench-singleuser: the hub refused the port: {response.status_code} "
                  f"{response.text}", file=sys.stderr)
            return
        except requests.RequestException as err:
            print(f"aiworkbench-singleuser: reporting the port failed ({err}); retrying",
                  file=sys.stderr)
            time.sleep(1 + attempt)


def defer_rfc3987_syntax() -> None:
    """Load ``rfc3987_syntax`` on first use instead of at start-up.

    jupyter_server → jupyter_events → jsonschema imports it for the "iri" format
    checks, and it builds an Earley parser of RFC 3987 when imported: 0.85 s of a
    2.4 s server start on the demo machine, for checks a session seldom runs. A
    stand-in module takes its place; its first use imports the real one.
    """
    name = "rfc3987_syntax"
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    stand_in = types.ModuleType(name, "Stand-in: loads rfc3987_syntax on first use.")
    real = None

    def load():
        nonlocal real
        if real is None:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            real = importlib.import_module(name)
        return real

    def is_valid_syntax(term, value):
        return load().is_valid_syntax(term, value)

    def other_attribute(attr):
        if attr.startswith("__"):  # the import system probes __path__ and the like
            raise AttributeError(attr)
        return getattr(load(), attr)

    stand_in.is_valid_syntax = is_valid_syntax
    stand_in.__getattr__ = other_attribute
    sys.modules[name] = stand_in


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit("usage: aiworkbench-singleuser jupyterhub-singleuser [ARGS...]")
    defer_rfc3987_syntax()
    port = free_port()
    service_url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    os.environ["JUPYTERHUB_SERVICE_URL"] = urlunparse(
        service_url._replace(netloc=f"{service_url.hostname}:{port}"))
    threading.Thread(target=report_port, args=(port,), daemon=True).start()
    command = which(argv[0]) or argv[0]
    sys.argv = [command, *argv[1:]]
    run_path(command, run_name="__main__")


if __name__ == "__main__":
    main()
