"""Random streams (issue 11 item 3): Philox-4x32-10 draws, the same on the interpreter and the C target.

Oracles: Random123's published known-answer vectors for philox4x32_10 (the generator itself, through the
numpy implementation and through draws on each target), the interpreter (the C target's bits), and
statistics (moments within 5 standard errors, every value hit, permutations)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorir
from tensorir import TirError
from tensorir import tensor as T
from tensorir.dialects.random import philox4x32

TARGETS = ["interp", pytest.param("c", marks=pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler for the C target"))]
SEED = 20261203
N = 100_000
M32 = 0xFFFFFFFF

# Random123 kat_vectors, philox4x32 10 rounds: (counter words, key words, output words).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M32, M32, M32, M32), (M32, M32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def test_philox_known_answers() -> None:
    for counter, key, want in KAT:
        assert [int(w) for w in philox4x32(counter, key)] == list(want)


def _state_of(counter: tuple[int, ...], key: tuple[int, ...]) -> np.ndarray:
    """The [key, stream, pos] state whose block 0 has this Philox counter and key."""
    return np.array([key[0] | key[1] << 32, counter[2] | counter[3] << 32, counter[0] | counter[1] << 32],
                    dtype=np.uint64)


@pytest.mark.parametrize("target", TARGETS)
def test_draws_map_known_answer_words_as_documented(target: str) -> None:
    rng = tensorir.RandomStreams(0)
    f = tensorir.function([], [rng.uniform((4,), dtype="float32"), rng.uniform((2,), dtype="float64")],
                          target=target)
    for counter, key, w in KAT:
        for state, _ in rng.state_updates:
            state.set_value(_state_of(counter, key))
        u32, u64 = f()
        np.testing.assert_array_equal(u32, np.array([x >> 8 for x in w], np.float32) * np.float32(2.0 ** -24))
        np.testing.assert_array_equal(u64, [((w[0] >> 5) * 2 ** 26 + (w[1] >> 6)) * 2.0 ** -53,
                                            ((w[2] >> 5) * 2 ** 26 + (w[3] >> 6)) * 2.0 ** -53])
        # the call advanced pos by one block (4 words for each draw)
        pos = (int(_state_of(counter, key)[2]) + 1) % 2 ** 64
        assert all(int(s.get_value()[2]) == pos for s, _ in rng.state_updates)


def _battery() -> tuple[tensorir.RandomStreams, list[tensorir.Variable]]:
    """One graph holding every distribution, so that each target compiles once (n: a run-time size)."""
    rng = tensorir.RandomStreams(SEED)
    n = T.lscalar("n")
    outs = [
        rng.uniform((N,), dtype="float32"), rng.uniform((N,), dtype="float64"),
        rng.normal((N,), dtype="float32"), rng.normal((N,), dtype="float64"),
        rng.bernoulli((N,), p=0.3), rng.binomial((N,), n=5, p=0.4),
        rng.integers(3, 10, size=(1000,)), rng.permutation(50),
        rng.choice(4, size=(N,), p=[0.1, 0.2, 0.3, 0.4]), rng.choice(np.arange(10.0) * 10, size=(10,), replace=False),
        rng.choice(np.array([2.0, 4.0, 8.0]), size=(1000,)),
        rng.uniform((n, 3), low=-2.0, high=3.0, dtype="float32"), rng.normal((n,), avg=5.0, std=0.5, dtype="float64"),
    ]
    return rng, [n, *outs]


@pytest.fixture(scope="module")
def battery() -> dict[str, tuple[tensorir.RandomStreams, tensorir.Function]]:
    out = {}
    for target in ("interp", "c"):
        rng, (n, *outs) = _battery()
        out[target] = (rng, tensorir.function([n], outs, target=target))
    return out


def _draw(battery: dict, target: str, n: int = 7) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng, f = battery[target]
    rng.seed(SEED)
    first = f(n)
    return first, f(n)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_same_seed_same_numbers_on_interp_and_c(battery: dict) -> None:
    interp, c = _draw(battery, "interp"), _draw(battery, "c")
    # normal draws: log/cos/sin of each target's math library; low + (high - low) * u and avg + std * z: the C
    # compiler may fuse the multiply-add. A few ulps.
    close = {2, 3, 11, 12}
    for call in range(2):
        for k, (a, b) in enumerate(zip(interp[call], c[call])):
            assert a.dtype == b.dtype and a.shape == b.shape, k
            if k in close:
                np.testing.assert_allclose(a, b, rtol=4 * np.finfo(a.dtype).eps, atol=4 * np.finfo(a.dtype).eps)
            else:  # bit for bit
                np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8), err_msg=f"output {k}")
    states = [[s.get_value() for s, _ in battery[t][0].state_updates] for t in ("interp", "c")]
    np.testing.assert_array_equal(states[0], states[1])


@pytest.mark.parametrize("target", TARGETS)
def test_each_call_draws_new_numbers_and_reseeding_repeats_them(battery: dict, target: str) -> None:
    first, second = _draw(battery, target)
    for a, b in zip(first[:6] + first[8:9], second[:6] + second[8:9]):
        assert not np.array_equal(a, b)
    again, _ = _draw(battery, target)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # distinct draws of one function use distinct streams
    assert not np.array_equal(first[0], first[2].astype(np.float32))
    assert not np.array_equal(first[1][:N // 2], first[1][N // 2:])


@pytest.mark.parametrize("target", TARGETS)
def test_moments_within_statistical_bounds(battery: dict, target: str) -> None:
    out, _ = _draw(battery, target, n=20_001)

    def near(x: np.ndarray, mean: float, sd: float) -> None:
        x = x.astype(np.float64).ravel()
        assert abs(x.mean() - mean) < 5 * sd / np.sqrt(x.size), (x.mean(), mean)

    for u, dt in zip(out[:2], (np.float32, np.float64)):
        assert u.dtype == dt and u.min() >= 0 and u.max() < 1
        near(u, 0.5, np.sqrt(1 / 12))
        near((u - 0.5) ** 2, 1 / 12, np.sqrt(1 / 80 - 1 / 144))  # the variance
    for z, dt in zip(out[2:4], (np.float32, np.float64)):
        assert z.dtype == dt
        near(z, 0.0, 1.0)
        near(z ** 2, 1.0, np.sqrt(2.0))
        near(z[0::2] * z[1::2], 0.0, 1.0)  # the pair's two values are uncorrelated
    bern, binom = out[4], out[5]
    assert bern.dtype == np.int64 and set(np.unique(bern)) == {0, 1}
    near(bern, 0.3, np.sqrt(0.3 * 0.7))
    assert binom.min() >= 0 and binom.max() <= 5
    near(binom, 2.0, np.sqrt(5 * 0.4 * 0.6))
    u, z = out[11], out[12]
    assert u.shape == (20_001, 3) and u.dtype == np.float32 and u.min() >= -2 and u.max() < 3
    near(u, 0.5, 5 / np.sqrt(12))
    near(z, 5.0, 0.5)


@pytest.mark.parametrize("target", TARGETS)
def test_integers_permutation_and_choice(battery: dict, target: str) -> None:
    out, _ = _draw(battery, target)
    ints, perm, weighted, distinct, picked = out[6:11]
    assert ints.dtype == np.int64 and set(np.unique(ints)) == set(range(3, 10))
    np.testing.assert_array_equal(np.sort(perm), np.arange(50))
    assert not np.array_equal(perm, np.arange(50))
    counts = np.bincount(weighted, minlength=4)
    assert len(counts) == 4
    for c, p in zip(counts, (0.1, 0.2, 0.3, 0.4)):
        assert abs(c / N - p) < 5 * np.sqrt(p * (1 - p) / N), (c, p)
    np.testing.assert_array_equal(np.sort(distinct), np.arange(10.0) * 10)
    assert set(np.unique(picked)) == {2.0, 4.0, 8.0}


def test_a_new_randomstreams_with_the_seed_repeats_and_another_seed_differs() -> None:
    draws = []
    for seed in (SEED, SEED, SEED + 1):
        rng = tensorir.RandomStreams(seed)
        draws.append(tensorir.function([], rng.normal((2, 3)), target="interp")())
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


def test_theano_names() -> None:
    assert T.shared_randomstreams.RandomStreams is tensorir.RandomStreams
    from tensorir.tensor.shared_randomstreams import RandomStreams
    assert RandomStreams is tensorir.RandomStreams


@pytest.mark.parametrize("target", TARGETS)
def test_updates_given_override_the_default_update(target: str) -> None:
    rng = tensorir.RandomStreams(3)
    u = rng.uniform((4,))
    state = rng.state_updates[0][0]
    frozen = tensorir.function([], u, updates=[(state, state)], target=target)
    first = frozen()
    np.testing.assert_array_equal(frozen(), first)
    advancing = tensorir.function([], u, target=target)
    np.testing.assert_array_equal(advancing(), first)
    assert not np.array_equal(frozen(), first)
    other = tensorir.function([], T.zeros((2,)), target=target)  # reads no stream: updates none
    before = state.get_value()
    other()
    np.testing.assert_array_equal(state.get_value(), before)


@pytest.mark.parametrize("target", TARGETS)
def test_gradient_flows_through_the_parameters(target: str) -> None:
    lo, hi, mu, sd = T.dscalar("lo"), T.dscalar("hi"), T.dscalar("mu"), T.dscalar("sd")
    rng = tensorir.RandomStreams(5)
    x = rng.uniform((50,), low=lo, high=hi)
    y = rng.normal((50,), avg=mu, std=sd)
    cost = x.sum() + (y * y).sum()
    f = tensorir.function([lo, hi, mu, sd], [x, y, *tensorir.grad(cost, [lo, hi, mu, sd])], target=target)
    xv, yv, glo, ghi, gmu, gsd = f(1.0, 3.0, 0.5, 2.0)
    u, z = (xv - 1.0) / 2.0, (yv - 0.5) / 2.0
    np.testing.assert_allclose([glo, ghi], [np.sum(1 - u), np.sum(u)], rtol=1e-9)
    np.testing.assert_allclose([gmu, gsd], [np.sum(2 * yv), np.sum(2 * yv * z)], rtol=1e-9)


@pytest.mark.parametrize("target", TARGETS)
def test_a_state_of_the_wrong_length_is_an_error(target: str) -> None:
    rng = tensorir.RandomStreams(1)
    f = tensorir.function([], rng.uniform((3,)), target=target)
    rng.state_updates[0][0].set_value(np.zeros(4, np.uint64))
    with pytest.raises(TirError, match=r"'random.uniform' op state must hold 3 words \[key, stream, pos\], got 4"):
        f()


def test_choice_without_replacement_with_p_is_not_supported_yet() -> None:
    with pytest.raises(tensorir.NotSupportedError, match="replace=False and p"):
        tensorir.RandomStreams(1).choice(3, size=(2,), replace=False, p=[0.2, 0.3, 0.5])


def test_permutation_and_choice_of_a_symbolic_vector() -> None:
    x = T.dvector("x")
    rng = tensorir.RandomStreams(9)
    f = tensorir.function([x], [rng.permutation(x), rng.choice(x, size=(200,)), rng.uniform((x.shape[0], 2))],
                          target="interp")
    a = np.array([1.5, -2.0, 7.0, 0.25, 3.0])
    perm, picked, u = f(a)
    np.testing.assert_array_equal(np.sort(perm), np.sort(a))
    assert set(picked) == set(a) and u.shape == (5, 2)


def test_every_random_op_is_declared_tested_and_lowered() -> None:
    from pathlib import Path

    from tensorir.backends.cstyle import EXPR
    from tensorir.dialects import random as R
    from tensorir.ir.core import Operation
    from tensorir.passes.bufferize_rules import RULES

    ir = Path(__file__).parent / "ir"
    golden, invalid = (ir / "random.tir").read_text(), (ir / "random-invalid.tir").read_text()
    for cls in R.DIALECT.ops:
        assert cls.__doc__ and cls.name in cls.__doc__, f"{cls.name}: the docstring shows the printed op"
        assert cls.interpret is not Operation.interpret, f"{cls.name} has no interpreter rule"
        assert cls in RULES or cls in EXPR, f"{cls.name} has no bufferize rule or C expression"
        assert f"= {cls.name} " in golden and f"'{cls.name}' op" in invalid, f"{cls.name}: golden and error tests"


def test_tensor_probabilities_and_theano_methods() -> None:
    p = T.dvector("p")
    rng = tensorir.RandomStreams(11)
    f = tensorir.function([p], [rng.binomial((4000, 2), n=3, p=p), rng.random_integers((2000,), 1, 4)],
                          target="interp")
    counts, ints = f([0.1, 0.9])
    assert counts.shape == (4000, 2) and counts.dtype == np.int64
    for mean, sd, col in zip((0.3, 2.7), (np.sqrt(3 * 0.09), np.sqrt(3 * 0.09)), counts.T):
        assert abs(col.mean() - mean) < 5 * sd / np.sqrt(4000)
    assert set(np.unique(ints)) == {1, 2, 3, 4}
    assert [s for s, _ in rng.updates()] == [s for s, _ in rng.state_updates] and len(rng.updates()) == 2


def test_draws_of_an_integer_dtype_are_refused() -> None:
    with pytest.raises(TirError, match="RandomStreams draws floats: dtype must be a float type, got i32"):
        tensorir.RandomStreams(1).normal((2,), dtype="int32")


def test_an_empty_integer_range_is_an_error_at_the_users_line() -> None:
    srng = tensorir.RandomStreams(seed=1)
    with pytest.raises(tensorir.TirValueError, match=r"test_random\.py:\d+: integers: low >= high \(5 >= 2\)"):
        srng.integers(5, 2, size=(3,))
