"""Python numbers, numpy scalars and lists as arguments of compiled functions: the casting rule of
frontend/function.py (check_argument), on both targets. The C entry converts the common 0-d cases
itself (tir__scalar_arg in tir_runtime.h); the interpreter target goes through check_argument only,
so it is the oracle for the C target, and numpy for both."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import In, TirError, function
from tensorir import tensor as T
from tensorir.runtime.c_module import load

TARGETS = ["c", "interp"]
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
          "float64"]
VALUES: list[Any] = [
    False, True, 0, 1, -1, 2, 127, 128, -128, -129, 255, 256, 65535, 65536, -32769, 2**31 - 1, 2**31, -2**31 - 1,
    2**32, 2**24, 2**24 + 1, -(2**24 + 1), 2**53, 2**53 + 1, 2**63 - 1, -2**63, 2**63, 2**64 - 1, 2**64, -2**63 - 1,
    0.0, -0.0, 0.5, 1.0, -2.5, 0.1, 1e300, -1e300, 1e-300, 3.4e38, 3.5e38, math.inf, -math.inf, math.nan,
    np.float64(1.5), np.float32(1.5), np.float16(0.5), np.int64(7), np.int32(-7), np.int8(3), np.uint64(2**63),
    np.uint8(200), np.bool_(True), np.float64(1e300), "a", None, [1.0], 1 + 2j,
    np.array(1.5, np.float32), np.array(-3, np.int8), np.array(True), np.array(2**63, np.uint64),
    np.array(0.5, np.float16), np.array(-1), np.array(1.5, ">f8"), np.array(1j), np.array([1.0]),
]


def _call(f: tensorir.Function, args: list[Any], k: int) -> tuple[str, Any]:
    try:
        return "ok", f(*args)[k]
    except TirError:
        return "error", None


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Identical dtype, shape and bits (nan and -0.0 included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_scalar_arguments_c_converts_as_the_rule() -> None:
    """Every dtype x every kind of scalar: the C entry accepts, refuses and converts exactly as
    check_argument (the interpreter target) does."""
    xs = [T.tensor(dtype=d, shape=(), name=f"x_{d}") for d in DTYPES]
    fc, fi = function(xs, xs, target="c"), function(xs, xs, target="interp")
    base = [np.zeros((), d) for d in DTYPES]
    for k, dtype in enumerate(DTYPES):
        for v in VALUES:
            args = base[:k] + [v] + base[k + 1:]
            with np.errstate(all="ignore"):
                (kc, rc), (ki, ri) = _call(fc, args, k), _call(fi, args, k)
            assert kc == ki, f"{v!r} into {dtype}: c {kc}, interp {ki}"
            if kc == "ok":
                assert _same(rc, ri), f"{v!r} into {dtype}: c {rc!r}, interp {ri!r}"


def test_array_and_list_arguments_c_converts_as_the_rule() -> None:
    """Arrays of every dtype (one byte-swapped, one strided) and lists of Python numbers into vectors of
    every dtype: the C entry upcasts and converts exactly what check_argument takes (numpy's safe
    casts for arrays, the scalar rule element-wise for lists) and refuses the rest."""
    xs = [T.tensor(dtype=d, shape=(None,), name=f"x_{d}") for d in DTYPES]
    fc, fi = function(xs, xs, target="c"), function(xs, xs, target="interp")
    base = [np.zeros(2, d) for d in DTYPES]
    arrays = [np.array([1, 0, 1, 1], d)[::2] for d in DTYPES] + [np.array([1.5, -2.0], ">f8"), np.array([1j, 2])]
    lists = [[1.0, -2.5], [1, 2], (3, -4), [True, False], [], [1, 2**63], [2**24 + 1, 1], [-1, 5], [300, 1],
             [70000, 0], [2**53 + 1], [2**60], [2**70], [1e300, 0.1], [math.nan, -math.inf], [1, 2.5], [True, 2],
             [np.float32(1.5)], [np.array(2, np.int8)], [1.0, "a"], [[1.0]], [None], [1 + 2j]]
    for k, dtype in enumerate(DTYPES):
        for v in arrays + lists:
            args = base[:k] + [v] + base[k + 1:]
            (kc, rc), (ki, ri) = _call(fc, args, k), _call(fi, args, k)
            assert kc == ki, f"{v!r} into {dtype}: c {kc}, interp {ki}"
            if kc == "ok":
                with np.errstate(all="ignore"):
                    want = np.asarray(v).astype(dtype)
                assert _same(rc, ri) and _same(rc, want), f"{v!r} into {dtype}: c {rc!r}, interp {ri!r}"


def test_nested_lists_c_converts_as_the_rule() -> None:
    """Nested lists for matrices: numpy's array of them, converted element-wise, on both targets alike."""
    m, n = T.fmatrix("m"), T.lmatrix("n")
    fc, fi = function([m, n], [m, n], target="c"), function([m, n], [m, n], target="interp")
    for v in ([[1, 2], [3, 4]], [[1.5], [2.0]], [[True, 0]], [(1, 2)], [[2**40]], [1, 2], [[1, 2], [3]], [[[1]]]):
        for k in (0, 1):
            args = [np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int64)]
            args[k] = v
            (kc, rc), (ki, ri) = _call(fc, args, k), _call(fi, args, k)
            assert kc == ki and (kc == "error" or _same(rc, ri)), f"{v!r} into input {k}: c {rc!r}, interp {ri!r}"


def _one_function(inputs: list[Any], outputs: list[Any], target: str) -> Callable[[str, Any], Any]:
    """One compiled function for several checks (one C compile): `call(name, v)` passes v to the input
    `name` and zeros to the others, and returns that input's output."""
    f = function(inputs, outputs, target=target)
    base = [np.zeros((2,) * x.ndim, x.dtype) for x in inputs]
    names = [x.name for x in inputs]

    def call(name: str, v: Any) -> Any:
        k = names.index(name)
        return f(*base[:k], v, *base[k + 1:])[k]
    return call


@pytest.mark.parametrize("target", TARGETS)
def test_python_scalar_casting_rule(target: str) -> None:
    """The rule against numpy: a Python float goes into any float input (rounded, as Theano's Python
    float into floatX), an int or bool where the input's type holds it exactly; everything else is
    an error that names the input."""
    xs = [T.fscalar("x"), T.iscalar("i"), T.scalar("b", dtype="bool"), T.dscalar("d"), T.scalar("u", dtype="uint64"),
          T.lscalar("q")]
    call = _one_function(xs, xs, target)
    with np.errstate(over="ignore"):
        f32 = np.float32(1e300)
    for name, v, want in [("x", 1.0, np.float32(1.0)), ("x", 0.1, np.float32(0.1)), ("x", 1e300, f32),
                          ("x", 1, np.float32(1)), ("x", 2**24, np.float32(2**24)), ("x", True, np.float32(1)),
                          ("i", 7, np.int32(7)), ("i", -2**31, np.int32(-2**31)), ("i", True, np.int32(1)),
                          ("b", 1, np.True_), ("b", False, np.False_), ("d", 2**53, np.float64(2**53)),
                          ("d", 2**60, np.float64(2**60)), ("d", 0.1, np.float64(0.1)),
                          ("u", 2**64 - 1, np.uint64(2**64 - 1)), ("q", -2**63, np.int64(-2**63))]:
        got = call(name, v)
        assert got.dtype == want.dtype and got.shape == () and got == want, (v, got)
    assert np.isinf(call("x", 1e300))
    for name, v in [("x", 2**24 + 1), ("i", 1.0), ("i", 2**31), ("b", 2), ("b", 0.0), ("d", 2**53 + 1), ("u", -1),
                    ("q", 2**63), ("q", 2**64 - 1), ("x", "a"), ("x", None), ("x", 1 + 2j), ("x", [1.0])]:
        with pytest.raises(TirError, match=f"input '{name}'"):
            call(name, v)


@pytest.mark.parametrize("target", TARGETS)
def test_lists_and_numpy_scalars(target: str) -> None:
    """Lists and nested lists follow the same rule element-wise; numpy scalars are typed values
    (numpy's safe casts only), as numpy arrays are."""
    v, m, d = T.fvector("v"), T.dmatrix("m"), T.dscalar("d")
    call = _one_function([v, m, d], [v * 2, m + 1, d], target)
    np.testing.assert_array_equal(call("v", [1, 2, 3]), np.array([2, 4, 6], np.float32))
    assert call("v", [1.5, 0.1]).dtype == np.float32 and call("v", [0.1]).tolist() == [float(np.float32(0.1) * 2)]
    np.testing.assert_array_equal(call("m", [[1.0, 2.0], [3.0, 4.0]]), np.array([[2.0, 3.0], [4.0, 5.0]]))
    np.testing.assert_array_equal(call("m", [[True, 2]]), np.array([[2.0, 3.0]]))
    assert call("d", np.float32(0.1)) == np.float64(np.float32(0.1)) and call("d", np.int32(3)) == 3.0
    for name, bad in [("v", [2**24 + 1]), ("v", [[1.0]]), ("m", [1.0, 2.0]), ("m", [[1, 2], [3]]),
                      ("v", np.array([1.0])), ("d", np.complex128(1))]:
        with pytest.raises(TirError, match=f"input '{name}'"):
            call(name, bad)


@pytest.mark.parametrize("target", TARGETS)
def test_strict_input_refuses_python_numbers(target: str) -> None:
    """In(x, strict=True) takes arrays (and numpy scalars) of its own dtype only, also where the C entry
    would convert a Python float."""
    x = T.dscalar("x")
    f = function([In(x, strict=True)], x * 2, target=target)
    assert f(np.array(1.5)) == 3.0 and f(np.float64(1.5)) == 3.0
    for bad in (1.5, 1, True, np.float32(1.5), np.array(1.5, np.float32), np.array(1)):
        with pytest.raises(TirError, match="input 'x'"):
            f(bad)


def test_c_entry_takes_scalars_for_0d_parameters() -> None:
    """The compiled module's own `run` converts Python and numpy scalars of 0-d parameters and safe
    upcasts (no Python round trip); other objects stay a TypeError, which the frontend answers with
    the rule."""
    x, y = T.fscalar("x"), T.dvector("y")
    f = function([x, y], x * y, target="c")
    run = load(f.source(), "f").run
    for v in (2.0, 2, True, np.float32(2.0), np.int16(2), np.array(2, np.uint8)):
        got = run(v, np.array([1, 3], np.int32))  # int32 data upcast to the float64 parameter
        np.testing.assert_array_equal(got, np.array([1.0, 3.0]) * np.float32(v))
    np.testing.assert_array_equal(run(2.0, [1, 3]), [2.0, 6.0])  # a list for the 1-d parameter
    for bad in (np.float64(2.0), "2", [2.0], 1.5 + 0j):
        with pytest.raises(TypeError, match="argument 0 \\('x'\\) must be a numpy.ndarray of dtype float32 and rank 0"):
            run(bad, np.array([1.0]))
    with pytest.raises(TypeError, match="argument 1 \\('y'\\) must be a numpy.ndarray of dtype float64 and rank 1, got "
                                        "dtype complex128 and rank 1"):
        run(1.0, np.array([1j]))
    with pytest.raises(TypeError, match="argument 1 \\('y'\\).*got float"):
        run(1.0, 1.0)  # a scalar is no 1-d argument
