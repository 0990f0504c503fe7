"""PyTorch adapter: the range test, schedulers and the doctor for ``torch.nn`` models.

Each module here only translates between torch objects and lrkit's framework-neutral core.
"""

from lrkit._optional import require

require("torch", "torch")

from lrkit.torch.rangetest import find_lr  # noqa: E402

__all__ = ["find_lr"]
