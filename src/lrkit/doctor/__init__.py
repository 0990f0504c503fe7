"""The doctor: watch training and say when the learning rate is the problem.

Framework-neutral (numpy only). Feed :meth:`Doctor.observe` each step's loss (and, when
known, the learning rate, the gradient norm and validation results); it returns
:class:`Finding` objects for the signs of a bad learning rate: non-finite values,
divergence, loss spikes, exploding gradient norms, a learning rate too low to make progress,
plateaus, oscillation and overfitting. :func:`diagnose` judges a recorded log
at once, with exactly the findings the streaming doctor gives.
"""

from lrkit.doctor.diagnosis import Diagnosis, diagnose
from lrkit.doctor.doctor import ON_CRITICAL, Doctor, DoctorWarning
from lrkit.doctor.finding import SEVERITIES, Finding
from lrkit.doctor.rules import RULES, Rule
from lrkit.doctor.thresholds import Thresholds, describe, for_unit
from lrkit.doctor.window import Window

__all__ = [
    "ON_CRITICAL",
    "RULES",
    "SEVERITIES",
    "Diagnosis",
    "Doctor",
    "DoctorWarning",
    "Finding",
    "Rule",
    "Thresholds",
    "Window",
    "describe",
    "diagnose",
    "for_unit",
]
