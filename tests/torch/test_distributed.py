"""The range test under torch.distributed: two CPU processes on the gloo backend."""

import json
import math
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit.torch import find_lr, fit, probe_lr

WORLD = 2
SETTINGS = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 40, "progress": False}


def data(n: int = 512):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=generator)
    y = (x[:, :2].sum(dim=1) > 0).long()
    return x, y


def model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_main(rank: int, port: int, out: str, nan_at: int | None, what: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        torch.set_num_threads(1)
        x, y = data()
        shard = TensorDataset(x[rank::WORLD], y[rank::WORLD])  # batch i of each rank: rows i·32..
        loader = DataLoader(shard, batch_size=16)
        net = nn.parallel.DistributedDataParallel(model())
        calls = []

        def step_fn(m, batch):
            calls.append(1)
            loss = nn.functional.cross_entropy(m(batch[0]), batch[1])
            if nan_at is not None and rank == 1 and len(calls) == nan_at:
                return loss * math.nan
            return loss

        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        if what == "find":
            found = find_lr(net, optimizer, None, loader, step_fn=step_fn, **SETTINGS).to_dict()
        elif what == "probe":
            probed = probe_lr(
                net,
                optimizer,
                None,
                loader,
                candidates=[0.3, 0.03],
                steps=10,
                step_fn=step_fn,
                progress=False,
            )
            found = {"lrs": probed.lrs, "scores": probed.scores, "best": probed.best}
        else:
            history = fit(net, optimizer, None, loader, 10, step_fn=step_fn, progress=False)
            found = {"loss": history.column("loss").tolist(), "lr": history.plan.lr}
        with open(f"{out}.{rank}", "w") as f:
            json.dump(found, f)
    finally:
        dist.barrier()  # no rank tears the group down while another still uses it
        dist.destroy_process_group()


def run(tmp_path, nan_at=None, what="find"):
    out = str(tmp_path / "result")
    mp.start_processes(
        rank_main,
        args=(free_port(), out, nan_at, what),
        nprocs=WORLD,
        start_method="spawn",
        join=True,
    )
    return [json.loads(open(f"{out}.{rank}").read()) for rank in range(WORLD)]


@pytest.mark.timeout(300)
def test_every_rank_sees_the_curve_one_process_sees_with_the_global_batch(tmp_path):
    first, second = run(tmp_path)
    assert first == second
    x, y = data()
    # the two shards' i-th batches together are rows i·32 .. i·32+31 in rank order
    order = torch.cat([torch.arange(r, len(x), WORLD) for r in range(WORLD)])
    per_rank = len(x) // WORLD
    batches = []
    for i in range(0, per_rank, 16):
        rows = torch.cat([order[r * per_rank + i : r * per_rank + i + 16] for r in range(WORLD)])
        batches.append((x[rows], y[rows]))
    net = model()
    alone = find_lr(
        net, torch.optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), batches, **SETTINGS
    )
    assert first["lrs"] == pytest.approx(alone.lrs)
    assert first["losses"] == pytest.approx(alone.losses, rel=1e-4)
    assert first["settings"]["batch_size"] == 32 and first["settings"]["world_size"] == WORLD


@pytest.mark.timeout(300)
def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    first, second = run(tmp_path, nan_at=6)
    assert first == second
    assert first["stop_reason"] == "non-finite" and len(first["lrs"]) == 6


@pytest.mark.timeout(300)
def test_the_probe_and_fit_agree_on_every_rank(tmp_path):
    first, second = run(tmp_path, what="probe")
    assert first == second and len(first["scores"]) == 2
    first, second = run(tmp_path, what="fit")
    assert first == second and len(first["loss"]) == 10 * 16
