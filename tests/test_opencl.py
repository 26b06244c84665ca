"""The OpenCL target (runtime/opencl.py, backends/opencl.py) equals the reference interpreter and the C target.

Runs where pyopencl and an OpenCL device are installed (CI: `pip install -e ".[dev,opencl]"`, PoCL on the
CPU); skipped with the reason elsewhere. The op groups are test_c_target.py's (every tensor op), each
checked against the interpreter on the same inputs, layouts and shapes; then the autodiff examples, a
logistic-regression training step, run-time errors, float64 refusal and the program cache; at the end a
representative subset of the other files' compiled-target tests, their target "c" run on OpenCL (all of them:
`TENSORIR_TEST_C_TARGET=opencl pytest tests/...`, tests/conftest.py; their checks of C source text fail there).

Where OpenCL's numbers may differ from the C target's (on PoCL, measured): float64 pow, sin, atan2 and the like are
PoCL's builtins, not glibc's (which numpy and the C target call), so they differ by at most 1 ulp (2.2e-16 relative
on 10^4 random values; OpenCL allows pow 16 ulp) where the C target gives numpy's bits; tir_math.h's own functions
(every float32 one, float64 exp/log/tanh) are the same source compiled by clang instead of gcc, whose FMA
contractions may differ in the last bit (6 of 10^4 float64 logs). Hence float64 tolerances of 1e-12 here.
float16 needs cl_khr_fp16, which PoCL on a CPU lacks: refused at the user's op.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorir
import test_c_layouts
import test_c_reductions
import test_c_target as groups
import test_extern
import test_gemm
import test_grad
import test_ifelse
import test_random
import test_scan
import test_training_kernels
from tensorir import tensor as T
from tensorir.ir.core import TirError
from tensorir.runtime.opencl import unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no OpenCL device here: {REASON}")
RNG = np.random.default_rng(12)
ROOT = Path(__file__).resolve().parent.parent


def assert_same(got: list[Any], want: list[Any], where: str) -> None:
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, f"{where} #{k}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
        if w.dtype.kind == "f":
            tol = 2e-3 if w.dtype == np.float16 else 1e-5 if w.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True, err_msg=f"{where} #{k}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{where} #{k}")


def check_group(inputs: list[Any], outputs: list[Any], cases: list[list[np.ndarray]]) -> None:
    """test_c_target's check, on target="opencl": every case and layout equals the interpreter."""
    f_cl = tensorir.function(inputs, outputs, target="opencl")
    f_i = tensorir.function(inputs, outputs, target="interp")
    for case in cases:
        want = f_i(*case)
        for layout in (lambda a: a, groups.strided, groups.transposed):
            args = [layout(a) if isinstance(a, np.ndarray) and a.ndim else a for a in case]
            assert_same(f_cl(*args), want, f"{outputs} for shapes {[np.shape(a) for a in case]}")


GROUPS = ["float_elementwise", "special_values_and_f64", "integer_and_bool_ops", "reductions", "empty_reductions",
          "crossentropy", "linear_algebra", "shape_and_indexing", "creation", "numpy_functions", "zero_d"]


@pytest.mark.parametrize("group", GROUPS)
def test_every_op_group_equals_the_interpreter(group: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups, "check_group", check_group)
    getattr(groups, f"test_{group}")()


def test_kernels_run_on_the_grid() -> None:
    """An elementwise nest is one work-item per element (get_global_id), a full sum runs in parallel chunks."""
    x = T.fmatrix("x")
    f = tensorir.function([x], [T.exp(x) * 2, x.sum()], target="opencl")
    src = f.source()
    assert "get_global_id(1)" in src and "get_global_id(0)" in src and "__global" in src
    a = RNG.standard_normal((300, 70)).astype(np.float32)
    got = f(a)
    np.testing.assert_allclose(got[0], np.exp(a) * 2, rtol=1e-6)
    np.testing.assert_allclose(got[1], a.sum(dtype=np.float64), rtol=1e-5)


def test_autodiff_examples_equal_the_c_target() -> None:
    x, w, b = T.dmatrix("x"), T.dvector("w"), T.dscalar("b")
    z = T.tanh(T.dot(x, w) + b)
    cost = (T.nnet.softplus(z) * T.exp(-z ** 2)).sum() + (w ** 2).sum()
    outs = [cost, *tensorir.grad(cost, [x, w, b])]
    args = [RNG.standard_normal((20, 6)), RNG.standard_normal(6), 0.3]
    want = tensorir.function([x, w, b], outs, target="c")(*args)
    assert_same(tensorir.function([x, w, b], outs, target="opencl")(*args), want, "gradients")


def test_gradient_example_through_tirc_on_opencl_equals_the_closed_form(tmp_path: Path) -> None:
    """examples/gradient.tir run by `tirc run --target opencl` (the `tir-opt -p opencl` pipeline)."""
    from tensorir.tools.tirc import main

    x, y, w, b = RNG.standard_normal((7, 3)), RNG.integers(0, 2, 7).astype(float), RNG.standard_normal(3), 0.25
    for name, value in dict(x=x, y=y, w=w, b=np.array(b)).items():
        np.save(tmp_path / f"{name}.npy", value)
    inputs = [a for n in "xywb" for a in ("--input", f"{n}={tmp_path / f'{n}.npy'}")]
    assert main(["run", str(ROOT / "examples" / "gradient.tir"), "--target", "opencl", "--output",
                 str(tmp_path / "out.npz"), *inputs]) == 0
    p = 1 / (1 + np.exp(-(x @ w + b)))
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["out0"], -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-12)
        np.testing.assert_allclose(out["out1"], x.T @ (p - y) / 7, rtol=1e-10)
        np.testing.assert_allclose(out["out2"], np.mean(p - y), rtol=1e-10)


def test_logistic_regression_training_equals_the_c_target() -> None:
    """W7's logistic regression at a small size: 5 SGD steps through shared weights and updates."""
    data = RNG.standard_normal((64, 30)), (RNG.random(64) < 0.5).astype(np.float64)
    weights = {}
    for target in ("c", "opencl"):
        x, y = T.dmatrix("x"), T.dvector("y")
        w = tensorir.shared(np.linspace(-0.1, 0.1, 30), name="w")
        b = tensorir.shared(0.0, name="b")
        p1 = 1 / (1 + T.exp(-(T.dot(x, w) + b)))
        cost = (-y * T.log(p1) - (1 - y) * T.log(1 - p1)).mean() + 0.01 * (w ** 2).sum()
        gw, gb = tensorir.grad(cost, [w, b])
        step = tensorir.function([x, y], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], target=target)
        costs = [float(step(*data)) for _ in range(5)]
        weights[target] = (costs, w.get_value(), b.get_value())
    np.testing.assert_allclose(weights["opencl"][0], weights["c"][0], rtol=1e-12)
    np.testing.assert_allclose(weights["opencl"][1], weights["c"][1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(weights["opencl"][2], weights["c"][2], rtol=1e-12, atol=1e-15)
    assert weights["c"][0][-1] < weights["c"][0][0]


def test_a_failed_check_inside_a_kernel_raises_the_c_targets_message() -> None:
    x, idx = T.fvector("x"), T.lvector("idx")
    out = T.take(x * 2, idx)
    errors = []
    for target in ("c", "opencl"):
        f = tensorir.function([x, idx], out, target=target)
        np.testing.assert_allclose(f(np.arange(4, dtype=np.float32), np.array([3, 0])), [6, 0])
        with pytest.raises(ValueError) as e:
            f(np.arange(4, dtype=np.float32), np.array([1, 9]))
        errors.append(str(e.value))
    assert errors[0] == errors[1] and "index 9 is out of bounds for axis 0 of size 4" in errors[1]


def test_float64_needs_a_device_that_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused at the user's op that first computes in float64 (not a build log of the whole program)."""
    from tensorir.runtime.opencl import Device

    monkeypatch.setattr(Device, "has_f64", property(lambda self: False))
    x = T.dvector("x")
    line = sys._getframe().f_lineno + 1
    doubled = x * 2
    with pytest.raises(TirError, match="does not support float64") as e:
        tensorir.function([x], T.exp(doubled), target="opencl")
    assert str(e.value).startswith(f"{__file__}:{line}: 'scalar.mul' op needs float64: the OpenCL device"), e.value
    xf = T.fvector("xf")  # float32 kernels without a float64 accumulator still build
    f = tensorir.function([xf], T.exp(xf), target="opencl")
    np.testing.assert_allclose(f(np.ones(3, np.float32)), np.exp(np.ones(3, np.float32)))


def test_float16_runs_or_is_refused_clearly() -> None:
    from tensorir.runtime.opencl import device

    x = T.tensor("float16", (None,), name="x")
    a = np.linspace(-2, 2, 9).astype(np.float16)
    if not device().has_f16:
        line = sys._getframe().f_lineno + 2
        with pytest.raises(TirError, match="does not support float16 \\(no cl_khr_fp16\\)") as e:
            tensorir.function([x], T.exp(x) * 2, target="opencl")
        assert str(e.value).startswith(f"{__file__}:{line}: '"), e.value  # the user's line, not a build log
        return
    want = tensorir.function([x], [T.exp(x) * 2, x.sum()], target="interp")(a)
    assert_same(tensorir.function([x], [T.exp(x) * 2, x.sum()], target="opencl")(a), want, "float16")


def test_program_binaries_are_cached_on_disk(tmp_path: Path) -> None:
    """A fresh process (a new Device: nothing built in memory) loads the program binary instead of compiling."""
    from tensorir.runtime import opencl

    with tensorir.config.change_flags(cachedir=str(tmp_path)):
        x = T.fvector("x")
        f = tensorir.function([x], T.sqrt(x) + 1, target="opencl")
        binaries = list((tmp_path / "opencl").glob("*.bin"))
        assert len(binaries) == 1
        dev = opencl.device()
        fresh = opencl.Device(dev.context, dev.queue, dev.device)
        source = f.source()
        before = binaries[0].stat().st_mtime_ns
        assert fresh.program(source) is not None and binaries[0].stat().st_mtime_ns == before
        np.testing.assert_allclose(f(np.array([4.0], np.float32)), [3.0])


def test_import_and_the_c_target_work_without_pyopencl() -> None:
    code = ("import sys; sys.modules['pyopencl'] = None\n"
            "import numpy as np, tensorir\nfrom tensorir import tensor as T\nx = T.dvector('x')\n"
            "assert tensorir.function([x], x * 2, target='c')(np.ones(2)).tolist() == [2.0, 2.0]\n"
            "try:\n    tensorir.function([x], x * 2, target='opencl')\nexcept tensorir.TirError as e:\n"
            "    print(e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "target 'opencl' needs pyopencl" in out.stdout


def _count_copies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Record the bytes of every copy to and from the device."""
    from tensorir.runtime.opencl import OpenCLModule

    copies: dict[str, list[int]] = {"in": [], "out": []}
    copy_in, copy_out = OpenCLModule.copy_in, OpenCLModule.copy_out
    monkeypatch.setattr(OpenCLModule, "copy_in",
                        lambda self, b, h: (copies["in"].append(h.nbytes), copy_in(self, b, h)))
    monkeypatch.setattr(OpenCLModule, "copy_out",
                        lambda self, h, b: (copies["out"].append(h.nbytes), copy_out(self, h, b)))
    return copies


def test_data_stays_on_the_device_between_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """device-residency: a chain of kernels copies its input in once and its result out once; what flows
    between the kernels (here through a reduction and a broadcast) never leaves the device."""
    x = T.fmatrix("x")
    e = T.exp(x - x.max(axis=1, keepdims=True))
    f = tensorir.function([x], e / e.sum(axis=1, keepdims=True), target="opencl")
    a = RNG.standard_normal((300, 70)).astype(np.float32)
    f(a)
    copies = _count_copies(monkeypatch)
    got = f(a)
    want = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(got, want / want.sum(1, keepdims=True), rtol=1e-6)
    assert copies == {"in": [a.nbytes], "out": [a.nbytes]}


def test_shared_variables_stay_on_the_device_between_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """An SGD step whose weights only kernels touch: after the first call the weights live on the device
    (get_value(return_internal_type=True) is a pyopencl array) and no call copies them either way; the
    weights equal the C target's."""
    import pyopencl.array as cla

    data = RNG.standard_normal((7, 1000)).astype(np.float32), RNG.standard_normal(7).astype(np.float32)
    weights = {}
    for target in ("c", "opencl"):
        x, y = T.fmatrix("x"), T.fvector("y")
        w = tensorir.shared(np.linspace(-1, 1, 1000, dtype=np.float32), name="w")
        cost = ((x * w - y.dimshuffle(0, "x")) ** 2).sum()
        step = tensorir.function([x, y], cost, updates=[(w, w - 0.001 * tensorir.grad(cost, w))], target=target)
        step(*data)
        if target == "opencl":
            assert isinstance(w.get_value(return_internal_type=True), cla.Array)
            copies = _count_copies(monkeypatch)
        for _ in range(3):
            step(*data)
        weights[target] = w.get_value()
    assert isinstance(weights["opencl"], np.ndarray)
    np.testing.assert_allclose(weights["opencl"], weights["c"], rtol=1e-5, atol=1e-6)
    assert w.get_value(return_internal_type=True).nbytes not in copies["in"] + copies["out"], copies


def test_device_arrays_in_and_out() -> None:
    """pyopencl arrays as arguments and, with device_outputs=True, as results; a device array given to the C
    target comes to the host; a device array of the wrong dtype is refused with the input's name."""
    import pyopencl.array as cla
    from tensorir.runtime.opencl import device

    x, y = T.fmatrix("x"), T.fvector("y")
    outs = [T.tanh(x) * y, (x * y).sum(axis=0)]
    a, b = RNG.standard_normal((5, 4)).astype(np.float32), RNG.standard_normal(4).astype(np.float32)
    want = tensorir.function([x, y], outs, target="interp")(a, b)
    queue = device().queue
    f = tensorir.function([x, y], outs, target="opencl", device_outputs=True)
    got = f(cla.to_device(queue, a), b)
    assert all(isinstance(g, cla.Array) for g in got)
    assert_same([g.get() for g in got], want, "device outputs")
    assert_same(tensorir.function([x, y], outs, target="c")(got[0], b), tensorir.function([x, y], outs, target="c")(
        want[0], b), "a device array into the C target")
    with pytest.raises(TypeError, match="'x'.*got a float64 Array.*astype\\('float32'\\)"):
        f(cla.to_device(queue, a.astype(np.float64)), b)


# ---------------------------------------------------------------- device-gemm: matrix products on the device

GEMM_SHAPES = [(1, 1, 1), (4, 0, 3), (0, 3, 4), (5, 3, 7), (64, 16, 64), (65, 17, 130), (128, 64, 128), (100, 200, 33),
               (3, 300, 2)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_runs_as_a_tiled_kernel_and_equals_numpy(dtype: str) -> None:
    """device-gemm: every product (transposed operands too) is a kernel.tiled_gemm (no host BLAS), correct on
    shapes that are not multiples of the 64 x 64 x 16 tile."""
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    forms = {"ab": (T.dot(a, b), lambda x, y: (x, y)), "aTb": (T.dot(a.T, b), lambda x, y: (x.T.copy(), y)),
             "abT": (T.dot(a, b.T), lambda x, y: (x, y.T.copy())),
             "aTbT": (T.dot(a.T, b.T), lambda x, y: (x.T.copy(), y.T.copy()))}
    tol = 1e-4 if dtype == "float32" else 1e-11
    for name, (expr, prepare) in forms.items():
        f = tensorir.function([a, b], expr, target="opencl")
        assert "kernel.tiled_gemm" in f.ir("device-residency") and "lib.gemm" not in f.ir("device-residency")
        assert "__local" in f.source() and "barrier(CLK_LOCAL_MEM_FENCE)" in f.source()
        for m, k, n in GEMM_SHAPES:
            x, y = RNG.standard_normal((m, k)).astype(dtype), RNG.standard_normal((k, n)).astype(dtype)
            got = f(*prepare(x, y))
            assert got.dtype == dtype
            np.testing.assert_allclose(got, x @ y, rtol=tol, atol=tol, err_msg=f"{name} {(m, k, n)}")


def test_gemm_with_alpha_beta_scale_and_strided_operands() -> None:
    """The forms the gemm pass makes: a bias row (beta = 1, its copy into C a kernel too), a run-time scale and
    alpha (an SGD update), and a strided view as an operand."""
    x, w, bias, c = T.fmatrix("x"), T.fmatrix("w"), T.fvector("bias"), T.fmatrix("c")
    lr = T.fscalar("lr")
    outs = [T.dot(x, w) + bias, c - lr * T.dot(x.T, x), 2.0 * T.dot(x[::2], w)]
    f = tensorir.function([x, w, bias, c, lr], outs, target="opencl")
    f_i = tensorir.function([x, w, bias, c, lr], outs, target="interp")
    assert "lib.gemm" not in f.ir("device-residency")
    for m, k, n in [(7, 5, 3), (70, 90, 66)]:
        args = [RNG.standard_normal((m, k)).astype(np.float32), RNG.standard_normal((k, n)).astype(np.float32),
                RNG.standard_normal(n).astype(np.float32), RNG.standard_normal((k, k)).astype(np.float32),
                np.float32(0.1)]
        for g, w_ in zip(f(*args), f_i(*args)):
            np.testing.assert_allclose(g, w_, rtol=1e-4, atol=1e-4)


def test_gemv_runs_as_a_loop_nest_kernel() -> None:
    a, v = T.dmatrix("a"), T.dvector("v")
    f = tensorir.function([a, v], [T.dot(a, v), T.dot(a.T, v[:a.shape[0]])], target="opencl")
    assert "lib.gemv" not in f.ir("device-residency")
    x, y = RNG.standard_normal((37, 300)), RNG.standard_normal(300)
    got = f(x, y)
    np.testing.assert_allclose(got[0], x @ y, rtol=1e-12)
    np.testing.assert_allclose(got[1], x.T @ y[:37], rtol=1e-12)


def test_mlp_step_keeps_its_weights_on_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """A two-layer MLP's SGD step (forward and gradient products are tiled gemm kernels): after the first call no
    weight moves either way, and the weights equal the C target's (host BLAS)."""
    data = RNG.standard_normal((50, 20)).astype(np.float32), RNG.standard_normal((50, 5)).astype(np.float32)
    init = [RNG.standard_normal((20, 32)).astype(np.float32) * 0.3, np.zeros(32, np.float32),
            RNG.standard_normal((32, 5)).astype(np.float32) * 0.3]
    weights, costs = {}, {}
    for target in ("c", "opencl"):
        x, y = T.fmatrix("x"), T.fmatrix("y")
        params = [tensorir.shared(v.copy(), name=n) for v, n in zip(init, ("W1", "b1", "W2"))]
        w1, b1, w2 = params
        cost = ((T.dot(T.tanh(T.dot(x, w1) + b1), w2) - y) ** 2).mean()
        grads = tensorir.grad(cost, params)
        step = tensorir.function([x, y], cost, updates=[(p, p - 0.05 * g) for p, g in zip(params, grads)],
                                 target=target)
        costs[target] = [float(step(*data))]
        if target == "opencl":
            assert "lib.gemm" not in step.ir("device-residency")
            copies = _count_copies(monkeypatch)
        costs[target] += [float(step(*data)) for _ in range(3)]
        weights[target] = [p.get_value() for p in params]
    np.testing.assert_allclose(costs["opencl"], costs["c"], rtol=1e-4)
    for got, want in zip(weights["opencl"], weights["c"]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    moved = copies["in"] + copies["out"]
    assert not {v.nbytes for v in init} & set(moved), copies
    assert all(n <= 8 for n in copies["out"]), copies  # only scalars come back (the cost, shape checks)


# ---------------------------------------------------------------- tree-reductions: a work-group per row


def test_row_reductions_are_work_group_trees_and_equal_the_interpreter() -> None:
    """Row sums, maxima, softmax and logsumexp rows (and a full sum's chunks) run as tree reductions in local
    memory (kernels of `tree = 128`), equal to the interpreter on rows shorter and longer than the group."""
    x = T.fmatrix("x")
    e = T.exp(x - x.max(axis=1, keepdims=True))
    outs = [x.sum(axis=1), x.max(axis=1), x.min(axis=1), e / e.sum(axis=1, keepdims=True),
            T.log(T.exp(x).sum(axis=1)), x.sum(), (x * x).sum(axis=0)]
    f = tensorir.function([x], outs, target="opencl")
    f_i = tensorir.function([x], outs, target="interp")
    assert "tree = 128" in f.ir("device-residency") and "__local" in f.source()
    for shape in [(3, 1000), (300, 70), (1, 5), (7, 129), (2, 128), (1, 100_000)]:
        a = RNG.standard_normal(shape).astype(np.float32)
        for k, (g, w) in enumerate(zip(f(a), f_i(a))):
            # The full sum (#5) adds in another order than the interpreter's pairwise sum: its float32 rounding
            # is bounded by the sum of magnitudes, not by the (cancelling) result.
            atol = 1e-7 * np.abs(a).sum() if k == 5 else 1e-5
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=max(atol, 1e-5), err_msg=f"#{k} {shape}")
    t3 = T.ftensor3("t3")  # a grid of 2 dims: rows of work-groups, the slower dim a loop over them
    h = tensorir.function([t3], [t3.sum(axis=2), T.nnet.softmax(t3.reshape((-1, t3.shape[2])))], target="opencl")
    b = RNG.standard_normal((3, 4, 300)).astype(np.float32)
    np.testing.assert_allclose(h(b)[0], b.sum(2), rtol=1e-5, atol=1e-5)
    e2 = np.exp(b.reshape(12, 300) - b.reshape(12, 300).max(1, keepdims=True))
    np.testing.assert_allclose(h(b)[1], e2 / e2.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    d = T.dmatrix("d")
    g = tensorir.function([d], [d.sum(axis=1), T.max(d, axis=1), (d * 2).prod(axis=1)], target="opencl")
    a = RNG.standard_normal((5, 333)) * 0.5 + 1
    np.testing.assert_allclose(g(a)[0], a.sum(1), rtol=1e-12)
    np.testing.assert_allclose(g(a)[1], a.max(1), rtol=0)
    np.testing.assert_allclose(g(a)[2], (a * 2).prod(1), rtol=1e-10)


def test_a_float_condition_selects_as_numpy_does() -> None:
    """T.switch on a float condition (numpy's truth: nonzero, NaN true): OpenCL C refuses a float `?:` condition,
    so the shared renderer writes `(c != 0)`."""
    x, y = T.fvector("x"), T.dvector("y")
    outs = [T.switch(x, y, -y), T.switch(y, x, 2 * x)]
    args = [np.array([0, 1.5, -2, -0.0, np.nan], np.float32), np.array([0, 1, 0, 2.5, 3])]
    want = tensorir.function([x, y], outs, target="interp")(*args)
    assert_same(tensorir.function([x, y], outs, target="opencl")(*args), want, "switch on a float condition")


def test_views_of_a_reversed_argument_on_the_device() -> None:
    """A view at a negative dynamic offset from its source (the source a reversed argument, so its first element
    is not the start of its memory) is a device view inside the source's memory, as on the host."""
    x = T.tensor("float32", shape=(None, None, None), name="x")
    on_host = tensorir.function([x], T.concatenate([x, x.dimshuffle(0, 2, 1)[:, ::-1]], axis=1), target="opencl")
    on_device = tensorir.function([x], T.exp(x.dimshuffle(0, 2, 1)[:, ::-1, 1:]) * 2, target="opencl")
    a = RNG.standard_normal((3, 6, 6)).astype(np.float32)
    for arg in (a, a[:, ::-1, ::-1], a[::-1, ::-2, ::-2]):
        view = arg.transpose(0, 2, 1)[:, ::-1]
        assert_same([on_host(arg)], [np.concatenate([arg, view], axis=1)], f"host views, strides {arg.strides}")
        assert_same([on_device(arg)], [np.exp(view[:, :, 1:]) * 2], f"device views, strides {arg.strides}")


def test_float32_sin_and_cos_run_a_fast_twin_and_stay_exact_beyond_its_range() -> None:
    """On a CPU device (tir_math.h's functions) a kernel of float32 sin/cos runs a fast twin first (the short-range
    reduction) and then the exact kernel only where an argument was beyond 2^17, as the C target's twins do:
    the same bits as the C target everywhere, a huge argument anywhere included."""
    from tensorir.runtime.opencl import device

    if not device().is_cpu:
        pytest.skip("the twins are for tir_math.h's functions, which only CPU devices use")
    x = T.fvector("x")
    outs = [T.sin(x), T.cos(x) * 2, T.sin(x * 3) + x]
    f = tensorir.function([x], outs, target="opencl")
    with tensorir.config.change_flags(tiered=False):
        fc = tensorir.function([x], outs, target="c")
    assert "main_k0_fast(" in f.source() and "tir_sinf_fast" in f.source()
    a = RNG.standard_normal(10_000).astype(np.float32) * 100
    for case in (a, np.where(np.arange(a.size) == 7777, np.float32(3e5), a), np.array([1e30, -2e17, 0.5], np.float32),
                 a[::-3]):
        for got, want in zip(f(case), fc(case)):
            np.testing.assert_array_equal(got, want)


def test_float_sums_are_as_accurate_as_the_c_targets() -> None:
    """A work-item's chunk of a sum adds compensated blocks, as the C target does (a plain loop over its n/64
    values drifted: 1e6 tenths summed 2.5e-12 relative off), of 4 values (blocks of 32 added one value at a time
    left float64 rows of 5e6 tenths 4 ulps off; numpy: 0): rows of one value repeated within an ulp."""
    for dtype in ("float64", "float32"):
        x = T.tensor(dtype, shape=(None, None), name="x")
        f = tensorir.function([x], [x.sum(), x.sum(axis=1)], target="opencl")
        for n, value in ((500_000, 0.1), (77_777, 0.7)):
            a = np.full((2, n), value, dtype)
            exact = math.fsum(a.astype(np.float64).ravel())
            total, rows = f(a)
            for got, want in ((total, exact), *((r, exact / 2) for r in rows)):
                ulp = float(np.spacing(np.asarray(want, dtype)))
                assert abs(float(got) - want) <= ulp, (dtype, n, value, (float(got) - want) / ulp)


# ---------------------------------------------------------------- the other files' compiled-target tests

@contextlib.contextmanager
def _opencl_as_c() -> Iterator[list[str]]:
    """Every function built for target "c" meanwhile runs on target "opencl" (its kernels on the device); yields
    the names of those built."""
    from tensorir.frontend import function as fn

    saved, opencl, built = fn.TARGETS["c"], fn.TARGETS["opencl"], []

    def make_runner(module: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(name)
        return opencl.make_runner(module, name, *args, **kwargs)

    fn.TARGETS["c"] = dataclasses.replace(opencl, make_runner=make_runner)
    try:
        yield built
    finally:
        fn.TARGETS["c"] = saved


def _on_opencl(test: Callable[..., Any]) -> Callable[..., Any]:
    """Test `test` of another file, collected here on target "opencl" where it says "c" (the cases of a `target`
    parametrization other than "c" are left to its own file)."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _opencl_as_c() as built:
            out = test(*args, **kwargs)
        assert built or "battery" in kwargs, f"{test.__name__} built no function for target 'c'"
        return out

    marks = []
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "parametrize" and mark.args[0] == "target":
            cases = [c for c in mark.args[1] if (c.values[0] if hasattr(c, "values") else c) == "c"]
            mark = pytest.mark.parametrize("target", cases).mark
        marks.append(mark)
    run.pytestmark = marks  # type: ignore[attr-defined]
    return run


@pytest.fixture(scope="module")
def battery() -> dict[str, Any]:
    """test_random.py's battery of draws, its "c" function on OpenCL."""
    with _opencl_as_c():
        return {target: (rng, tensorir.function([n], outs, target=target))
                for target in ("interp", "c") for rng, (n, *outs) in [test_random._battery()]}


# A representative subset (the whole of them costs ~15 min on 2 cores; TENSORIR_TEST_C_TARGET=opencl runs them all,
# tests/conftest.py): views of reversed arguments, scan, ifelse, Philox streams, reductions over every axis and layout,
# the softmax family, gemm forms, a training step's gradients, a Python callback in a device host plan.
test_scan_reverse_and_multiple_outputs = _on_opencl(test_scan.test_reverse_and_multiple_outputs_on_c)
test_scan_tutorial_programs = _on_opencl(test_scan.test_tutorial_programs)
test_ifelse_one_value_and_lists = _on_opencl(test_ifelse.test_ifelse_one_value_and_lists)
test_ifelse_is_lazy = _on_opencl(test_ifelse.test_ifelse_is_lazy)
test_random_same_seed_same_numbers = _on_opencl(test_random.test_same_seed_same_numbers_on_interp_and_c)
test_c_reductions_float_every_axis = _on_opencl(test_c_reductions.test_float_reductions_over_each_axis_in_every_layout)
test_c_reductions_softmax_axis_0 = _on_opencl(test_c_reductions.test_softmax_family_over_axis_0)
test_c_layouts_copies_into_views = _on_opencl(test_c_layouts.test_copies_into_views_of_a_result)
test_gemm_forms = _on_opencl(test_gemm.test_forms_equal_interpreter_and_numpy)
test_training_layer_gradient = _on_opencl(
    test_training_kernels.test_a_layer_gradient_compiled_equals_the_interpreter_where_the_bias_broadcasts)
test_extern_as_op_grad = _on_opencl(test_extern.test_as_op_grad_against_finite_differences)
test_grad_dims_of_one_summed = _on_opencl(test_grad.test_dynamic_dims_that_are_one_at_run_time_are_summed)


def test_a_stage_run_with_options_is_found_by_its_pass_name() -> None:
    x = T.fvector("x")
    f = tensorir.function([x], T.exp(x) * 2, target="opencl")
    assert "outline-kernels{device=true}" in f.stages
    assert f.ir("outline-kernels") == f.ir("outline-kernels{device=true}")
    assert "kernel.launch" in f.ir("outline-kernels")
    with pytest.raises(TirError, match="no IR stage 'outline'"):
        f.ir("outline")


def test_fast_intrinsics_only_under_their_flag() -> None:
    """`fast_intrinsics`: float32 math as OpenCL's native_* (no fast twin then); float64 and the default keep the
    exact functions. Accuracy: the device's (PoCL: within 1e-5 relative here)."""
    x, d = T.fvector("x"), T.dvector("d")
    outs = [T.exp(x), T.sin(x) * T.cos(x), T.log(abs(x) + 2), T.exp(d)]
    a = RNG.standard_normal(4096).astype(np.float32) * 3
    want = [np.exp(a), np.sin(a) * np.cos(a), np.log(np.abs(a) + 2), np.exp(a.astype(np.float64))]
    assert "native_" not in tensorir.function([x, d], outs, target="opencl").source()
    with tensorir.config.change_flags(fast_intrinsics=True):
        f = tensorir.function([x, d], outs, target="opencl")
    src = f.source()
    assert "native_exp(" in src and "native_sin(" in src and "native_cos(" in src and "native_log(" in src
    assert "_k0_fast(" not in src and "native_exp(d" not in src
    for got, w in zip(f(a, a.astype(np.float64)), want):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
