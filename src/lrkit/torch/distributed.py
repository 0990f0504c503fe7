"""What every rank of a ``torch.distributed`` job must agree on, and who writes.

Outside a process group (or without ``torch.distributed``) each function is the one-process
answer, so callers need no branch of their own.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """``True`` on rank 0 (and in a single process): the rank that shows and writes."""
    return not active() or dist.get_rank() == 0


def global_mean(value: float, flag: bool = False) -> tuple[float, bool]:
    """The mean of ``value`` over all ranks (non-finite if any rank's is) and whether any
    rank's ``flag`` is set."""
    if not active():
        return float(value), flag
    backend = dist.get_backend()
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else None
    both = torch.tensor([float(value), float(flag)], dtype=torch.float64, device=device)
    dist.all_reduce(both)
    total, flags = both.tolist()
    return total / dist.get_world_size(), flags > 0
