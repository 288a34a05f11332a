"""Which network interface reaches another node: Dask's scheduler and workers, and
torch's process groups, must listen on the interface other nodes can reach, which is
not always the one the host name resolves to (several networks, or a host name
bound to 127.0.0.1)."""

from __future__ import annotations

import os
import socket
import sys

DEFAULT_ROUTE_PROBE = "192.0.2.1"  # TEST-NET-1: only its route is looked up


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


def interface_for_peers(head: str) -> str | None:
    """The interface the other nodes of a job reach this one on: the one towards the
    head node; on the head node, whose name may resolve to a loopback address
    (Debian's 127.0.1.1), the one of the default route instead; None when neither
    can be told."""
    interface = interface_towards(head)
    if interface is not None and not _is_loopback(interface):
        return interface
    interface = interface_towards(DEFAULT_ROUTE_PROBE)
    return interface if interface is not None and not _is_loopback(interface) else None


def _is_loopback(interface: str) -> bool:
    import psutil

    return any(
        a.family == socket.AF_INET and a.address.startswith("127.")
        for a in psutil.net_if_addrs().get(interface, [])
    )


def exec_towards(head: str, argv: list[str]) -> None:
    """Run ``argv`` with torch's Gloo and NCCL set to the interface the other nodes
    reach this one on (:func:`interface_for_peers`; unless the user chose one): every
    node of a multi-node job then advertises an address the others can reach."""
    interface = interface_for_peers(head)
    env = dict(os.environ)
    if interface:
        env.setdefault("GLOO_SOCKET_IFNAME", interface)
        env.setdefault("NCCL_SOCKET_IFNAME", interface)
    os.execvpe(argv[0], argv, env)


def main(argv: list[str] | None = None) -> int:
    """``python -m aiworkbench.scaleout.netif HEAD PROGRAM [ARG...]`` (used by batch jobs)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m aiworkbench.scaleout.netif",
        description="Run PROGRAM with torch's Gloo and NCCL on the interface the other "
        "nodes reach this one on (towards HEAD).",
    )
    parser.add_argument("head", metavar="HEAD", help="the job's first node")
    parser.add_argument("program", metavar="PROGRAM", help="what to run")
    parser.add_argument(
        "args",
        metavar="ARG",
        nargs=argparse.REMAINDER,
        help="PROGRAM's arguments, passed as they are",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    exec_towards(args.head, [args.program, *args.args])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
