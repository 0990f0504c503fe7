"""The ``Schedule`` base class: an immutable, picklable, pure function of the step.

Every formula is written once, against an *array namespace* ``xp`` that offers ``cos``,
``exp``, ``log``, ``sqrt``, ``floor``, ``minimum``, ``maximum`` and ``where``. The same
formula then runs on a Python float (through :data:`SCALAR`, the fast path the PyTorch adapter
uses once per step), on a numpy array (plots, tests), on a traced ``jax.numpy`` array (optax,
under ``jax.jit``) and on ``keras.ops`` tensors (the Keras adapter).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any, ClassVar, TypeVar, overload

import numpy as np
from numpy.typing import NDArray


def _where(condition: Any, if_true: Any, if_false: Any) -> Any:
    return if_true if condition else if_false


class _ScalarNamespace:
    """The subset of an array namespace the formulas use, for plain Python floats."""

    cos = staticmethod(math.cos)
    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sqrt = staticmethod(math.sqrt)
    floor = staticmethod(math.floor)
    minimum = staticmethod(min)
    maximum = staticmethod(max)
    where = staticmethod(_where)


#: Namespace for evaluating a schedule on one Python ``float`` step.
SCALAR = _ScalarNamespace()


def _plain(value: Any) -> Any:
    """A dataclass field as JSON-ready data (schedules become dicts, tuples become lists)."""
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class Schedule(ABC):
    """A learning rate (or momentum) as a pure function of the step ``t = 0, 1, 2, ...``.

    ``schedule(step)`` returns a ``float`` for a number and an array of the same shape for an
    array of steps. Schedules that have a planned length hold their final value past it
    (see :attr:`duration`). Subclasses are frozen dataclasses, so instances are immutable,
    hashable, comparable with ``==`` and picklable; :meth:`to_dict` gives plain JSON data that
    :func:`lrkit.schedules.from_dict` turns back into an equal schedule.
    """

    #: Name under which the schedule is registered (``to_dict()["name"]``).
    name: ClassVar[str]
    #: The formula, in plain text; ``t`` is the step.
    formula: ClassVar[str]
    #: Old parameter names still accepted, with a ``DeprecationWarning``: ``{old: new}``.
    renamed: ClassVar[Mapping[str, str]] = {}

    @abstractmethod
    def _eval(self, t: Any, xp: Any) -> Any:
        """The value at float step(s) ``t >= 0`` using array namespace ``xp``."""

    @abstractmethod
    def bounds(self) -> tuple[float, float]:
        """``(lowest, highest)``: every value of the schedule lies in this closed interval."""

    @property
    def duration(self) -> int | None:
        """Planned number of steps, past which the value is held; ``None`` if unbounded."""
        return None

    def evaluate(self, t: Any, xp: Any) -> Any:
        """Evaluate at float step(s) ``t`` with array namespace ``xp`` (``numpy``,
        ``jax.numpy``, ``keras.ops``, or :data:`SCALAR`). Negative steps count as step 0;
        nothing else is checked, so that this also runs inside a traced graph."""
        return self._eval(xp.maximum(t, 0.0), xp)

    def value_at(self, t: float) -> float:
        """Value at one step ``t >= 0`` given as a ``float``, with no checks or conversions:
        the shortest path, for adapters that call it once per training step."""
        return self._eval(t, SCALAR)

    @overload
    def __call__(self, step: float) -> float: ...

    @overload
    def __call__(self, step: NDArray[Any]) -> NDArray[np.float64]: ...

    def __call__(self, step: Any) -> Any:
        """Value at ``step``: a number >= 0 gives a ``float``; an array of steps (a list, a
        numpy array, or any array with ``__array_namespace__``, such as a JAX array, traced
        or not) gives an array of values."""
        if isinstance(step, bool):
            raise TypeError(f"step: must be a number or an array of numbers, got {step!r}")
        if type(step) in (int, float) or isinstance(step, Real):  # the first test is quicker
            t = float(step)
            if not (math.isfinite(t) and t >= 0):
                raise ValueError(f"step: must be a finite number >= 0, got {step!r}")
            return float(self._eval(t, SCALAR))
        if hasattr(step, "__array_namespace__") and not isinstance(step, np.ndarray):
            xp = step.__array_namespace__()
            return self.evaluate(step * 1.0, xp)
        steps = np.asarray(step, dtype=np.float64)
        if not np.all(np.isfinite(steps) & (steps >= 0)):
            raise ValueError("step: every step must be a finite number >= 0")
        values = np.asarray(self._eval(steps, np), dtype=np.float64)
        if steps.ndim == 0:
            return float(values)
        return np.array(np.broadcast_to(values, steps.shape))

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``: plain data for JSON, nested for combinators."""
        params = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {"name": self.name, "params": params}

    def __repr__(self) -> str:
        params = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        )
        return f"{self.name}({params})"


def freeze(instance: Schedule, **values: Any) -> None:
    """Set normalised field values on a frozen dataclass from its ``__post_init__``."""
    for key, value in values.items():
        object.__setattr__(instance, key, value)


def renamed_params(
    cls: type[Any], params: Mapping[str, Any], *, warn: bool = True, stacklevel: int = 2
) -> dict[str, Any]:
    """``params`` with every old name in ``cls.renamed`` replaced by its new name, and a
    ``DeprecationWarning`` for each (if ``warn``); giving both names is an error."""
    out = dict(params)
    for old, new in cls.renamed.items():
        if old not in out:
            continue
        if new in out:
            raise TypeError(f"{cls.name}: got {old!r} and its new name {new!r}; give only {new!r}")
        if warn:
            warnings.warn(
                f"{cls.name}: parameter {old!r} is now called {new!r}; the old name will stop "
                "working in lrkit 1.0",
                DeprecationWarning,
                stacklevel=stacklevel + 1,
            )
        out[new] = out.pop(old)
    return out


F = TypeVar("F", bound=Callable[..., Any])


def accepts_renamed(cls: type[Any]) -> Callable[[F], F]:
    """Decorator: ``function`` also takes the old keyword names of ``cls`` (``cls.renamed``),
    with a ``DeprecationWarning``; its signature stays the new one."""

    def wrap(function: F) -> F:
        if not cls.renamed:
            return function

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return function(*args, **renamed_params(cls, kwargs, stacklevel=2))

        return wrapper  # type: ignore[return-value]

    return wrap


S = TypeVar("S", bound=type[Any])


def renames(cls: S) -> S:
    """Class decorator (outside ``@dataclass``): the constructor also takes ``cls.renamed``."""
    cls.__init__ = accepts_renamed(cls)(cls.__init__)
    return cls
