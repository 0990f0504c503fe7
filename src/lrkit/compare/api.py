"""``compare``: run every (strategy, seed) on a task, store each run as it finishes, resume.

The order of work: build the task once (for its default epochs and batches per epoch),
check every strategy, run one range test per optimizer that a ``found`` word needs (with the
first seed; stored, so a resumed comparison does not repeat it), resolve each strategy (its
values turned into numbers), then train the runs not yet stored on ``jobs`` worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lrkit import __version__
from lrkit.compare.presets import merge, preset
from lrkit.compare.resolve import Context, placeholder
from lrkit.compare.results import Results
from lrkit.compare.runner import Job, run_jobs
from lrkit.compare.store import FAILED, FILENAME, FINISHED, Store
from lrkit.compare.strategy import Strategy
from lrkit.rangetest import RangeTestSettings

#: The range test behind ``found`` sweeps this many steps unless told otherwise, not the 100
#: of :class:`lrkit.RangeTestSettings`: ``compare`` has always swept 200 (its CLI's
#: ``--range-steps`` says so), every stored comparison records it among its fixed settings,
#: and a different default would refuse to resume every one of them.
RANGE_TEST_STEPS = 200
#: What a ``range_test_settings`` mapping extends: the sweep's bounds from
#: :class:`lrkit.RangeTestSettings` and :data:`RANGE_TEST_STEPS` (any ``lrkit.torch.find_lr``
#: keyword may be given).
RANGE_TEST_DEFAULTS: dict[str, Any] = {
    "start_lr": RangeTestSettings.start_lr,
    "end_lr": RangeTestSettings.end_lr,
    "num_steps": RANGE_TEST_STEPS,
}

#: Settings that must match to resume a comparison in the same directory.
FIXED_SETTINGS = ("task", "epochs", "batch_size", "range_test_settings")


def compare(
    task: str,
    strategies: Sequence[Strategy | str],
    *,
    out: str | Path,
    epochs: int | None = None,
    seeds: int | Sequence[int] = 1,
    jobs: int = 1,
    batch_size: int | None = None,
    range_test_settings: RangeTestSettings | Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **renamed: Any,
) -> Results:
    """Train ``task`` with every strategy and seed; return all results stored in ``out``.

    ``strategies``: :class:`Strategy` objects and/or preset names (``"fixed-lrs"``, ...),
    expanded for this task's budget. ``seeds``: a count ``n`` (seeds ``0 … n-1``) or the
    seeds themselves. Finished runs already stored in ``out`` are skipped, so calling again
    after an interruption resumes; ``overwrite=True`` discards them first. Raises
    ``ValueError`` when ``out`` holds a comparison with other fixed settings (task, epochs,
    batch size, range test).

    ``range_test_settings``: the settings of the range test behind ``found`` values, a
    :class:`lrkit.RangeTestSettings` or a mapping of its fields and of other
    :func:`lrkit.torch.find_lr` keywords (a mapping extends :data:`RANGE_TEST_DEFAULTS`:
    without ``num_steps`` it sweeps :data:`RANGE_TEST_STEPS` steps). Its earlier name,
    ``range_test=``, still works with a ``DeprecationWarning``.
    """
    range_test_settings, given = _renamed_settings(range_test_settings, renamed)
    seed_list = _seeds(seeds)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: must be an integer >= 1, got {jobs!r}")
    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"out: {directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    if overwrite:
        (directory / FILENAME).unlink(missing_ok=True)

    from lrkit import tasks

    sample = tasks.get(task, seed=seed_list[0], batch_size=batch_size)
    epochs = _epochs(sample.default_epochs if epochs is None else epochs)
    steps = len(sample.train_loader)
    chosen = _expand(strategies, epochs, steps)
    sweep = _range_settings(range_test_settings, given)
    for i, strategy in enumerate(chosen):
        strategy.resolve(placeholder(epochs, steps), f"strategies[{i}]")

    with Store(directory) as store:
        stored_seeds = store.settings().get("seeds", [])
        store.check_settings(
            {
                "task": task,
                "epochs": epochs,
                "batch_size": batch_size,
                "range_test_settings": sweep,
                "metric": sample.metric_name,
                "steps_per_epoch": steps,
                "seeds": sorted(set(stored_seeds) | set(seed_list)),
                "lrkit_version": __version__,
            },
            FIXED_SETTINGS,
            {"range_test_settings": given},
        )
        contexts = _range_tests(store, chosen, sample, sweep, epochs, steps, progress)
        finished = store.finished()
        todo: list[Job] = []
        for strategy in chosen:
            context = contexts.get(strategy.range_test_key, Context(epochs, steps))
            try:
                resolved: dict[str, Any] | None = strategy.resolve(context)
                error = None
            except ValueError as exc:
                resolved, error = None, str(exc)
            store.add_strategy(strategy.to_dict(), resolved)
            for seed in seed_list:
                if (strategy.name, seed) in finished:
                    continue
                if resolved is None:
                    store.put_run(strategy.name, seed, FAILED, error=error)
                    continue
                todo.append(Job(strategy.name, seed, resolved, task, epochs, batch_size))

        def on_result(job: Job, record: dict[str, Any] | None, error: str | None) -> None:
            status = FINISHED if record is not None else FAILED
            store.put_run(job.strategy, job.seed, status, record=record, error=error)

        run_jobs(todo, on_result, workers=jobs, progress=progress)
    return Results.load(directory)


def _expand(strategies: Sequence[Strategy | str], epochs: int, steps: int) -> list[Strategy]:
    """Strategies with preset names replaced by their strategies; each name once."""
    if isinstance(strategies, (str, Strategy)):
        strategies = [strategies]
    groups: list[list[Strategy]] = []
    for i, item in enumerate(strategies):
        if isinstance(item, str):
            groups.append(preset(item, epochs=epochs, steps_per_epoch=steps))
        elif isinstance(item, Strategy):
            groups.append([item])
        else:
            raise TypeError(
                f"strategies[{i}]: must be a Strategy or a preset name, got {type(item).__name__}"
            )
    if not groups:
        raise ValueError("strategies: give at least one strategy (a preset or a file)")
    return merge(*groups)


def _seeds(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, bool):
        raise TypeError(f"seeds: must be a count or a list of integers, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds: must be >= 1, got {seeds}")
        return list(range(seeds))
    values = list(seeds)
    if not values or not all(isinstance(s, int) and not isinstance(s, bool) for s in values):
        raise ValueError(f"seeds: must be a non-empty list of integers, got {seeds!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"seeds: each seed may appear once, got {values!r}")
    return values


def _epochs(epochs: Any) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs: must be an integer >= 1, got {epochs!r}")
    return epochs


def _renamed_settings(
    range_test_settings: RangeTestSettings | Mapping[str, Any] | None, renamed: dict[str, Any]
) -> tuple[RangeTestSettings | Mapping[str, Any] | None, str]:
    """The range-test settings given to :func:`compare` and the name they were given by:
    ``range_test_settings``, or its earlier name ``range_test`` (with a ``DeprecationWarning``;
    elsewhere in lrkit ``range_test=`` takes a range-test result)."""
    unknown = [key for key in renamed if key != "range_test"]
    if unknown:
        raise TypeError(f"compare() got an unexpected keyword argument {unknown[0]!r}")
    if "range_test" not in renamed:
        return range_test_settings, "range_test_settings"
    if range_test_settings is not None:
        raise TypeError(
            "compare(): got range_test and its new name range_test_settings; "
            "give only range_test_settings"
        )
    warnings.warn(
        "compare(): parameter 'range_test' is now called 'range_test_settings' (range_test= "
        "takes a range-test result elsewhere in lrkit); the old name will stop working in "
        "lrkit 1.0",
        DeprecationWarning,
        stacklevel=3,
    )
    return renamed["range_test"], "range_test"


def _range_settings(
    settings: RangeTestSettings | Mapping[str, Any] | None, name: str = "range_test_settings"
) -> dict[str, Any]:
    """The range test's keywords for ``find_lr``, as stored among the fixed settings; an
    error names the argument ``name`` they were given by."""
    if isinstance(settings, RangeTestSettings):
        return settings.to_dict()
    if settings is not None and not isinstance(settings, Mapping):
        raise TypeError(
            f"{name}: must be a RangeTestSettings, a mapping or None, got {type(settings).__name__}"
        )
    sweep = {**RANGE_TEST_DEFAULTS, **dict(settings or {})}
    try:
        _split(sweep)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}.{exc}") from None
    return json.loads(json.dumps(sweep))


def _split(sweep: Mapping[str, Any]) -> tuple[RangeTestSettings, dict[str, Any]]:
    """``sweep``'s settings (checked) and its other ``find_lr`` keywords."""
    names = {f.name for f in dataclasses.fields(RangeTestSettings)}
    settings = RangeTestSettings.from_dict({k: v for k, v in sweep.items() if k in names})
    return settings, {k: v for k, v in sweep.items() if k not in names}


def _range_tests(
    store: Store,
    strategies: Sequence[Strategy],
    task: Any,
    sweep: dict[str, Any],
    epochs: int,
    steps: int,
    progress: bool,
) -> dict[str, Context]:
    """Run (or read back) one range test per optimizer a ``found`` word needs, and its probe
    when ``found.probed`` does; both are stored with the range test."""
    from lrkit.probe import ProbeResult, probe_steps
    from lrkit.rangetest import RangeTestResult
    from lrkit.suggest import SuggestionError
    from lrkit.torch import find_lr, probe_lr
    from lrkit.torch.optimizers import make_optimizer as make

    settings, keywords = _split(sweep)
    contexts: dict[str, Context] = {}
    for strategy in strategies:
        key = strategy.range_test_key
        if not strategy.needs_range_test or key in contexts:
            continue
        stored = store.range_test(key)

        def make_optimizer(strategy: Strategy = strategy) -> Any:
            return make(
                strategy.optimizer,
                task.model.parameters(),
                lr=settings.start_lr,
                **dict(strategy.optimizer_params),
            )

        if stored is None:
            try:
                found = find_lr(
                    task.model,
                    make_optimizer(),
                    task.loss_fn,
                    task.train_loader,
                    settings=settings,
                    progress=progress,
                    **keywords,
                )
            except (ValueError, RuntimeError) as exc:
                stored = (None, f"range test for {strategy.optimizer}: {exc}")
            else:
                found.settings.update(optimizer_name=strategy.optimizer)
                stored = (found.to_dict(), None)
            store.put_range_test(key, *stored)
        data, error = stored
        needs_probe = any(s.needs_probe for s in strategies if s.range_test_key == key)
        if data is not None and needs_probe and "probe" not in data:
            try:
                probed = probe_lr(
                    task.model,
                    make_optimizer(),
                    task.loss_fn,
                    task.train_loader,
                    candidates=RangeTestResult.from_dict(data),
                    steps=probe_steps(epochs * steps),
                    progress=progress,
                )
                data = {**data, "probe": probed.to_dict()}
            except (ValueError, RuntimeError) as exc:
                data = {**data, "probe": None, "probe_error": f"probe: {exc}"}
            store.put_range_test(key, data, error)
        suggested = probed_lr = None
        bounds: tuple[float | None, float | None] = (None, None)
        if data is not None:
            result = RangeTestResult.from_dict(data)
            try:
                suggested = result.suggestion
            except SuggestionError as exc:
                error = str(exc)
            try:
                bounds = result.clr_bounds()
            except SuggestionError as exc:
                error = error or str(exc)
            if data.get("probe") is not None:
                try:
                    probed_lr = ProbeResult.from_dict(data["probe"]).suggestion
                except SuggestionError as exc:
                    error = error or str(exc)
            error = error or data.get("probe_error")
        contexts[key] = Context(epochs, steps, suggested, *bounds, probed=probed_lr, reason=error)
    return contexts
