"""Bad input, on the command line and through the API, is one plain answer.

Every case checks the answer names the argument or the file at fault, the exit status (2 for
a user mistake) or the exception type, one line on stderr without a traceback, and that no
file already there changed.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from lrkit import RangeTestResult
from lrkit.cli import main
from lrkit.compare.store import Store

GOOD = RangeTestResult(
    [1e-4 * 1.5**i for i in range(30)],
    [2.0 - 0.05 * i for i in range(30)],
    [2.0 - 0.05 * i for i in range(30)],
    "completed",
).to_dict()

TRIAL = {"number": 0, "state": "complete", "params": {"lr": 0.01}, "score": 1.0}
SEARCH = {"kind": "lrkit.search", "study": "s", "config": {"space": {}}, "trials": [TRIAL]}

FILES: dict[str, str | bytes] = {
    "good.json": json.dumps(GOOD),
    "corrupt.json": '{"lrs": [1, 2',
    "list.json": "[1, 2]",
    "binary.json": b"\xff\xfe\x00garbage",
    "empty.json": "",
    "number.json": "3",
    "afile": "not a directory",
    "kept/lr_find.json": json.dumps(GOOD),
    "kept/lr_find.png": b"\x89PNG kept",
    "kept-auto/auto.json": "{}",
    "strategies-corrupt.json": '{"strategies": [',
    "strategies-list.json": "[1]",
    "strategies.txt": "name: x",
    "strategies-bad-lr.json": json.dumps({"strategies": [{"name": "x", "lr": -1}]}),
    "strategies-bad-field.json": json.dumps({"strategies": [{"name": "x", "colour": "red"}]}),
    "strategies-bad-optimizer.json": json.dumps({"strategies": [{"name": "x", "optimizer": 3}]}),
    "strategies-bad-schedule.json": json.dumps(
        {
            "strategies": [
                {
                    "name": "x",
                    "lr": 0.1,
                    "schedule": {"name": "step_decay", "decay_steps": 2, "gamma": 2},
                }
            ]
        }
    ),
    "strategies-no-name.json": json.dumps({"strategies": [{"lr": 0.1}]}),
    "strategies-empty.json": json.dumps({"strategies": []}),
    "db-empty/compare.sqlite": b"",
    "db-corrupt/compare.sqlite": b"this is not a database at all " * 40,
    "both/compare.sqlite": b"",
    "both/search.json": json.dumps(SEARCH),
    "empty-dir/.keep": "",
    "s-corrupt/search.json": '{"kind": "lrkit.search", ',
    "s-list/search.json": "[]",
    "s-kind/search.json": json.dumps({**SEARCH, "kind": "lrkit.other"}),
    "s-no-trials/search.json": json.dumps({k: v for k, v in SEARCH.items() if k != "trials"}),
    "s-no-study/search.json": json.dumps({k: v for k, v in SEARCH.items() if k != "study"}),
    "s-trials-text/search.json": json.dumps({**SEARCH, "trials": "many"}),
    "s-trial-list/search.json": json.dumps({**SEARCH, "trials": [[1]]}),
    "s-number/search.json": json.dumps({**SEARCH, "trials": [{**TRIAL, "number": "<b>1</b>"}]}),
    "s-state/search.json": json.dumps({**SEARCH, "trials": [{**TRIAL, "state": 3}]}),
    "s-params/search.json": json.dumps({**SEARCH, "trials": [{**TRIAL, "params": [1]}]}),
    "s-param-value/search.json": json.dumps(
        {**SEARCH, "trials": [{**TRIAL, "params": {"lr": {"x": 1}}}]}
    ),
    "s-score/search.json": json.dumps({**SEARCH, "trials": [{**TRIAL, "score": "high"}]}),
    "s-extra/search.json": json.dumps({**SEARCH, "trials": [{**TRIAL, "colour": 1}]}),
    "s-retry/search.json": json.dumps({**SEARCH, "trials": [{**TRIAL, "retry_of": "x"}]}),
    "s-config/search.json": json.dumps({**SEARCH, "config": [1]}),
    "s-ok/search.json": json.dumps(SEARCH),
    "schedule-corrupt.json": '{"name": ',
    "schedule-unknown.json": json.dumps({"name": "zigzag", "params": {}}),
    "schedule-list.json": "[1]",
    "plot.png": b"\x89PNG kept",
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad-input")
    for name, content in FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for name, (table, row) in STORES.items():
        with Store(folder / name) as store:
            store.check_settings({"task": "t", "epochs": 1}, ())
            store.add_strategy({"name": "s"}, None)
        with sqlite3.connect(folder / name / "compare.sqlite") as db:
            db.execute(f"DELETE FROM {table}")
            db.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
        db.close()
    return folder


#: Comparisons with one hand-broken row: folder -> (table, its only row).
STORES: dict[str, tuple[str, tuple[Any, ...]]] = {
    "db-epochs": ("meta", ("epochs", '"two"')),
    "db-meta-json": ("meta", ("epochs", "{not json")),
    "db-definition": ("strategies", ("s", 0, "[1]", None)),
    "db-plan": ("strategies", ("s", 0, '{"name": "s"}', '"fast"')),
    "db-record": ("runs", ("s", 0, "finished", "[1]", None, 0.0)),
}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def unchanged(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Work in ``workdir``; afterwards every file that was there is byte for byte the same."""
    monkeypatch.chdir(workdir)
    before = snapshot(workdir)
    yield workdir
    after = snapshot(workdir)
    assert {name: after.get(name) for name in before} == before


def cli(*words: str) -> list[str]:
    return list(words)


# (argv, exit status, pattern the one line on stderr must match)
CLI_CASES: list[tuple[list[str], int, str]] = [
    # lrkit find: numbers
    *[(cli("find", "--start-lr", v), 2, r"start[-_]lr") for v in ("0", "-1", "inf", "nan", "x")],
    *[(cli("find", "--end-lr", v), 2, r"end[-_]lr") for v in ("0", "-1", "inf", "nan", "x")],
    *[(cli("find", "--num-steps", v), 2, r"steps") for v in ("0", "-1", "1", "x", "1.5", "inf")],
    *[(cli("find", "--smoothing", v), 2, r"smoothing") for v in ("1", "-0.1", "nan", "inf", "x")],
    *[
        (cli("find", "--diverge-factor", v), 2, r"diverge[-_]factor")
        for v in ("0", "-1", "1", "nan", "inf", "x")
    ],
    *[
        (cli("find", "--probe", "--epochs", v), 2, r"--epochs")
        for v in ("0", "-1", "x", "nan", "1.5")
    ],
    *[(cli("find", "--batch-size", v), 2, r"--batch-size") for v in ("0", "-1", "x", "1.5", "")],
    *[(cli("find", "--seed", v), 2, r"--seed") for v in ("-1", "x", "1e3", "nan")],
    (cli("find", "--mode", "log"), 2, r"mode: must be one of exp, linear"),
    (cli("find", "--task", "imagenet"), 2, r"task: unknown task 'imagenet'"),
    (cli("find", "--task", "no_such_module_here:make"), 2, r"task: cannot import module"),
    (cli("find", "--task", "json:no_such_factory"), 2, r"task: 'json' has no callable"),
    (cli("find", "--task", "math:pi"), 2, r"task: 'math' has no callable 'pi'"),
    (cli("find", "--task", "", "--num-steps", "3"), 2, r"task"),
    (cli("find", "--optimizer", "lion", "--num-steps", "3"), 2, r"optimizer: unknown optimizer"),
    (cli("find", "--optimizer", "", "--num-steps", "3"), 2, r"optimizer"),
    (cli("find", "--out", "afile"), 2, r"--out: afile exists and is not a directory"),
    (cli("find", "--out", "afile/sub"), 2, r"--out: cannot create afile/sub \(Not a directory\)"),
    (cli("find", "--out", "kept"), 2, r"kept/lr_find\.json.*--overwrite"),
    (cli("find", "--no-such-flag"), 2, r"unrecognized arguments: --no-such-flag"),
    (cli("find", "extra"), 2, r"unrecognized arguments: extra"),
    # lrkit auto
    *[(cli("auto", "--epochs", v), 2, r"--epochs") for v in ("0", "-1", "x", "nan")],
    *[(cli("auto", "--batch-size", v), 2, r"--batch-size") for v in ("0", "-3", "x")],
    *[(cli("auto", "--seed", v), 2, r"--seed") for v in ("-1", "x")],
    (cli("auto", "--policy", "zigzag"), 2, r"--policy: invalid choice: 'zigzag'"),
    (cli("auto", "--task", "imagenet"), 2, r"task: unknown task"),
    (cli("auto", "--optimizer", "lion", "--epochs", "1"), 2, r"optimizer: unknown optimizer"),
    (cli("auto", "--out", "afile"), 2, r"--out: afile"),
    (cli("auto", "--out", "kept-auto"), 2, r"kept-auto/auto\.json.*--overwrite"),
    # lrkit compare
    (cli("compare"), 2, r"--preset"),
    (cli("compare", "--preset", "best"), 2, r"--preset: unknown preset 'best'"),
    (cli("compare", "--strategies", "missing.yaml"), 2, r"strategies: no such file missing"),
    (cli("compare", "--strategies", "strategies-corrupt.json"), 2, r"strategies-corrupt\.json"),
    (cli("compare", "--strategies", "strategies-list.json"), 2, r"strategies-list\.json"),
    (cli("compare", "--strategies", "strategies.txt"), 2, r"strategies\.txt must end in"),
    (cli("compare", "--strategies", "strategies-bad-lr.json"), 2, r"strategies-bad-lr\.json.*lr"),
    (cli("compare", "--strategies", "strategies-bad-field.json"), 2, r"bad-field\.json.*colour"),
    (cli("compare", "--strategies", "strategies-bad-optimizer.json"), 2, r"optimizer"),
    (cli("compare", "--strategies", "strategies-bad-schedule.json"), 2, r"gamma"),
    (cli("compare", "--strategies", "strategies-no-name.json"), 2, r"no-name\.json.*name"),
    (cli("compare", "--strategies", "strategies-empty.json"), 2, r"strategies-empty\.json"),
    (cli("compare", "--strategies", "empty.json"), 2, r"empty\.json"),
    (cli("compare", "--strategies", "binary.json"), 2, r"binary\.json"),
    *[
        (cli("compare", "--preset", "fixed-lrs", flag, v), 2, flag)
        for flag in ("--epochs", "--seeds", "--jobs", "--batch-size")
        for v in ("0", "-1", "x")
    ],
    *[
        (cli("compare", "--preset", "fixed-lrs", "--num-steps", v), 2, r"--num-steps")
        for v in ("0", "1", "-1", "x")
    ],
    *[
        (cli("compare", "--preset", "fixed-lrs", "--target", v), 2, r"--target")
        for v in ("nan", "inf", "x")
    ],
    (cli("compare", "--preset", "fixed-lrs", "--task", "imagenet"), 2, r"task: unknown task"),
    (cli("compare", "--preset", "fixed-lrs", "--out", "afile"), 2, r"--out: afile"),
    (cli("compare", "--preset", "fixed-lrs", "--out", "s-ok"), 2, r"--out: s-ok holds a search"),
    # lrkit search
    *[
        (cli("search", flag, v), 2, flag)
        for flag in ("--epochs", "--n-trials", "--workers", "--heartbeat-interval")
        for v in ("0", "-1", "x")
    ],
    *[(cli("search", "--batch-size", v), 2, r"--batch-size") for v in ("0", "x")],
    *[(cli("search", "--seed", v), 2, r"--seed") for v in ("-1", "x")],
    *[(cli("search", "--width", v), 2, r"--width") for v in ("0", "1", "-2", "nan", "inf", "x")],
    *[
        (cli("search", "--lr", low, high), 2, r"lr")
        for low, high in (("0", "1"), ("-1", "1"), ("1", "0.1"), ("nan", "1"), ("1e-3", "inf"))
    ],
    (cli("search", "--lr", "x", "1"), 2, r"--lr"),
    (cli("search", "--lr", "0.1"), 2, r"--lr"),
    *[
        (cli("search", "--momentum", low, high), 2, r"momentum")
        for low, high in (("-0.1", "0.9"), ("0.9", "0.5"), ("0.5", "1.5"), ("nan", "0.9"))
    ],
    (cli("search", "--sampler", "annealing"), 2, r"sampler: unknown sampler 'annealing'"),
    (cli("search", "--pruner", "early"), 2, r"pruner: unknown pruner 'early'"),
    (cli("search", "--direction", "up"), 2, r"direction: must be one of"),
    (cli("search", "--backend", "dask"), 2, r"backend: must be 'optuna' or 'ray'"),
    (cli("search", "--optimizer", "lion"), 2, r"optimizer"),
    (cli("search", "--schedule", "zigzag"), 2, r"schedule"),
    (cli("search", "--task", "imagenet"), 2, r"task"),
    (cli("search", "--task", "no_such_module_here:f"), 2, r"cannot import module"),
    (cli("search", "--task", "json:nothing"), 2, r"'json' has no callable 'nothing'"),
    (cli("search", "--storage", "sqlite:///x.db"), 2, r"storage: SQLite"),
    (cli("search", "--storage", "http://host/x"), 2, r"storage: unsupported URL"),
    (cli("search", "--storage", "kept"), 2, r"storage: kept is a directory"),
    (cli("search", "--storage", "x.journal", "--overwrite"), 2, r"--overwrite"),
    (cli("search", "--out", "afile"), 2, r"--out: afile"),
    (cli("search", "--out", "db-empty"), 2, r"--out: db-empty holds a comparison"),
    (cli("search", "--storage", "memory", "--out", "s-ok"), 2, r"s-ok/search\.json.*--overwrite"),
    (cli("search", "--from-range-test", "missing.json"), 2, r"--from-range-test: no file"),
    (cli("search", "--from-range-test", "corrupt.json"), 2, r"corrupt\.json: not valid JSON"),
    (cli("search", "--from-range-test", "list.json"), 2, r"list\.json: expected a JSON object"),
    (cli("search", "--from-range-test", "binary.json"), 2, r"binary\.json: not a JSON file"),
    (cli("search", "--from-range-test", "empty.json"), 2, r"empty\.json"),
    (cli("search", "--from-range-test", "number.json"), 2, r"number\.json"),
    (cli("search", "--from-range-test", "s-ok/search.json"), 2, r"search\.json"),
    (cli("search", "--from-range-test", "good.json", "--lr", "1e-3", "1"), 2, r"--lr"),
    (cli("search", "worker"), 2, r"--study-name"),
    (
        cli("search", "worker", "--study-name", "x", "--storage", "sqlite:///x"),
        2,
        r"storage: SQLite",
    ),
    # lrkit report
    (cli("report"), 2, r"DIR"),
    (cli("report", "missing-dir"), 2, r"missing-dir: no comparison here"),
    (cli("report", "empty-dir"), 2, r"empty-dir: no comparison here"),
    (cli("report", "afile"), 2, r"afile"),
    (cli("report", "db-empty"), 2, r"db-empty/compare\.sqlite: not an lrkit comparison"),
    (cli("report", "db-corrupt"), 2, r"db-corrupt/compare\.sqlite: not an lrkit comparison"),
    (cli("report", "both"), 2, r"both: holds both a comparison"),
    *[
        (cli("report", name), 2, rf"{name}/compare\.sqlite: not a readable comparison")
        for name in ("db-epochs", "db-meta-json", "db-definition", "db-plan", "db-record")
    ],
    (cli("report", "s-corrupt"), 2, r"s-corrupt/search\.json: not valid JSON"),
    (cli("report", "s-list"), 2, r"s-list/search\.json: expected a JSON object"),
    (cli("report", "s-kind"), 2, r"s-kind/search\.json.*kind"),
    (cli("report", "s-no-trials"), 2, r"s-no-trials/search\.json.*trials"),
    (cli("report", "s-no-study"), 2, r"s-no-study/search\.json.*study"),
    (cli("report", "s-trials-text"), 2, r"s-trials-text/search\.json.*trial"),
    (cli("report", "s-trial-list"), 2, r"s-trial-list/search\.json.*trial"),
    (cli("report", "s-number"), 2, r"s-number/search\.json.*number"),
    (cli("report", "s-state"), 2, r"s-state/search\.json.*state"),
    (cli("report", "s-params"), 2, r"s-params/search\.json.*params"),
    (cli("report", "s-param-value"), 2, r"s-param-value/search\.json.*parameter"),
    (cli("report", "s-score"), 2, r"s-score/search\.json.*score"),
    (cli("report", "s-extra"), 2, r"s-extra/search\.json.*colour"),
    (cli("report", "s-retry"), 2, r"s-retry/search\.json.*retry_of"),
    (cli("report", "s-config"), 2, r"s-config/search\.json.*config"),
    (cli("report", "s-ok", "--target", "0.5"), 2, r"--target"),
    *[(cli("report", "db-empty", "--target", v), 2, r"--target") for v in ("nan", "inf", "x")],
    # lrkit schedule
    (cli("schedule", "zigzag"), 2, r"zigzag"),
    (cli("schedule"), 2, r"name"),
    (cli("schedule", "cosine"), 2, r"--lr|--total-steps"),
    (cli("schedule", "cosine", "--lr", "-1", "--total-steps", "10"), 2, r"lr"),
    (cli("schedule", "cosine", "--lr", "nan", "--total-steps", "10"), 2, r"lr"),
    (cli("schedule", "cosine", "--lr", "0.1", "--total-steps", "0"), 2, r"total[-_]steps"),
    (cli("schedule", "cosine", "--lr", "0.1", "--total-steps", "x"), 2, r"--total-steps"),
    (
        cli("schedule", "step_decay", "--lr", "0.1", "--decay-steps", "3", "--gamma", "2"),
        2,
        "gamma",
    ),
    (cli("schedule", "one_cycle", "--lr", "0", "--total-steps", "10"), 2, r"lr: must be > 0"),
    (cli("schedule", "cosine", "--lr", "0.1", "--total-steps", "9", "--steps", "0"), 2, "steps"),
    (
        cli("schedule", "cosine", "--lr", "0.1", "--total-steps", "9", "--out", "plot.png"),
        2,
        "plot.png",
    ),
    (cli("schedule", "schedule-corrupt.json"), 2, r"schedule-corrupt\.json"),
    (cli("schedule", "schedule-unknown.json"), 2, r"zigzag"),
    (cli("schedule", "schedule-list.json"), 2, r"schedule-list\.json"),
    # lrkit itself
    (cli(), 2, r"command"),
    (cli("train"), 2, r"invalid choice: 'train'"),
]


@pytest.mark.parametrize(
    ("argv", "code", "pattern"), CLI_CASES, ids=[" ".join(c[0]) or "-" for c in CLI_CASES]
)
def test_a_bad_command_line_is_one_line_naming_what_is_wrong(
    argv: list[str],
    code: int,
    pattern: str,
    unchanged: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    if _writes(argv):  # a fresh --out, unless the case is about --out
        argv = [*argv, "--no-progress", *([] if "--out" in argv else ["--out", str(tmp_path)])]
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lrkit: error: ") and "Traceback" not in captured.err
    assert re.search(pattern, lines[0]), lines[0]


def _writes(argv: list[str]) -> bool:
    """Whether ``argv`` runs a command with ``--out`` and ``--no-progress``."""
    return bool(argv) and argv[0] in ("find", "auto", "compare", "search") and "worker" not in argv


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 3, generator=generator), torch.randn(4, 1)) for _ in range(3)]


def frozen() -> nn.Module:
    model = Linear()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def find(**change: Any) -> Callable[[], Any]:
    """``find_lr`` on a tiny model with ``change`` applied to its arguments."""

    def call() -> Any:
        from lrkit.torch import find_lr

        model = Linear()
        arguments: dict[str, Any] = {
            "model": model,
            "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
            "loss_fn": nn.MSELoss(),
            "train_loader": batches(),
            "num_steps": 5,
            "progress": False,
            **change,
        }
        return find_lr(**arguments)

    return call


def schedule(name: str, **params: Any) -> Callable[[], Any]:
    from lrkit import schedules

    return lambda: schedules.get(name)(**params)


def reader(kind: str, source: str) -> Callable[[], Any]:
    def call() -> Any:
        if kind == "range":
            return RangeTestResult.from_json(source)
        from lrkit.search import SearchResult

        return SearchResult.from_json(source)

    return call


def search_run(**change: Any) -> Callable[[], Any]:
    def call() -> Any:
        from lrkit import search

        arguments = {
            "objective": lambda trial: 0.0,
            "space": {"lr": (1e-4, 1.0)},
            "n_trials": 2,
            "progress": False,
            **change,
        }
        return search.run(**arguments)

    return call


def compare_call(**change: Any) -> Callable[[], Any]:
    def call() -> Any:
        from lrkit.compare import compare

        arguments = {"task": "tabular-mlp", "strategies": ["fixed-lrs"], "out": "c", **change}
        arguments["progress"] = False
        return compare(**arguments)

    return call


def strategy(**fields: Any) -> Callable[[], Any]:
    """A strategy made from ``fields`` and resolved for a 2-epoch run of 10 batches each."""
    from lrkit.compare import Strategy
    from lrkit.compare.resolve import Context

    return lambda: Strategy(**{"name": "s", **fields}).resolve(Context(2, 10), "strategies[0]")


# (call, exception type, pattern the message must match)
API_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("optimizer as a string", find(optimizer="adam"), TypeError, r"optimizer: must be a torch"),
    ("optimizer None", find(optimizer=None), TypeError, r"optimizer"),
    ("model not a module", find(model=lambda x: x), TypeError, r"model: must be a torch\.nn"),
    ("model without parameters", find(model=frozen()), ValueError, r"model: has no trainable"),
    (
        "loss returning a float",
        find(loss_fn=lambda out, y: ((out - y) ** 2).mean().item()),
        TypeError,
        r"loss_fn: must give a scalar loss tensor",
    ),
    (
        "loss with reduction none",
        find(loss_fn=nn.MSELoss(reduction="none")),
        TypeError,
        r"loss_fn: must give a scalar loss",
    ),
    ("cuda without CUDA", find(device="cuda"), ValueError, r"device: 'cuda'"),
    ("empty loader", find(train_loader=[]), ValueError, r"train_loader: the loader yields no"),
    ("batches not pairs", find(train_loader=[torch.ones(4, 3)]), TypeError, r"train_loader"),
    ("start_lr 0", find(start_lr=0.0), ValueError, r"start_lr"),
    ("start_lr nan", find(start_lr=math.nan), ValueError, r"start_lr"),
    ("end_lr inf", find(end_lr=math.inf), ValueError, r"end_lr"),
    ("num_steps 1", find(num_steps=1), ValueError, r"num_steps"),
    ("mode", find(mode="log"), ValueError, r"mode"),
    ("smoothing 1", find(smoothing=1.0), ValueError, r"smoothing"),
    ("diverge_factor 0", find(diverge_factor=0.0), ValueError, r"diverge_factor"),
    ("accumulation 0", find(accumulation_steps=0), ValueError, r"accumulation_steps"),
    ("clip_grad_norm -1", find(clip_grad_norm=-1.0), ValueError, r"clip_grad_norm"),
    ("amp_dtype", find(amp_dtype=torch.float64), ValueError, r"amp_dtype"),
    ("range json corrupt", reader("range", "corrupt.json"), ValueError, r"corrupt\.json"),
    ("range json list", reader("range", "list.json"), ValueError, r"list\.json: expected"),
    ("range json binary", reader("range", "binary.json"), ValueError, r"binary\.json"),
    ("range json empty", reader("range", "empty.json"), ValueError, r"empty\.json"),
    ("range json number", reader("range", "number.json"), ValueError, r"number\.json"),
    ("range json missing", reader("range", "missing.json"), FileNotFoundError, r"missing\.json"),
    (
        "range json a search",
        reader("range", "s-ok/search.json"),
        ValueError,
        r"search\.json: .*field 'lrs'",
    ),
    ("search json corrupt", reader("search", "corrupt.json"), ValueError, r"corrupt\.json"),
    ("search json a range test", reader("search", "good.json"), ValueError, r"kind"),
    ("search json no trials", reader("search", "s-no-trials/search.json"), ValueError, "trials"),
    ("search json bad number", reader("search", "s-number/search.json"), ValueError, "number"),
    ("schedule lr -1", schedule("cosine", lr=-1.0, total_steps=10), ValueError, r"lr"),
    ("schedule lr nan", schedule("cosine", lr=math.nan, total_steps=10), ValueError, r"lr"),
    ("schedule steps 0", schedule("cosine", lr=0.1, total_steps=0), ValueError, r"total_steps"),
    (
        "schedule steps 2.5",
        schedule("cosine", lr=0.1, total_steps=2.5),
        (TypeError, ValueError),
        r"total_steps",
    ),
    ("schedule gamma 2", schedule("exponential", lr=0.1, gamma=2.0), ValueError, r"gamma"),
    (
        "schedule gamma 0",
        schedule("step_decay", lr=0.1, decay_steps=2, gamma=0.0),
        ValueError,
        "gamma",
    ),
    ("schedule step 0", schedule("step_decay", lr=0.1, decay_steps=0), ValueError, r"decay_steps"),
    (
        "schedule milestones",
        schedule("multistep", lr=0.1, milestones=[5, 2]),
        ValueError,
        "milestones",
    ),
    ("schedule unknown", schedule("zigzag"), ValueError, r"zigzag"),
    (
        "schedule unknown param",
        schedule("cosine", lr=0.1, total_steps=5, colour=1),
        TypeError,
        "colour",
    ),
    (
        "schedule one_cycle lr",
        schedule("one_cycle", lr=0.0, total_steps=5),
        ValueError,
        "lr",
    ),
    (
        "schedule triangular floor>lr",
        schedule("triangular", floor=1.0, lr=0.1, up_steps=2),
        ValueError,
        r"lr: must be >= floor",
    ),
    ("search sampler", search_run(sampler="annealing"), ValueError, r"sampler"),
    ("search pruner", search_run(pruner="early"), ValueError, r"pruner"),
    ("search n_trials 0", search_run(n_trials=0), ValueError, r"n_trials"),
    ("search n_trials text", search_run(n_trials="3"), TypeError, r"n_trials"),
    ("search direction", search_run(direction="up"), ValueError, r"direction"),
    ("search workers 0", search_run(workers=0), ValueError, r"workers"),
    ("search workers in memory", search_run(workers=2), ValueError, r"workers"),
    ("search workers in 'memory'", search_run(workers=2, storage="memory"), ValueError, r"workers"),
    ("search sqlite", search_run(storage="sqlite:///x.db"), ValueError, r"storage: SQLite"),
    ("search backend", search_run(backend="dask"), ValueError, r"backend"),
    ("search lr reversed", search_run(space={"lr": (1.0, 1e-4)}), ValueError, r"lr"),
    ("search lr zero", search_run(space={"lr": (0.0, 1.0)}), ValueError, r"lr"),
    ("search objective", search_run(objective=3), TypeError, r"objective"),
    ("compare seeds 0", compare_call(seeds=0), ValueError, r"seeds"),
    ("compare seeds twice", compare_call(seeds=[1, 1]), ValueError, r"seeds"),
    ("compare seeds bool", compare_call(seeds=True), TypeError, r"seeds"),
    ("compare jobs 0", compare_call(jobs=0), ValueError, r"jobs"),
    ("compare out a file", compare_call(out="afile"), ValueError, r"out: afile"),
    ("compare epochs 0", compare_call(epochs=0), ValueError, r"epochs"),
    ("compare no strategies", compare_call(strategies=[]), ValueError, r"strategies"),
    ("compare strategy type", compare_call(strategies=[3]), TypeError, r"strategies\[0\]"),
    ("compare preset", compare_call(strategies=["best"]), ValueError, r"best"),
    (
        "compare range test",
        compare_call(range_test_settings={"num_steps": 1}),
        ValueError,
        "range_test_settings.num_steps",
    ),
    ("strategy lr -1", strategy(lr=-1.0), ValueError, r"lr"),
    ("strategy optimizer", strategy(optimizer="lion", lr=0.1), ValueError, r"optimizer"),
    ("strategy schedule", strategy(lr=0.1, schedule={"name": "zigzag"}), ValueError, r"zigzag"),
]


@pytest.mark.parametrize(
    ("call", "error", "pattern"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_a_bad_api_call_raises_naming_the_argument(
    call: Callable[[], Any], error: Any, pattern: str, unchanged: Path
) -> None:
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    assert len(message.splitlines()) == 1, message
    assert re.search(pattern, message), message


def test_there_are_at_least_150_cases() -> None:
    assert len(CLI_CASES) + len(API_CASES) >= 150


def test_debug_shows_the_traceback_the_one_line_error_hides(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.csv"
    assert main(["doctor", str(missing)]) == 2
    assert "missing.csv" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        main(["--debug", "doctor", str(missing)])
