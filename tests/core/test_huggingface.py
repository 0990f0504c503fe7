"""lrkit.huggingface.find_lr with a real Trainer and a tiny BERT built from a config."""

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from torch.utils.data import Dataset  # noqa: E402

from lrkit.huggingface import find_lr  # noqa: E402


class Tokens(Dataset):
    """Random token ids; the label is whether the first token is in the upper half."""

    def __init__(self, n: int = 256) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(5, 60, (n, 12), generator=generator)
        self.labels = (self.ids[:, 0] > 32).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def trainer(tmp_path, **args):
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=16,
        num_labels=2,
    )
    model = transformers.BertForSequenceClassification(config)
    settings = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 16,
        "num_train_epochs": 1,
        "report_to": [],
        "use_cpu": True,
        "logging_strategy": "no",
        "save_strategy": "no",
        "disable_tqdm": True,
        **args,
    }
    return transformers.Trainer(
        model=model, args=transformers.TrainingArguments(**settings), train_dataset=Tokens()
    )


def test_the_sweep_uses_the_trainers_step_and_sets_the_rate_it_trains_with(tmp_path):
    run = trainer(tmp_path, gradient_accumulation_steps=2, max_grad_norm=0.5, bf16=True)
    model = run.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    norms, forwards = [], []
    model.register_forward_hook(lambda *_: forwards.append(1))
    optimizer = run.create_optimizer()
    optimizer.register_step_pre_hook(
        lambda *_: norms.append(
            float(
                torch.nn.utils.get_total_norm(
                    [p.grad for p in model.parameters() if p.grad is not None]
                )
            )
        )
    )
    run.optimizer = optimizer  # the Trainer's own optimizer, kept and given the new rate
    result = find_lr(run, num_steps=30, retry=False, progress=False)
    steps = len(result.lrs)
    assert len(norms) == steps and max(norms) <= 0.5 * (1 + 1e-4)  # clipped like the Trainer
    assert len(forwards) == 2 * steps  # two batches accumulated per step
    assert result.settings["batch_size"] == 32
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    lr = result.suggestion
    assert run.args.learning_rate == lr and optimizer.param_groups[0]["lr"] == lr


def test_train_builds_its_optimizer_at_the_suggested_rate(tmp_path):
    run = trainer(tmp_path)
    result = find_lr(run, num_steps=40, progress=False)
    assert run.optimizer is None  # made for the test only
    run.train()
    assert run.optimizer.param_groups[0]["initial_lr"] == pytest.approx(result.suggestion)
