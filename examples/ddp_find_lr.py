"""The range test under torch.distributed (DDP): every rank measures the same curve.

Each rank trains on its own shard; lrkit averages each step's loss over the ranks, so all of
them see the same rates, stop at the same step and restore the same state. Only rank 0 shows
progress and prints. On CPU with the gloo backend:

    torchrun --nproc-per-node 2 examples/ddp_find_lr.py
    python examples/ddp_find_lr.py --spawn 2        # the same, without torchrun

On GPUs use the nccl backend (``--backend nccl``) and move the model to ``cuda:LOCAL_RANK``.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from lrkit.torch import find_lr


def main(backend: str) -> None:
    dist.init_process_group(backend)
    try:
        digits = load_digits()
        data = TensorDataset(
            torch.tensor(digits.data / 16.0, dtype=torch.float32), torch.tensor(digits.target)
        )
        loader = DataLoader(data, batch_size=32, sampler=DistributedSampler(data, seed=0))
        torch.manual_seed(0)  # the same initial weights on every rank
        model = nn.parallel.DistributedDataParallel(
            nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        )
        optimizer = torch.optim.Adam(model.parameters())
        result = find_lr(model, optimizer, nn.CrossEntropyLoss(), loader, num_steps=100)
        if dist.get_rank() == 0:
            print(f"{dist.get_world_size()} ranks, global batch {result.settings['batch_size']}")
            print(f"suggested learning rate: {result.suggestion:.3g}")
            result.to_json("ddp_lr_find.json", overwrite=True)
    finally:
        dist.barrier()  # no rank tears the group down while another still uses it
        dist.destroy_process_group()


def spawned(rank: int, world: int, port: str, backend: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=port
    )
    main(backend)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="gloo")
    parser.add_argument("--spawn", type=int, metavar="N", help="start N processes here")
    parser.add_argument("--port", default="29517")
    args = parser.parse_args()
    if args.spawn:
        torch.multiprocessing.spawn(
            spawned, args=(args.spawn, args.port, args.backend), nprocs=args.spawn
        )
    else:
        main(args.backend)
