"""Which network interface reaches another node: Dask's scheduler and workers, and
torch's process groups, must listen on the interface other nodes can reach, which is
not always the one the host name resolves to (several networks, or a host name
bound to 127.0.0.1)."""

from __future__ import annotations

import os
import socket
import sys


def interface_towards(host: str) -> str | None:
    """The interface this node uses to reach ``host`` (for this node's own address:
    the interface holding it), or None when it cannot be told."""
    import psutil

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))  # no packet is sent: only the route is looked up
            address = probe.getsockname()[0]
    except OSError:
        return None
    for name, addresses in psutil.net_if_addrs().items():
        if any(a.address == address for a in addresses):
            return name
    return None


def exec_towards(head: str, argv: list[str]) -> None:
    """Run ``argv`` with torch's Gloo and NCCL set to the interface that reaches
    ``head`` (unless the user chose one): every node of a multi-node job then
    advertises an address the others can reach."""
    interface = interface_towards(head)
    env = dict(os.environ)
    if interface:
        env.setdefault("GLOO_SOCKET_IFNAME", interface)
        env.setdefault("NCCL_SOCKET_IFNAME", interface)
    os.execvpe(argv[0], argv, env)


def main(argv: list[str] | None = None) -> int:
    """``python -m aiworkbench.netif HEAD PROGRAM [ARG...]`` (used by batch jobs)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: python -m aiworkbench.netif HEAD PROGRAM [ARG...]", file=sys.stderr)
        return 2
    exec_towards(argv[0], argv[1:])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
