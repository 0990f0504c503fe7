"""The range test inside your own training loop: mixed precision, clipping, accumulation.

lrkit only sets each step's learning rate and reads its loss; the loop is yours. The model
is a small MLP on scikit-learn's digits; the loop runs under bfloat16 autocast with a grad
scaler, clips the gradient norm and accumulates two batches per optimizer step.

    python examples/own_loop.py [--num-steps 100]

Prints the suggestion and trains one epoch from it to show the model was put back untouched.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit.torch import LRFinder

ACCUMULATION = 2


def digits_loader(batch_size: int = 32) -> DataLoader:
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-steps", type=int, default=100)
    args = parser.parse_args()
    torch.manual_seed(0)
    loader = digits_loader()
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.AdamW(model.parameters(), weight_decay=0.01)
    scaler = torch.amp.GradScaler("cpu")
    loss_fn = nn.CrossEntropyLoss()

    finder = LRFinder(
        model,
        optimizer,
        num_steps=args.num_steps,
        grad_scaler=scaler,
        batch_size=loader.batch_size * ACCUMULATION,
    )
    while not finder.done:
        for i, (inputs, targets) in enumerate(loader):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(model(inputs), targets)
            scaler.scale(loss / ACCUMULATION).backward()
            if (i + 1) % ACCUMULATION:
                continue
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad()
            if not finder.record(loss):  # the unscaled loss; lrkit sets the next rate
                break
    result = finder.result()  # model, optimizer, scaler and random state are as before
    lr = result.suggestion
    print(f"range test: {result.steps_run} steps, stopped: {result.stop_reason}")
    print(f"suggested learning rate: {lr:.3g}")
    print(f"for batches of 256: {result.for_batch_size(256, 'sqrt'):.3g} (square-root rule)")

    for group in optimizer.param_groups:
        group["lr"] = lr
    total, correct = 0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        outputs = model(inputs)
        loss_fn(outputs, targets).backward()
        optimizer.step()
        correct += int((outputs.argmax(dim=1) == targets).sum())
        total += len(targets)
    print(f"one epoch at {lr:.3g}: training accuracy {correct / total:.3f}")


if __name__ == "__main__":
    main()
