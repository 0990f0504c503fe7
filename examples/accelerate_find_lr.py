"""The range test in an Accelerate training loop, on any number of processes.

``Accelerator.prepare`` wraps the model, optimizer and loader; the loop calls
``accelerator.backward`` and clips with ``accelerator.clip_grad_norm_``; ``LRFinder`` sets the
rates and reads the losses (averaged over the processes, so every process stops at the same
step). The recorded batch size is the prepared loader's ``total_batch_size``.

    python examples/accelerate_find_lr.py
    accelerate launch --num_processes 2 examples/accelerate_find_lr.py
"""

from __future__ import annotations

import torch
from accelerate import Accelerator
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit.torch import LRFinder


def main() -> None:
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    digits = load_digits()
    data = TensorDataset(
        torch.tensor(digits.data / 16.0, dtype=torch.float32), torch.tensor(digits.target)
    )
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters())
    loader = DataLoader(data, batch_size=32, shuffle=True)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    finder = LRFinder(
        model,
        optimizer,
        num_steps=100,
        batch_size=loader.total_batch_size,
        progress=accelerator.is_main_process,
    )
    while not finder.done:
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(inputs), targets)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if not finder.record(loss):
                break
    result = finder.result()
    if accelerator.is_main_process:
        print(f"{accelerator.num_processes} process(es), batch {result.settings['batch_size']}")
        print(f"suggested learning rate: {result.suggestion:.3g}")


if __name__ == "__main__":
    main()
