"""A schedule is an optax schedule: ``count -> value``, under ``jax.jit`` too.

The first tests need only numpy (the callable contract optax relies on: an integer count in,
a scalar out, arrays element-wise); the rest run when jax / optax are installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrkit import schedules as S

CASES = [
    S.warmup(S.cosine(0.1, 900, floor=1e-3), 100, start=1e-3),
    S.one_cycle(0.1, 1000, three_phase=True),
    S.cosine_restarts(0.1, 50, cycle_mult=2.0, decay=0.7),
    S.triangular2(0.01, 0.1, 64),
    S.multistep(0.1, [200, 600]),
    S.piecewise_constant([100, 300], [0.1, 0.05, 0.01]),
    S.sequence([S.linear(0.0, 0.1, 50), S.exponential(0.1, rate=0.002)], [50]),
    S.wsd(0.1, 1000, 200, 100, decay="sqrt"),
]


@pytest.mark.parametrize("schedule", CASES, ids=lambda s: s.name)
def test_numpy_count_contract(schedule: S.Schedule) -> None:
    counts = np.arange(0, 1200, 7, dtype=np.int32)  # optax keeps its step count as int32
    values = schedule(counts)
    assert values.shape == counts.shape and values.dtype == np.float64
    for count, value in zip(counts[:20], values[:20], strict=True):
        one = schedule(count)  # a numpy integer scalar, as optax hands out
        assert isinstance(one, float) and one == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("schedule", CASES, ids=lambda s: s.name)
def test_jax_jit(schedule: S.Schedule) -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    counts = jnp.arange(0, 1200, 7, dtype=jnp.int32)
    values = jax.jit(schedule)(counts)
    assert values.dtype == jnp.float32  # jax's default precision, as optax uses it
    np.testing.assert_allclose(
        np.asarray(values), schedule(np.asarray(counts)), rtol=2e-5, atol=1e-9
    )


def test_jax_scalar_count_and_vmap() -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    schedule = CASES[1]
    assert float(jax.jit(schedule)(jnp.int32(321))) == pytest.approx(schedule(321), rel=2e-6)
    counts = jnp.arange(0, 1000, 9, dtype=jnp.int32)
    mapped = jax.vmap(schedule)(counts)
    np.testing.assert_allclose(np.asarray(mapped), schedule(np.asarray(counts)), rtol=2e-5)


def test_optax_sgd_steps_with_the_schedule() -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    optax = pytest.importorskip("optax")
    schedule = S.warmup(S.cosine(0.1, 40), 10, start=0.01)
    optimizer = optax.sgd(learning_rate=schedule)
    params = jnp.array([1.0, -2.0])
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    grads = jnp.array([0.5, 1.5])
    for step in range(60):
        updates, state = update(grads, state, params)
        expected = -schedule(step) * np.asarray(grads)
        np.testing.assert_allclose(np.asarray(updates), expected, rtol=1e-5, atol=1e-8)
    injected = optax.inject_hyperparams(optax.adam)(learning_rate=schedule)
    state = injected.init(params)
    for _ in range(12):
        _, state = injected.update(grads, state, params)
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(schedule(11), rel=1e-6)


def test_reduce_on_plateau_refuses_jax_values_and_names_the_jit_safe_ways():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    from lrkit.schedules.plateau import ReduceOnPlateau

    plateau = ReduceOnPlateau(0.1, patience=0)
    plateau.update(1.0, 0)
    plateau.update(2.0, 1)  # a reduction: the rate is now 0.01
    assert plateau(2) == pytest.approx(0.01)
    for call in (plateau, jax.jit(plateau)):
        with pytest.raises(
            TypeError, match="step: ReduceOnPlateau got a JAX value.*inject_hyperparams"
        ):
            call(jnp.asarray(2))
