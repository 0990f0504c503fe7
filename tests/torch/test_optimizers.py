"""One optimizer registry: the built-in tasks, compare and search build the same optimizer for a
name."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from lrkit import tasks  # noqa: E402
from lrkit.torch import optimizers  # noqa: E402


def test_the_tasks_build_with_the_one_registry():
    assert tasks.make_optimizer is optimizers.make_optimizer


@pytest.mark.parametrize(
    ("name", "cls", "group"),
    [
        ("sgd", torch.optim.SGD, {"momentum": 0, "nesterov": False}),
        ("momentum", torch.optim.SGD, {"momentum": 0.9, "nesterov": False}),
        ("nesterov", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        ("adam", torch.optim.Adam, {"betas": (0.9, 0.999)}),
        ("adamw", torch.optim.AdamW, {"weight_decay": 0.01}),
        ("rmsprop", torch.optim.RMSprop, {"alpha": 0.99}),
        ("adagrad", torch.optim.Adagrad, {"lr_decay": 0}),
        ("adadelta", torch.optim.Adadelta, {"rho": 0.9}),
    ],
)
def test_builtin_names_and_defaults(name, cls, group):
    param = torch.zeros(1, requires_grad=True)
    built = optimizers.make_optimizer(name, [param], lr=0.05)
    assert type(built) is cls
    assert built.param_groups[0]["lr"] == 0.05
    for key, value in group.items():
        assert built.param_groups[0][key] == value
    assert optimizers.make_optimizer(name, [param]).param_groups[0]["lr"] == 1e-3
    assert name in optimizers.names() and optimizers.installed(name)


def test_keyword_arguments_reach_the_optimizer():
    param = torch.zeros(1, requires_grad=True)
    built = optimizers.make_optimizer("momentum", [param], lr=0.1, weight_decay=0.5)
    assert built.param_groups[0]["weight_decay"] == 0.5


def test_bad_names_are_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"optimizer: unknown optimizer 'lion'; choose one of sgd"):
        optimizers.make_optimizer("lion", [torch.zeros(1, requires_grad=True)])
    with pytest.raises(TypeError, match=r"strategies\[0\]\.optimizer: must be an optimizer name"):
        optimizers.check_name(3, "strategies[0].optimizer")
    assert optimizers.check_name("adam", "x") == "adam"


def test_a_missing_external_package_is_named(monkeypatch):
    monkeypatch.setattr(optimizers.importlib.util, "find_spec", lambda name: None)
    assert not optimizers.installed("prodigy")
    assert "prodigy" not in optimizers.names()
    with pytest.raises(ValueError, match=r"optimizer: 'prodigy' needs the prodigyopt package"):
        optimizers.make_optimizer("prodigy", [torch.zeros(1, requires_grad=True)])


def test_set_mode_switches_schedule_free_optimizers_and_leaves_others_alone():
    calls = []

    class ScheduleFree:
        def train(self):
            calls.append("train")

        def eval(self):
            calls.append("eval")

    optimizers.set_mode(ScheduleFree(), training=True)
    optimizers.set_mode(ScheduleFree(), training=False)
    assert calls == ["train", "eval"]
    sgd = optimizers.make_optimizer("sgd", [torch.zeros(1, requires_grad=True)])
    optimizers.set_mode(sgd, training=True)
    assert sgd.param_groups[0]["lr"] == 1e-3
