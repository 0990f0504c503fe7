"""Built-in tasks: shipped data, seeded splits, models that learn."""

import pytest
import torch

from lrkit import tasks


@pytest.mark.parametrize("name", tasks.names())
def test_task_shapes_and_seeded_reproducibility(name):
    first, second = tasks.get(name, seed=3), tasks.get(name, seed=3)
    x, y = next(iter(first.train_loader))
    out = first.model(x)
    outputs = {"digits-cnn": 10, "friedman-regression": 1}.get(name, 2)
    assert out.shape == (len(y), outputs)
    for a, b in zip(
        first.model.state_dict().values(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert torch.equal(next(iter(second.train_loader))[0], x)
    other = tasks.get(name, seed=4)
    assert not torch.equal(next(iter(other.train_loader))[0], x)


@pytest.mark.parametrize(("name", "target"), [("digits-cnn", 0.9), ("series-cnn-lstm", 0.85)])
def test_task_learns_with_adam(name, target):
    task = tasks.get(name, seed=0)
    before = task.evaluate()["accuracy"]
    optimizer = task.make_optimizer("adam", lr=3e-3)
    for _ in range(6):
        tasks.train_epoch(task.model, optimizer, task.loss_fn, task.train_loader)
    after = task.evaluate()["accuracy"]
    assert after >= target > before


def test_unknown_task_and_optimizer_are_named():
    with pytest.raises(ValueError, match="task: unknown task 'mnist'.*digits-cnn"):
        tasks.get("mnist")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        tasks.get("no_such_module:factory")
    task = tasks.get("digits-cnn")
    with pytest.raises(ValueError, match="optimizer: unknown optimizer 'lion'"):
        task.make_optimizer("lion")


def test_custom_factory_by_module_path():
    task = tasks.get("lrkit.tasks.digits:digits_cnn", seed=1)
    assert task.name == "digits-cnn" and task.seed == 1


def test_a_task_module_in_the_current_folder_is_found(tmp_path, monkeypatch):
    import sys

    (tmp_path / "my_lrkit_task.py").write_text(
        "from lrkit import tasks\n"
        "def make(seed=0, batch_size=None):\n"
        "    return tasks.get('tabular-mlp', seed=seed, batch_size=batch_size)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    task = tasks.get("my_lrkit_task:make", seed=1)
    assert task.name == "tabular-mlp" and task.seed == 1
