"""Properties every schedule has, over randomly drawn valid parameters (hypothesis)."""

from __future__ import annotations

import json
import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lrkit import schedules as S

lrs = st.floats(1e-6, 10.0)
fractions = st.floats(0.01, 0.99)
sizes = st.integers(1, 5000)


@st.composite
def cyclical(draw: st.DrawFn) -> S.Schedule:
    low = draw(lrs)
    high = low * draw(st.floats(1.0, 100.0))
    up, down = draw(sizes), draw(st.none() | sizes)
    kind = draw(st.sampled_from(["triangular", "triangular2", "exp_range"]))
    if kind == "exp_range":
        return S.exp_range(low, high, up, down, gamma=draw(st.floats(0.99, 1.0)))
    return S.get(kind)(low, high, up, down)


@st.composite
def one_cycle(draw: st.DrawFn) -> S.Schedule:
    three = draw(st.booleans())
    total = draw(st.integers(20, 20000))
    return S.one_cycle(
        draw(lrs),
        total,
        pct_start=draw(st.floats(0.1, 0.45)),
        anneal=draw(st.sampled_from(["cos", "linear"])),
        div_factor=draw(st.floats(1.0, 100.0)),
        final_div_factor=draw(st.floats(1.0, 1e4)),
        three_phase=three,
    )


@st.composite
def with_floor(draw: st.DrawFn, name: str) -> S.Schedule:
    lr = draw(lrs)
    floor = lr * draw(st.floats(0.0, 0.99))
    if name == "cosine":
        return S.cosine(lr, draw(sizes), floor=floor)
    if name == "cosine_restarts":
        return S.cosine_restarts(
            lr, draw(sizes), draw(st.floats(1.0, 3.0)), draw(st.floats(0.1, 1.0)), floor
        )
    total = draw(st.integers(2, 20000))
    decay = draw(st.integers(1, total))
    warm = draw(st.integers(0, total - decay))
    start = lr * draw(st.floats(0.0, 1.0))
    return S.wsd(
        lr, total, decay, warm, start, floor, draw(st.sampled_from(["linear", "cos", "sqrt"]))
    )


@st.composite
def stepwise(draw: st.DrawFn) -> S.Schedule:
    milestones = sorted(draw(st.sets(st.integers(1, 20000), min_size=1, max_size=6)))
    boundaries = sorted(draw(st.sets(st.integers(0, 20000), max_size=6)))
    return draw(
        st.sampled_from(
            [
                S.constant(draw(lrs)),
                S.step_decay(draw(lrs), draw(sizes), draw(fractions), draw(st.booleans())),
                S.multistep(draw(lrs), milestones, draw(fractions)),
                S.piecewise_constant(boundaries, [draw(lrs) for _ in range(len(boundaries) + 1)]),
            ]
        )
    )


@st.composite
def decays(draw: st.DrawFn) -> S.Schedule:
    staircase = draw(st.booleans())
    steps = draw(sizes)
    a, b = draw(st.floats(0.0, 10.0)), draw(lrs)
    return draw(
        st.sampled_from(
            [
                S.exponential(
                    draw(lrs), gamma=draw(fractions), decay_steps=steps, staircase=staircase
                ),
                S.exponential(draw(lrs), rate=draw(st.floats(1e-6, 1.0)), decay_steps=steps),
                S.inverse_time(draw(lrs), draw(st.floats(1e-6, 10.0)), steps, staircase),
                S.linear(a, b, steps) if draw(st.booleans()) else S.linear(b, a, steps),
                S.polynomial(
                    draw(lrs), steps, draw(st.floats(0.0, 1.0)), draw(st.floats(0.1, 5.0))
                ),
            ]
        )
    )


@st.composite
def interpolations(draw: st.DrawFn) -> S.Schedule:
    knots = sorted(draw(st.sets(st.integers(0, 40000), min_size=2, max_size=6)))
    knots = [k / 2 for k in knots]  # steps, or half steps as one_cycle's knots can be
    values = [draw(lrs) for _ in knots]
    return S.interpolate(knots, values, draw(st.sampled_from(["linear", "cos"])))


base = st.one_of(
    stepwise(),
    decays(),
    with_floor("cosine"),
    with_floor("cosine_restarts"),
    with_floor("wsd"),
    cyclical(),
    one_cycle(),
    interpolations(),
)


@st.composite
def combined(draw: st.DrawFn) -> S.Schedule:
    kind = draw(st.sampled_from(["warmup", "sequence", "scale"]))
    if kind == "warmup":
        return S.warmup(draw(base), draw(sizes), draw(st.floats(0.0, 1.0)))
    if kind == "scale":
        return S.scale(draw(base), draw(st.floats(0.01, 100.0)))
    parts = draw(st.lists(base, min_size=1, max_size=4))
    cuts = sorted(
        draw(st.sets(st.integers(1, 20000), min_size=len(parts) - 1, max_size=len(parts) - 1))
    )
    return S.sequence(parts, cuts)


any_schedule = base | combined()
steps = st.lists(st.integers(0, 60000), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(any_schedule, steps)
def test_values_are_finite_non_negative_and_within_bounds(
    schedule: S.Schedule, ts: list[int]
) -> None:
    low, high = schedule.bounds()
    assert 0 <= low <= high
    values = schedule(np.array(ts))
    slack = 1e-12 * high
    assert np.all(np.isfinite(values))
    assert np.all(values >= low - slack) and np.all(values <= high + slack)
    if low > 0:
        assert np.all(values > 0)


@settings(max_examples=300, deadline=None)
@given(any_schedule, steps)
def test_one_step_and_many_steps_agree(schedule: S.Schedule, ts: list[int]) -> None:
    many = schedule(np.array(ts))
    one = np.array([schedule(t) for t in ts])
    np.testing.assert_allclose(one, many, rtol=1e-12, atol=1e-300)


@settings(max_examples=200, deadline=None)
@given(any_schedule, steps)
def test_round_trips_through_json_and_pickle(schedule: S.Schedule, ts: list[int]) -> None:
    from_json = S.from_dict(json.loads(json.dumps(schedule.to_dict())))
    unpickled = pickle.loads(pickle.dumps(schedule))
    assert from_json == schedule and unpickled == schedule
    t = np.array(ts)
    assert np.array_equal(from_json(t), schedule(t))
    assert np.array_equal(unpickled(t), schedule(t))


@settings(max_examples=200, deadline=None)
@given(any_schedule, st.integers(0, 10**6))
def test_value_is_held_past_the_planned_length(schedule: S.Schedule, extra: int) -> None:
    end = schedule.duration
    if end is not None:
        assert schedule(end + extra) == schedule(end)


@settings(max_examples=200, deadline=None)
@given(cyclical() | one_cycle(), st.floats(0.5, 0.9), st.floats(0.0, 0.09), steps)
def test_momentum_curves_stay_within_their_bounds(
    schedule: S.Schedule, low: float, gap: float, ts: list[int]
) -> None:
    momentum = schedule.momentum(low, low + gap)  # type: ignore[attr-defined]
    values = momentum(np.array(ts))
    assert np.all(values >= low - 1e-12) and np.all(values <= low + gap + 1e-12)
    assert momentum(0) == low + gap or gap == 0  # both curves start with momentum at its high
