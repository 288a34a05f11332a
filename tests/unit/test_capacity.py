"""Free capacity and expected starts for the form (aiworkbench.sessions.capacity)."""

import asyncio
from datetime import datetime

from aiworkbench.core import slurm
from aiworkbench.core.site import load_site
from aiworkbench.sessions import capacity
from aiworkbench.sessions.request import parse_user_options

SITE = load_site("hub_config/site.toml")
# This machine's sinfo, one GPU in use, and a drained node.
SINFO = """\
cn01|cpu*|0/4/0/4|(null)|gpu:0|idle|
cn02|cpu*|0/4/0/4|(null)|gpu:0|drain|
vm|gpu|2/30/0/32|gpu:simulated:4|gpu:simulated:1(IDX:0)|mix|
vm|cpu*|2/30/0/32|gpu:simulated:4|gpu:simulated:1(IDX:0)|mix|
"""


def test_sinfo_is_read_into_free_cores_and_gpus_per_partition():
    free = capacity.parse_capacity(SINFO)
    assert free["cpu"] == capacity.PartitionFree(
        cores_free=34, cores=40, gpus_free=3, gpus=4, nodes_up=2, nodes=3
    )
    assert free["gpu"].text("simulated") == "free now: 3 of 4 GPUs (simulated), 30 of 32 cores"
    assert capacity.PartitionFree(nodes=2).text() == "no node is up"
    assert free["cpu"].text("simulated", gpus=False) == "free now: 34 of 40 cores"
    assert capacity.gpu_count("gpu:a100:2(S:0-1),gpu:1") == 3
    assert capacity.gpu_count("(null)") == 0
    assert (
        slurm.parse_test_only(
            "sbatch: Job 17 to start at 2026-12-03T15:46:39 using 2 "
            "processors on nodes vm in partition gpu"
        )
        == "2026-12-03T15:46:39"
    )
    assert slurm.parse_test_only("sbatch: error: Batch job submission failed") is None


def test_the_queue_line_says_when_and_where_there_is_room():
    now = datetime(2026, 12, 3, 16, 0)
    gpu = parse_user_options({"profile": "gpu-1", "project": "sme-vision"}, SITE, "sme")
    free = capacity.parse_capacity(SINFO)
    assert capacity.outlook_text((gpu, "2026-12-03T16:01:00"), free, now) == (
        "For 1 GPU, 2 cores for 1 h on gpu: Slurm would start it now."
    )
    assert capacity.outlook_text((gpu, "2026-12-03T21:06:00"), free, now) == (
        "For 1 GPU, 2 cores for 1 h on gpu: Slurm expects it to start at about 21:06; cpu "
        "has room now."
    )
    assert capacity.outlook_text((gpu, None), free, now) == (
        "For 1 GPU, 2 cores for 1 h on gpu: Slurm gives no start time now."
    )
    assert capacity.outlook_text(None, free, now) == ""


def test_one_read_per_interval_serves_every_form():
    asked = []
    clock = [0.0]

    async def run(argv, **kwargs):
        asked.append(argv[0])
        return SINFO

    async def test_only(argv, **kwargs):
        asked.append(argv[0])
        return "2026-12-03T16:00:00"

    reader = capacity.CapacityReader(30, run=run, test_only=test_only, clock=lambda: clock[0])
    request = parse_user_options({"profile": "cpu-small"}, SITE, "student")

    async def forms():
        for _ in range(20):
            await reader.free()
            await reader.expected_start(request, lambda argv: argv)
        clock[0] = 31
        await reader.free()
        await reader.expected_start(request, lambda argv: argv)

    asyncio.run(forms())
    assert asked == ["sinfo", "sbatch", "sinfo", "sbatch"] and reader.reads == 4


def test_the_gpus_kind_is_read_from_the_nodes_gres_only():
    assert capacity.gpu_kind_of(SINFO) == "simulated"
    nvidia = "g1|gpu|0/64/0/64|gpu:a100:4(S:0-1)|gpu:a100:0|idle|\n"
    assert capacity.gpu_kind_of(nvidia) == "nvidia"
    # GresUsed says gpu:0 on a node without GPUs: that is no GPU.
    assert capacity.gpu_kind_of("cn01|cpu*|0/4/0/4|(null)|gpu:0|idle|\n") == ""
    reader = capacity.CapacityReader(30, run=lambda argv, **kw: asyncio.sleep(0, nvidia))
    assert reader.gpu_kind is None  # nothing read yet
    asyncio.run(reader.free())
    assert reader.gpu_kind == "nvidia"
