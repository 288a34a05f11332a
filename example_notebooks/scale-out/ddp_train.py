"""A small data-parallel training run with torch DDP, for `aiworkbench.submit_batch`.

    torchrun --nproc-per-node=2 ddp_train.py --steps 50 --out result.json

Each rank trains the same model on its own shard of a synthetic regression task;
DDP averages the gradients, so every rank ends with identical weights. NCCL on
GPUs, gloo on CPUs. Rank 0 writes what happened to --out (JSON): the world size,
the nodes, the first and last loss, and a checksum of the weights that every rank
computed (equal when the ranks stayed in step).
"""

import argparse
import json
import os
import socket

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(0)  # the same initial weights on every rank
    model = DistributedDataParallel(
        nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1)).to(device),
        device_ids=[local] if cuda else None,
    )
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    truth = torch.arange(16, dtype=torch.float32, device=device) / 16
    data = torch.Generator(device="cpu").manual_seed(1000 + rank)  # each rank its shard
    losses = []
    for _ in range(args.steps):
        x = torch.randn(args.batch, 16, generator=data).to(device)
        y = (x @ truth).unsqueeze(1)
        loss = nn.functional.mse_loss(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    checksum = torch.tensor([sum(p.sum().item() for p in model.parameters())], device=device)
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(gathered, checksum)
    hosts = [None] * world
    dist.all_gather_object(hosts, socket.gethostname())
    if rank == 0:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "world_size": world,
                    "backend": dist.get_backend(),
                    "nodes": sorted(set(hosts)),
                    "first_loss": losses[0],
                    "last_loss": losses[-1],
                    "checksums": [round(c.item(), 6) for c in gathered],
                },
                out,
            )
        print(f"rank 0 of {world}: loss {losses[0]:.4f} -> {losses[-1]:.4f}; wrote {args.out}")
    # Every rank leaves together: a rank that tears its gloo group down while another
    # still uses it can abort ("terminate called without an active exception").
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
