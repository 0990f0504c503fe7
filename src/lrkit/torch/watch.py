"""Renamed :mod:`lrkit.torch.doctor`; importing ``lrkit.torch.watch`` warns and gives the same
names."""

import warnings

from lrkit.torch.doctor import DoctorCallback, Watch, global_grad_norm, scale_lr

__all__ = ["DoctorCallback", "Watch", "global_grad_norm", "scale_lr"]

warnings.warn(
    "lrkit.torch.watch is now lrkit.torch.doctor (Watch is now DoctorCallback); import from there",
    DeprecationWarning,
    stacklevel=2,
)
