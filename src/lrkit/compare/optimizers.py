"""The optimizer registry under its older name: see :mod:`lrkit.torch.optimizers`."""

from __future__ import annotations

from lrkit.torch.optimizers import EXTERNAL, check_name, installed, names, set_mode
from lrkit.torch.optimizers import make_optimizer as make

__all__ = ["EXTERNAL", "check_name", "installed", "make", "names", "set_mode"]
