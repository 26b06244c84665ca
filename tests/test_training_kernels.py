"""The kernels of a compiled training step (issue 10: no more kernels + library calls than PyTensor's nodes).

The step is Theano's logistic regression (tools/bench.py W7) on `?` dims: its gradient's shape bookkeeping
(the sizes of `?` dims, the `n == 1` tests of unbroadcasting, the count of the mean) is host scalar
arithmetic, never a kernel, and the results equal the reference interpreter's, also where a `?` dim is 1
at run time and broadcast (unbroadcasting must sum there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import tensor as T
from tensorir.dialects import kernel as K
from tensorir.dialects import lib as LB
from tensorir.frontend.parser import parse
from tensorir.ir.types import MemRefType


def logreg_step(target: str) -> Any:
    """A function (x, y, w, b) -> (cost, new w, new b) of one SGD step, all dims `?`."""
    x, y, w, b = T.matrix("x", dtype="float32"), T.vector("y", dtype="float32"), T.vector("w", dtype="float32"), \
        T.scalar("b", dtype="float32")
    p1 = 1 / (1 + T.exp(-(T.dot(x, w) + b)))
    cost = (-y * T.log(p1) - (1 - y) * T.log(1 - p1)).mean() + 0.01 * (w ** 2).sum()
    gw, gb = tensorir.grad(cost, [w, b])
    return tensorir.function([x, y, w, b], [cost, w - np.float32(0.1) * gw, b - np.float32(0.1) * gb], target=target)


@pytest.fixture(scope="module")
def compiled() -> Any:
    return logreg_step("c")


@pytest.mark.parametrize("rows, labels", [(20, 20), (1, 20), (20, 1), (1, 1)])
def test_the_compiled_step_equals_the_interpreter_where_dims_broadcast_at_run_time(compiled: Any, rows: int,
                                                                                   labels: int) -> None:
    rng = np.random.default_rng(rows * 100 + labels)
    x = rng.standard_normal((rows, 6)).astype(np.float32)
    y = (rng.random(labels) < 0.5).astype(np.float32)
    w = (rng.standard_normal(6) * 0.5).astype(np.float32)
    b = np.float32(0.3)
    want = logreg_step("interp")(x, y, w, b)
    for got, ref in zip(compiled(x, y, w, b), want):
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)



def layer_grads(target: str) -> Any:
    """A tanh layer's softmax cross-entropy and its gradients w.r.t. W and b, all dims `?`: b may have one
    element at run time (broadcast along the units), x one row."""
    x, w, b, t = (T.matrix("x", dtype="float32"), T.matrix("w", dtype="float32"), T.vector("b", dtype="float32"),
                  T.matrix("t", dtype="float32"))
    h = T.tanh(T.dot(x, w) + b)
    cost = -(t * T.nnet.log_softmax(h)).sum(axis=1).mean()
    return tensorir.function([x, w, b, t], [cost, *tensorir.grad(cost, [w, b])], target=target)


@pytest.mark.parametrize("rows, units, bias", [(5, 4, 4), (5, 4, 1), (1, 4, 4), (1, 4, 1)])
def test_a_layer_gradient_compiled_equals_the_interpreter_where_the_bias_broadcasts(rows: int, units: int,
                                                                                    bias: int) -> None:
    rng = np.random.default_rng(rows * 10 + bias)
    x = rng.standard_normal((rows, 3)).astype(np.float32)
    w = rng.standard_normal((3, units)).astype(np.float32)
    b = rng.standard_normal(bias).astype(np.float32)
    t = np.eye(units, dtype=np.float32)[rng.integers(0, units, rows)]
    for got, want in zip(layer_grads("c")(x, w, b, t), layer_grads("interp")(x, w, b, t)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_no_kernel_holds_shape_arithmetic(compiled: Any) -> None:
    """Every kernel computes on float data: no kernel reads or writes an integer or boolean buffer (the shape
    vectors, the `n == 1` tests of the gradient's unbroadcasting); those are host scalars."""
    module = parse(compiled.ir("outline-kernels"))
    kernels = [op for op in module.regions[0].block.ops if isinstance(op, K.KernelFuncOp)]
    assert kernels
    for k in kernels:
        buffers = [a.type for a in k.body.args if isinstance(a.type, MemRefType)]
        assert buffers and all(t.element.is_float for t in buffers), (k.sym_name, buffers)
    assert sum(isinstance(op, LB.BlasOp) for op in module.walk()) == 2  # the forward and backward gemv


PYTENSOR_NODES = 19
"""The nodes of PyTensor's compiled function of this step (tools/bench.py W7, `len(fgraph.apply_nodes)` in mode
CVM): issue 10 asks for no more kernels + library calls than that."""


def test_the_step_has_no_more_kernels_and_library_calls_than_pytensor_nodes(compiled: Any) -> None:
    """The forward `-y` and `1 - y`, used by the cost and by its gradient, are recomputed in the cost's sum (no
    kernel of their own); the sigmoid's exp, 1 + and 1 / are one kernel (fuse-loops); the 0-d arithmetic (the
    cost, the bias update, the casts of the f64 sums) and the combines of split sums run on the host. With
    the forward and backward gemv that makes at most PYTENSOR_NODES."""
    module = parse(compiled.ir("outline-kernels"))
    kernels = [op for op in module.regions[0].block.ops if isinstance(op, K.KernelFuncOp)]
    ops = [{o.name for o in k.walk()} for k in kernels]
    cost = [names for names in ops if "scalar.log" in names]
    assert len(cost) == 1 and {"scalar.neg", "scalar.sub"} <= cost[0]
    assert any({"scalar.exp", "scalar.add", "scalar.true_div"} <= names for names in ops)
    launches = sum(isinstance(op, K.LaunchOp) for op in module.walk())
    calls = sum(isinstance(op, LB.BlasOp) for op in module.walk())
    assert launches == len(kernels) and launches + calls <= PYTENSOR_NODES
