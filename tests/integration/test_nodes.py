"""Several nodes on one machine: the demo's compute nodes are this machine and the
slurmd instances in network namespaces of the demo inventory, each with its own
host name and address. A job runs on each node; Dask's scheduler and workers, and a
DDP run's ranks, really talk across nodes (over the namespaces' bridge); a session
on a namespace node is reached through the proxy.
"""

import json
import re

import pytest
import yaml

from ..conftest import REPO, HubUser, in_a_session, run, user_jobs

pytestmark = pytest.mark.integration
DRIVER = "intro-17"  # workshop accounts of class intro no other test uses
RANKS = "intro-18"
SESSION = "intro-19"  # (also the backup test's, which runs before)
INVENTORY = REPO / "ansible" / "inventory" / "demo" / "host_vars" / "localhost.yml"

DASK = """
import json, socket, sys
from dask.distributed import Client
import aiworkbench
cluster = aiworkbench.dask_cluster(workers=2, adaptive=False, minutes=10, memory_gb=1)
client = Client(cluster)
client.wait_for_workers(2, timeout=240)
total = sum(client.gather(client.map(lambda x: x * x, range(100))))
where = client.run(socket.gethostname)
json.dump({"total": total, "scheduler": socket.gethostname(),
           "scheduler_address": cluster.scheduler_address,
           "workers": where}, open(sys.argv[1], "w"))
client.close(); cluster.close()
"""
DDP = """
import json, sys
import aiworkbench
job = aiworkbench.submit_batch(sys.argv[2], "--steps", "20", "--out", sys.argv[3],
                               nodes=2, torchrun=True, processes_per_node=1,
                               cpus_per_node=2, memory_gb=2, minutes=10, name="ddp-nodes")
state = job.wait(timeout=400)
json.dump({"job": job.job_id, "state": state, "exit": job.exit_code, "log": job.log()},
          open(sys.argv[1], "w"))
"""


@pytest.fixture(scope="module")
def nodes(cluster_up):
    """Slurm's nodes: name -> (address, state)."""
    found = {}
    for line in run(["scontrol", "--oneliner", "show", "nodes"]).stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S+)", line))
        found[fields["NodeName"]] = (fields["NodeAddr"], fields["State"])
    return found


@pytest.fixture(scope="module")
def namespace_nodes():
    return yaml.safe_load(INVENTORY.read_text())["slurm_namespace_nodes"]


def bridge_url(site):
    """The hub as the namespace nodes reach it (the proxy listens on every address)."""
    return f"http://{site.hub.hub_ip}:{site.hub.port}"


def test_every_node_of_the_inventory_is_up_on_its_own_address(nodes, namespace_nodes, site):
    for node in namespace_nodes:
        assert node["name"] in nodes, f"{node['name']} is not a Slurm node: {sorted(nodes)}"
        address, state = nodes[node["name"]]
        assert address == node["address"]
        assert not re.match(r"(DOWN|DRAIN|NOT_RESPONDING)", state), (node, state)
    assert len(nodes) == len(namespace_nodes) + 1  # and this machine's own node
    addresses = [address for address, _ in nodes.values()]
    assert len(set(addresses)) == len(addresses), addresses
    assert site.hub.hub_ip in addresses  # this machine's node: where the hub is


def test_a_job_runs_on_each_node(nodes):
    for name, (address, _) in nodes.items():
        done = run(
            [
                "srun",
                "--account=edu-intro",
                "--partition=cpu",
                f"--nodelist={name}",
                "--time=2",
                "--mem=100M",
                "--chdir=/tmp",
                "ip",
                "-o",
                "-4",
                "addr",
                "show",
            ],
            user=DRIVER,
            timeout=120,
        )
        seen = run(
            [
                "srun",
                "--account=edu-intro",
                "--partition=cpu",
                f"--nodelist={name}",
                "--time=2",
                "--mem=100M",
                "--chdir=/tmp",
                "hostname",
            ],
            user=DRIVER,
            timeout=120,
        ).stdout.strip()
        assert seen == name
        assert f"inet {address}/" in done.stdout, (name, done.stdout)


def test_dask_workers_and_their_scheduler_talk_across_nodes(site, hub_up, work, namespace_nodes):
    node = namespace_nodes[0]["name"]
    password = site.classes["intro"].learner_password
    done, log = in_a_session(
        bridge_url(site), DRIVER, password, DASK, work, str(work / "dask.json"), node=node
    )
    assert done.returncode == 0, log.read_text()[-4000:] if log.exists() else done.stderr
    result = json.loads((work / "dask.json").read_text())
    assert result["total"] == sum(x * x for x in range(100))
    assert result["scheduler"] == node
    assert namespace_nodes[0]["address"] in result["scheduler_address"]
    # Slurm fills this machine's node first: workers run there, away from their
    # scheduler (at least one, whatever else the cluster runs).
    assert len(result["workers"]) == 2
    assert set(result["workers"].values()) - {node}, result


def test_a_ddp_run_spans_two_nodes(site, hub_up, work, namespace_nodes):
    password = site.classes["intro"].learner_password
    script = work / "ddp_train.py"
    script.write_text((REPO / "example_notebooks" / "scale-out" / "ddp_train.py").read_text())
    script.chmod(0o644)
    done, log = in_a_session(
        bridge_url(site),
        RANKS,
        password,
        DDP,
        work,
        str(work / "batch.json"),
        str(script),
        str(work / "ddp.json"),
        node=namespace_nodes[1]["name"],
    )
    assert done.returncode == 0, log.read_text()[-4000:] if log.exists() else done.stderr
    batch = json.loads((work / "batch.json").read_text())
    assert (batch["state"], batch["exit"]) == ("COMPLETED", 0), batch["log"]
    ddp = json.loads((work / "ddp.json").read_text())
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    assert len(ddp["nodes"]) == 2, ddp  # one rank on each of two nodes
    assert len(set(ddp["checksums"])) == 1  # the ranks' weights agree: gradients crossed
    listed = run(
        ["sacct", "-X", "-n", "-P", "-j", batch["job"], "--format=NNodes,NodeList,State"]
    ).stdout.strip()
    assert listed.startswith("2|") and listed.endswith("|COMPLETED"), listed


def test_a_session_on_a_namespace_node_answers_through_the_proxy(
    site, hub_url, hub_up, nodes, namespace_nodes
):
    """As on a real factory, the session runs on another machine than the hub: with this
    machine's node drained, Slurm places it on a namespace node, and JupyterLab answers
    through the proxy at that node's address."""
    own = next(name for name, (address, _) in nodes.items() if address == site.hub.hub_ip)
    user = HubUser(hub_url, SESSION, site.classes["intro"].learner_password)
    if user.server() is not None:
        user.stop_server()
    run(["scontrol", "update", f"nodename={own}", "state=drain", "reason=workbench test"])
    try:
        response = user.api("POST", f"/users/{SESSION}/server", json={"profile": "cpu-small"})
        assert response.status_code in (201, 202), response.text
        user.wait_ready()
        [job] = [j for j in user_jobs(SESSION) if j["state"] == "RUNNING"]
        node = run(["squeue", "--noheader", "--job", job["id"], "--format=%N"]).stdout.strip()
        assert node in {n["name"] for n in namespace_nodes}, node
        status = user.session.get(f"{hub_url}/user/{SESSION}/api/status", timeout=30)
        assert status.status_code == 200, status.text
        lab = user.session.get(f"{hub_url}/user/{SESSION}/lab", timeout=60)
        assert lab.status_code == 200 and lab.url.endswith(f"/user/{SESSION}/lab"), lab.url
        assert "jupyter-config-data" in lab.text  # the JupyterLab page itself
    finally:
        run(["scontrol", "update", f"nodename={own}", "state=resume"])
        if user.server() is not None:
            user.stop_server()
