"""``aiworkbench-singleuser``: start the single-user server in a session's job.

Picks a free port, starts ``jupyterhub-singleuser`` on it in this process, and
reports the port to the hub once the server really listens, so that the hub
never waits on a server that is not up yet. Replaces
``batchspawner-singleuser``, which reports before the server listens.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
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


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit("usage: aiworkbench-singleuser jupyterhub-singleuser [ARGS...]")
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
