"""The namespace nodes' tool, in a scratch network namespace of its own (never this
machine's interfaces): it builds a node's bridge, address and veth pair, and refuses,
changing nothing, a bridge address another interface already holds."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from ..conftest import REPO

pytestmark = pytest.mark.integration
TOOL = str(REPO / "ansible" / "roles" / "network" / "files" / "aiworkbench-netns-node")


@pytest.fixture
def scratch():
    """Run commands inside a new, empty network namespace; removed afterwards."""
    name = f"aiwb-t-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)

    def inside(*argv):
        # nsenter (as the tool does), not `ip netns exec`: the same mounts, so a node
        # namespace the tool makes is this machine's /run/netns/NODE, removed below.
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{name}", *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )

    yield inside
    if (
        "sn01"
        in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    ):
        subprocess.run(["ip", "netns", "delete", "sn01"], check=True)
    subprocess.run(["ip", "netns", "delete", name], check=True)


def test_a_bridge_address_held_by_another_interface_is_refused_and_nothing_changes(scratch):
    assert scratch("ip", "link", "add", "other0", "type", "bridge").returncode == 0
    assert scratch("ip", "addr", "add", "10.99.0.1/24", "dev", "other0").returncode == 0
    refused = scratch(TOOL, "up", "sn01", "10.99.0.11", "24", "tbr0", "10.99.0.1")
    assert refused.returncode == 1
    assert (
        "10.99.0.1 is already an address of interface other0; the namespace nodes' "
        "bridge tbr0 needs it. Nothing was changed"
    ) in refused.stderr
    assert scratch("ip", "link", "show", "tbr0").returncode != 0
    assert "sn01" not in scratch("ip", "netns", "list").stdout


def test_the_bridge_and_its_address_come_first_and_a_second_run_changes_nothing(scratch):
    made = scratch(TOOL, "up", "sn01", "10.99.0.11", "24", "tbr0", "10.99.0.1")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "changed"
    assert "10.99.0.1/24" in scratch("ip", "-o", "addr", "show", "dev", "tbr0").stdout
    again = scratch(TOOL, "up", "sn01", "10.99.0.11", "24", "tbr0", "10.99.0.1")
    assert (again.returncode, again.stdout.strip()) == (0, "ok")
    # The node's end holds its address, routed through the bridge's.
    node = subprocess.run(
        ["ip", "-n", "sn01", "-o", "addr", "show", "dev", "eth0"], capture_output=True, text=True
    ).stdout
    assert "10.99.0.11/24" in node
    route = subprocess.run(
        ["ip", "-n", "sn01", "route", "show", "default"], capture_output=True, text=True
    ).stdout
    assert "via 10.99.0.1" in route
    assert "master tbr0" in scratch("ip", "-o", "link", "show", "vh-sn01").stdout
