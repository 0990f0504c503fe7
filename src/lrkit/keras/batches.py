"""Batches for the Keras range test: from arrays, a ``keras.utils.PyDataset`` or an iterable.

Every source becomes an endless iterator of ``(x, y, sample_weight)`` batches: arrays are cut
into ``batch_size`` rows and reshuffled with a seed on every pass; datasets and iterables are
used in order and started again when exhausted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np

Batch = tuple[Any, Any, Any]


def batch_length(batch_x: Any) -> int | None:
    """The number of samples in a batch of inputs (the leading dimension of its first array)."""
    leaves = keras.tree.flatten(batch_x)
    shape = getattr(leaves[0], "shape", None) if leaves else None
    return int(shape[0]) if shape else None


def _is_arrays(x: Any) -> bool:
    return hasattr(x, "shape") or isinstance(x, (dict, list, tuple))


def batch_stream(
    x: Any, y: Any, *, batch_size: int, shuffle: bool, seed: int, name: str
) -> Iterator[Batch]:
    """Endless ``(x, y, sample_weight)`` batches from arrays, a dataset or an iterable."""
    if y is not None and not _is_arrays(x):
        raise TypeError(
            f"y: must be None when {name} is a {type(x).__name__}, which yields its own targets"
        )
    if _is_arrays(x):
        return _array_batches(x, y, batch_size, shuffle, seed, name)
    if hasattr(x, "__len__") and hasattr(x, "__getitem__"):
        if len(x) == 0:
            raise ValueError(f"{name}: the dataset yields no batches")
        return _dataset_batches(x)
    if isinstance(x, Iterable):
        return _cycle(x, name)
    raise TypeError(
        f"{name}: expected arrays, a keras.utils.PyDataset or an iterable of batches, "
        f"got {type(x).__name__}"
    )


def _unpack(batch: Any) -> Batch:
    if isinstance(batch, (list, tuple)) and len(batch) == 1:
        return batch[0], None, None
    if isinstance(batch, (list, tuple)) and len(batch) in (2, 3):
        return (batch[0], batch[1], batch[2] if len(batch) == 3 else None)
    return batch, None, None


def _dataset_batches(data: Any) -> Iterator[Batch]:
    while True:
        for index in range(len(data)):
            yield _unpack(data[index])


def _cycle(data: Iterable[Any], name: str) -> Iterator[Batch]:
    """Batches of ``data`` in order, iterating it again whenever it is exhausted."""
    seen = 0
    while True:
        before = seen
        for batch in data:
            seen += 1
            yield _unpack(batch)
        if seen == before:
            raise ValueError(
                f"{name}: the iterable yields no batches"
                + (f" after the first {seen}; give one that can be iterated again" if seen else "")
            )


def _array_batches(
    x: Any, y: Any, batch_size: int, shuffle: bool, seed: int, name: str
) -> Iterator[Batch]:
    x = keras.tree.map_structure(np.asarray, x)
    y = None if y is None else keras.tree.map_structure(np.asarray, y)
    lengths = {len(leaf) for leaf in keras.tree.flatten([x, y]) if leaf is not None}
    if len(lengths) != 1:
        raise ValueError(f"{name}: x and y must hold the same number of samples, got {lengths}")
    (count,) = lengths
    if count == 0:
        raise ValueError(f"{name}: the arrays hold no samples")
    return _slices(x, y, count, batch_size, shuffle, seed)


def _slices(
    x: Any, y: Any, count: int, batch_size: int, shuffle: bool, seed: int
) -> Iterator[Batch]:
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(count) if shuffle else np.arange(count)
        for start in range(0, count, batch_size):
            index = order[start : start + batch_size]
            yield _take(x, index), None if y is None else _take(y, index), None


def _take(arrays: Any, index: np.ndarray) -> Any:
    """The rows ``index`` of every array in the structure ``arrays``."""
    return keras.tree.map_structure(lambda leaf: leaf[index], arrays)


def split_validation(data: Any) -> tuple[Any, Any]:
    """``(x, y)`` arrays as ``(x, y)``; a dataset or iterable as ``(data, None)``."""
    if isinstance(data, (list, tuple)) and len(data) == 2:
        return data[0], data[1]
    if isinstance(data, (list, tuple)):
        raise ValueError(
            f"validation_data: give (x_val, y_val) or a dataset, got a sequence of {len(data)}"
        )
    return data, None
