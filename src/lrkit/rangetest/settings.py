"""The settings of a range test: one frozen :class:`RangeTestSettings`, one set of defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from lrkit.sweep import check_count, validate_sweep

#: The settings a result records in ``settings`` (beside its sweeps and the adapter's own).
RECORDED = ("start_lr", "end_lr", "num_steps", "mode", "smoothing", "diverge_factor")


class SweepKeywords(TypedDict, total=False):
    """:class:`RangeTestSettings`' fields as the keywords every range test takes beside
    ``settings=``: each one given (and not ``None``) replaces that field."""

    start_lr: float | None
    end_lr: float | None
    num_steps: int | None
    mode: str | None
    smoothing: float | None
    diverge_factor: float | None
    retry: bool | None
    max_steps: int | None


@dataclass(frozen=True)
class RangeTestSettings:
    """How a range test sweeps: ``num_steps`` rates from ``start_lr`` to ``end_lr``, geometric
    (``mode="exp"``) or evenly spaced (``"linear"``); the loss smoothed with ``smoothing`` (β of
    the bias-corrected EMA, :mod:`lrkit.smoothing`); a sweep stops when the smoothed loss
    exceeds ``diverge_factor`` × its best. ``retry``: sweep again when the curve cannot be read;
    ``max_steps``: the steps of all sweeps together (``None``: every retry allowed, see
    :class:`lrkit.RangeTest`).

    Every range test (:func:`lrkit.range_test`, :class:`lrkit.RangeTest`, the torch, Keras and
    Lightning finders, ``compare``) takes one as ``settings=``; their keyword arguments of the
    same names replace single fields (:meth:`merged`). Made with a setting that is not allowed,
    it raises ``TypeError``/``ValueError`` naming it.
    """

    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_steps: int = 100
    mode: str = "exp"
    smoothing: float = 0.98
    diverge_factor: float = 4.0
    retry: bool = True
    max_steps: int | None = None

    def __post_init__(self) -> None:
        for name in ("smoothing", "diverge_factor"):
            if getattr(self, name) is None:
                raise TypeError(f"{name}: must be a number, got None")
        validate_sweep(
            self.start_lr,
            self.end_lr,
            self.num_steps,
            self.mode,
            self.smoothing,
            self.diverge_factor,
        )
        if not isinstance(self.retry, bool):
            raise TypeError(f"retry: must be True or False, got {self.retry!r}")
        if self.max_steps is not None:
            check_count("max_steps", self.max_steps)
            if self.max_steps < self.num_steps:
                raise ValueError(
                    f"max_steps: must be >= num_steps ({self.num_steps}), got {self.max_steps}"
                )

    @classmethod
    def merged(cls, settings: RangeTestSettings | None = None, **changes: Any) -> RangeTestSettings:
        """``settings`` (default: the defaults) with each of ``changes`` that is not ``None``."""
        if settings is None:
            settings = cls()
        elif not isinstance(settings, RangeTestSettings):
            raise TypeError(
                f"settings: must be a RangeTestSettings or None, got {type(settings).__name__}"
            )
        unknown = sorted(set(changes) - set(_field_names()))
        if unknown:
            raise TypeError(
                f"unexpected keyword argument {unknown[0]!r}; the range-test settings are "
                f"{', '.join(_field_names())}"
            )
        given = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(settings, **given) if given else settings

    def record(self) -> dict[str, Any]:
        """The settings a result records (:data:`RECORDED`)."""
        return {name: getattr(self, name) for name in RECORDED}

    def to_dict(self) -> dict[str, Any]:
        """Every field, as plain data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeTestSettings:
        """The inverse of :meth:`to_dict`; a missing field takes its default."""
        if not isinstance(data, Mapping):
            raise TypeError(f"settings: must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_field_names()))
        if unknown:
            raise ValueError(
                f"settings: unknown range-test setting {unknown[0]!r}; "
                f"allowed: {', '.join(_field_names())}"
            )
        return cls(**data)


def _field_names() -> list[str]:
    """The fields of :class:`RangeTestSettings`, in order."""
    return [f.name for f in dataclasses.fields(RangeTestSettings)]
