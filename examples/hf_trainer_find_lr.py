"""The range test with a Hugging Face ``Trainer``, then training at the measured rate.

A tiny BERT classifier, built from a config (nothing is downloaded), learns whether the first
token of a random sequence is in the upper half of the vocabulary. ``lrkit.huggingface.find_lr``
sweeps with the Trainer's own model, data, optimizer, ``compute_loss``, accumulation,
precision and clipping, and sets ``args.learning_rate``; ``trainer.train()`` then builds its
optimizer and linear schedule around it.

    python examples/hf_trainer_find_lr.py
"""

from __future__ import annotations

import tempfile

import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from lrkit.huggingface import find_lr


class Tokens(Dataset):
    def __init__(self, n: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(5, 60, (n, 12), generator=generator)
        self.labels = (self.ids[:, 0] > 32).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def main() -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=16,
        num_labels=2,
    )
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=16,
            gradient_accumulation_steps=2,
            max_grad_norm=1.0,
            num_train_epochs=3,
            use_cpu=not torch.cuda.is_available(),
            bf16=True,
            report_to=[],
            logging_strategy="no",
            save_strategy="no",
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=BertForSequenceClassification(config),
            args=args,
            train_dataset=Tokens(1024, seed=0),
            eval_dataset=Tokens(256, seed=1),
            compute_metrics=lambda p: {
                "accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())
            },
        )
        result = find_lr(trainer, num_steps=60)
        print(f"range test: {result.steps_run} steps, stopped: {result.stop_reason}")
        print(f"training at {trainer.args.learning_rate:.3g}")
        trainer.train()
        print(f"validation accuracy: {trainer.evaluate()['eval_accuracy']:.3f}")


if __name__ == "__main__":
    main()
