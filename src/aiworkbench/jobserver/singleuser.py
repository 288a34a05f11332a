"""``aiworkbench-singleuser``: start the single-user server in a session's job.

Picks a free port, starts ``jupyterhub-singleuser`` on it in this process, and
reports the port to the hub once the server really listens, so that the hub
never waits on a server that is not up yet. Replaces
``batchspawner-singleuser``, which reports before the server listens.

The start is lean: :func:`defer_rfc3987_syntax` keeps a grammar that nothing
needs at start-up from being compiled on the way. And it is fair under a rush:
:func:`take_start_slot` lets only as many servers start at once on a node as
the node has slots (one per core), so that when a class starts together the
first sessions are ready early instead of all of them late.
"""

from __future__ import annotations

import fcntl
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
# Node-local slot files (root-owned, read-only, one per core), made by the
# kernel_env role; without the directory, servers start without waiting.
START_GATE = "/var/lib/aiworkbench-start-gate"
START_GATE_WAIT = 20.0  # seconds; then start anyway (a held slot delays, never blocks)


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


def take_start_slot(gate: str = START_GATE, wait: float = START_GATE_WAIT) -> int | None:
    """Hold one of the node's start slots (an flock on a slot file); the open file, or None
    when there is no gate or no slot came free within ``wait`` seconds.

    A server's start is CPU-bound (about 1 CPU-second here): twenty starting at once
    on two cores are all ready after twenty seconds; one slot per core readies them
    one after another, the first within two.
    """
    try:
        slots = sorted(name for name in os.listdir(gate) if name.startswith("slot-"))
    except OSError:
        return None
    deadline = time.monotonic() + wait
    while True:
        for name in slots:
            try:
                fd = os.open(os.path.join(gate, name), os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError:
                os.close(fd)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def started(port: int, slot: int | None) -> bool:
    """Wait until the server listens on ``port``, then free its start slot (the next
    server on this node may start); whether it listens."""
    listening = wait_listening(port)
    if slot is not None:
        os.close(slot)
    return listening


def report_port(port: int, slot: int | None = None) -> None:
    if not started(port, slot):
        print(
            f"aiworkbench-singleuser: nothing listens on port {port}; not reporting",
            file=sys.stderr,
        )
        return
    url = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/" + REPORT_PATH
    headers = {"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"}
    for attempt in range(5):
        try:
            response = requests.post(url, json={"port": port}, headers=headers, timeout=30)
            if response.status_code == 201:
                return
            print(
                f"aiworkbench-singleuser: the hub refused the port: {response.status_code} "
                f"{response.text}",
                file=sys.stderr,
            )
            return
        except requests.RequestException as err:
            print(
                f"aiworkbench-singleuser: reporting the port failed ({err}); retrying",
                file=sys.stderr,
            )
            time.sleep(1 + attempt)


def start_gpu_reports() -> None:
    """Report this GPU session's utilisation to the hub in a thread (idle-GPU policy)."""
    if not os.environ.get("AIWORKBENCH_GPU_METRICS"):
        return
    from aiworkbench.sessions.gpu_metrics import (  # GPU sessions only
        report_gpu_activity,
        source_from_env,
    )

    source = source_from_env()
    interval = float(os.environ.get("AIWORKBENCH_GPU_REPORT_SECONDS", "60"))
    if source.name != "none":
        threading.Thread(
            target=report_gpu_activity, args=(source, max(interval, 1.0)), daemon=True
        ).start()


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
    slot = take_start_slot()
    defer_rfc3987_syntax()
    port = free_port()
    service_url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    os.environ["JUPYTERHUB_SERVICE_URL"] = urlunparse(
        service_url._replace(netloc=f"{service_url.hostname}:{port}")
    )
    threading.Thread(target=report_port, args=(port, slot), daemon=True).start()
    start_gpu_reports()
    command = which(argv[0]) or argv[0]
    sys.argv = [command, *argv[1:]]
    run_path(command, run_name="__main__")


if __name__ == "__main__":
    main()
