"""What the doctor reports: a :class:`Finding` with its evidence and advice in plain words."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: Severities, least to most serious.
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Finding:
    """One sign of a learning-rate problem, seen at ``step``.

    ``kind`` names the rule that saw it (``"divergence"``, ``"plateau"``, ...); ``evidence``
    holds the numbers that triggered it; ``message`` says what was seen and ``advice`` what
    to do; ``action`` records what the doctor did about it (``None`` when it only reported).
    """

    kind: str
    step: int
    severity: str
    message: str
    advice: str
    evidence: dict[str, float] = field(default_factory=dict)
    action: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity: must be one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )

    def __str__(self) -> str:
        text = f"step {self.step}: {self.severity.upper()} {self.kind}: {self.message}"
        text += f" Advice: {self.advice}"
        if self.action:
            text += f" Done: {self.action}."
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; non-finite evidence becomes the strings "nan", "inf", "-inf"."""
        data = asdict(self)
        data["evidence"] = {k: _json_number(v) for k, v in self.evidence.items()}
        return data


def _json_number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
