"""Theano's and numpy's call forms of the symbolic API (Variable methods, `T.` functions) against numpy,
on both targets: `x.transpose(2, 0, 1)` and `x.transpose((2, 0, 1))`, `x.reshape(4, 6)` and
`x.reshape((4, 6))`, `T.stack(a, b)` and `T.stack([a, b])`, ..."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tensorir import TirError, function
from tensorir import tensor as T

A = np.arange(24.0).reshape(2, 3, 4) - 7.5
M = np.array([[1.0, -2.0, 3.5], [0.0, 5.0, -1.5]])
V = np.array([1.0, 2.0, 3.0])
W = np.array([-1.0, 0.5, 4.0])

# name -> (symbolic form on x (3-d), m (2-d), a, b (1-d); numpy's value on A, M, V, W)
Form = tuple[Callable[..., Any], Callable[..., Any]]
FORMS: dict[str, Form] = {
    "x.transpose(2, 0, 1)": (lambda x, m, a, b: x.transpose(2, 0, 1), lambda x, m, a, b: x.transpose(2, 0, 1)),
    "x.transpose((2, 0, 1))": (lambda x, m, a, b: x.transpose((2, 0, 1)), lambda x, m, a, b: x.transpose((2, 0, 1))),
    "x.transpose([1, 2, 0])": (lambda x, m, a, b: x.transpose([1, 2, 0]), lambda x, m, a, b: x.transpose([1, 2, 0])),
    "x.transpose(-1, 0, 1)": (lambda x, m, a, b: x.transpose(-1, 0, 1), lambda x, m, a, b: x.transpose(-1, 0, 1)),
    "x.transpose(np.array)": (lambda x, m, a, b: x.transpose(np.array([2, 0, 1])),
                              lambda x, m, a, b: x.transpose(np.array([2, 0, 1]))),
    "x.transpose()": (lambda x, m, a, b: x.transpose(), lambda x, m, a, b: x.transpose()),
    "x.transpose(None)": (lambda x, m, a, b: x.transpose(None), lambda x, m, a, b: x.transpose(None)),
    "T.transpose(x, axes=)": (lambda x, m, a, b: T.transpose(x, axes=(1, 0, 2)),
                              lambda x, m, a, b: np.transpose(x, axes=(1, 0, 2))),
    "T.transpose(x, (2, 1, 0))": (lambda x, m, a, b: T.transpose(x, (2, 1, 0)),
                                  lambda x, m, a, b: np.transpose(x, (2, 1, 0))),
    "x.T": (lambda x, m, a, b: x.T, lambda x, m, a, b: x.T),
    "x.reshape(4, 6)": (lambda x, m, a, b: x.reshape(4, 6), lambda x, m, a, b: x.reshape(4, 6)),
    "x.reshape((4, 6))": (lambda x, m, a, b: x.reshape((4, 6)), lambda x, m, a, b: x.reshape((4, 6))),
    "x.reshape([6, -1])": (lambda x, m, a, b: x.reshape([6, -1]), lambda x, m, a, b: x.reshape([6, -1])),
    "x.reshape(-1)": (lambda x, m, a, b: x.reshape(-1), lambda x, m, a, b: x.reshape(-1)),
    "x.reshape(x.shape[0], -1)": (lambda x, m, a, b: x.reshape(x.shape[0], -1), lambda x, m, a, b: x.reshape(2, -1)),
    "x.reshape(shape=)": (lambda x, m, a, b: x.reshape(shape=(3, 8)), lambda x, m, a, b: x.reshape((3, 8))),
    "T.reshape(x, (2, -1), 2)": (lambda x, m, a, b: T.reshape(x, (2, -1), 2), lambda x, m, a, b: x.reshape(2, -1)),
    "x.reshape((4, 6), ndim=2)": (lambda x, m, a, b: x.reshape((4, 6), ndim=2), lambda x, m, a, b: x.reshape(4, 6)),
    "a.reshape(1, -1)": (lambda x, m, a, b: a.reshape(1, -1), lambda x, m, a, b: a.reshape(1, -1)),
    "x.flatten()": (lambda x, m, a, b: x.flatten(), lambda x, m, a, b: x.flatten()),
    "x.flatten(2)": (lambda x, m, a, b: x.flatten(2), lambda x, m, a, b: x.reshape(2, 12)),
    "x.flatten(ndim=2)": (lambda x, m, a, b: x.flatten(ndim=2), lambda x, m, a, b: x.reshape(2, 12)),
    "T.flatten(x, outdim=2)": (lambda x, m, a, b: T.flatten(x, outdim=2), lambda x, m, a, b: x.reshape(2, 12)),
    "T.stack(a, b)": (lambda x, m, a, b: T.stack(a, b), lambda x, m, a, b: np.stack([a, b])),
    "T.stack(a, b, a)": (lambda x, m, a, b: T.stack(a, b, a), lambda x, m, a, b: np.stack([a, b, a])),
    "T.stack(a, b, axis=1)": (lambda x, m, a, b: T.stack(a, b, axis=1), lambda x, m, a, b: np.stack([a, b], axis=1)),
    "T.stack(a)": (lambda x, m, a, b: T.stack(a), lambda x, m, a, b: np.stack([a])),
    "T.stack(a[0], b[1])": (lambda x, m, a, b: T.stack(a[0], b[1]), lambda x, m, a, b: np.stack([a[0], b[1]])),
    "T.stack([a, b])": (lambda x, m, a, b: T.stack([a, b]), lambda x, m, a, b: np.stack([a, b])),
    "T.stack((a, b), 1)": (lambda x, m, a, b: T.stack((a, b), 1), lambda x, m, a, b: np.stack((a, b), 1)),
    "T.stack([m, m], axis=-1)": (lambda x, m, a, b: T.stack([m, m], axis=-1),
                                 lambda x, m, a, b: np.stack([m, m], axis=-1)),
    "T.stack(tensors=)": (lambda x, m, a, b: T.stack(tensors=[b, a]), lambda x, m, a, b: np.stack([b, a])),
    "T.concatenate([a, b])": (lambda x, m, a, b: T.concatenate([a, b]), lambda x, m, a, b: np.concatenate([a, b])),
    "T.concatenate((m, m), axis=1)": (lambda x, m, a, b: T.concatenate((m, m), axis=1),
                                      lambda x, m, a, b: np.concatenate((m, m), axis=1)),
    "T.concatenate([m, m], -1)": (lambda x, m, a, b: T.concatenate([m, m], -1),
                                  lambda x, m, a, b: np.concatenate([m, m], -1)),
    "T.join(0, a, b, a)": (lambda x, m, a, b: T.join(0, a, b, a), lambda x, m, a, b: np.concatenate([a, b, a])),
    "T.join(1, m, m)": (lambda x, m, a, b: T.join(1, m, m), lambda x, m, a, b: np.concatenate([m, m], 1)),
    "m.dimshuffle(1, 0)": (lambda x, m, a, b: m.dimshuffle(1, 0), lambda x, m, a, b: m.T),
    "m.dimshuffle((1, 0))": (lambda x, m, a, b: m.dimshuffle((1, 0)), lambda x, m, a, b: m.T),
    "m.dimshuffle('x', 0, 1)": (lambda x, m, a, b: m.dimshuffle("x", 0, 1), lambda x, m, a, b: m[None]),
    "a.dimshuffle(0, 'x')": (lambda x, m, a, b: a.dimshuffle(0, "x"), lambda x, m, a, b: a[:, None]),
    "x.sum(axis=1, keepdims=True)": (lambda x, m, a, b: x.sum(axis=1, keepdims=True),
                                     lambda x, m, a, b: x.sum(axis=1, keepdims=True)),
    "x.sum(1)": (lambda x, m, a, b: x.sum(1), lambda x, m, a, b: x.sum(1)),
    "x.sum((0, 2))": (lambda x, m, a, b: x.sum((0, 2)), lambda x, m, a, b: x.sum((0, 2))),
    "x.sum(axis=-1)": (lambda x, m, a, b: x.sum(axis=-1), lambda x, m, a, b: x.sum(axis=-1)),
    "x.sum()": (lambda x, m, a, b: x.sum(), lambda x, m, a, b: x.sum()),
    "x.mean(axis=(0, 1))": (lambda x, m, a, b: x.mean(axis=(0, 1)), lambda x, m, a, b: x.mean(axis=(0, 1))),
    "x.max(1)": (lambda x, m, a, b: x.max(1), lambda x, m, a, b: x.max(1)),
    "x.max(axis=-1, keepdims=True)": (lambda x, m, a, b: x.max(axis=-1, keepdims=True),
                                      lambda x, m, a, b: x.max(axis=-1, keepdims=True)),
    "x.min()": (lambda x, m, a, b: x.min(), lambda x, m, a, b: x.min()),
    "T.max(m, 0)": (lambda x, m, a, b: T.max(m, 0), lambda x, m, a, b: np.max(m, 0)),
    "x.argmax(1)": (lambda x, m, a, b: x.argmax(1), lambda x, m, a, b: x.argmax(1)),
    "m.argmin(axis=0)": (lambda x, m, a, b: m.argmin(axis=0), lambda x, m, a, b: m.argmin(axis=0)),
    "x.std(axis=1, ddof=1)": (lambda x, m, a, b: x.std(axis=1, ddof=1), lambda x, m, a, b: x.std(axis=1, ddof=1)),
    "x.swapaxes(0, 2)": (lambda x, m, a, b: x.swapaxes(0, 2), lambda x, m, a, b: x.swapaxes(0, 2)),
    "x.swapaxes(-1, 0)": (lambda x, m, a, b: x.swapaxes(-1, 0), lambda x, m, a, b: x.swapaxes(-1, 0)),
    "x.astype('float32')": (lambda x, m, a, b: x.astype("float32"), lambda x, m, a, b: x.astype("float32")),
    "x.astype(np.int32)": (lambda x, m, a, b: x.astype(np.int32), lambda x, m, a, b: x.astype(np.int32)),
    "m.zeros_like()": (lambda x, m, a, b: m.zeros_like(), lambda x, m, a, b: np.zeros_like(m)),
    "m.ones_like()": (lambda x, m, a, b: m.ones_like(), lambda x, m, a, b: np.ones_like(m)),
    "m.fill(2.5)": (lambda x, m, a, b: m.fill(2.5), lambda x, m, a, b: np.full_like(m, 2.5)),
    "m.clip(0, 3)": (lambda x, m, a, b: m.clip(0, 3), lambda x, m, a, b: m.clip(0, 3)),
    "m.take([1, 0], axis=1)": (lambda x, m, a, b: m.take([1, 0], axis=1), lambda x, m, a, b: m.take([1, 0], axis=1)),
    "T.shape_padleft(m)": (lambda x, m, a, b: T.shape_padleft(m), lambda x, m, a, b: m[None]),
    "T.shape_padleft(a, 2)": (lambda x, m, a, b: T.shape_padleft(a, 2), lambda x, m, a, b: a[None, None]),
    "T.shape_padright(m)": (lambda x, m, a, b: T.shape_padright(m), lambda x, m, a, b: m[:, :, None]),
    "T.shape_padright(a, n_ones=2)": (lambda x, m, a, b: T.shape_padright(a, n_ones=2),
                                      lambda x, m, a, b: a[:, None, None]),
    "T.shape_padaxis(m, 1)": (lambda x, m, a, b: T.shape_padaxis(m, 1), lambda x, m, a, b: m[:, None]),
    "T.shape_padaxis(m, -1)": (lambda x, m, a, b: T.shape_padaxis(m, -1), lambda x, m, a, b: m[:, :, None]),
}


@pytest.mark.parametrize("target", ["c", "interp"])
def test_call_forms_match_numpy(target: str) -> None:
    """Every form in one function per target (one C compile)."""
    x, m, a, b = T.dtensor3("x"), T.dmatrix("m"), T.dvector("a"), T.dvector("b")
    f = function([x, m, a, b], [sym(x, m, a, b) for sym, _ in FORMS.values()], target=target)
    for name, got, (_, ref) in zip(FORMS, f(A, M, V, W), FORMS.values()):
        want = np.asarray(ref(A, M, V, W))
        assert got.dtype == want.dtype and got.shape == want.shape, f"{name}: {got.dtype}{got.shape} != " \
                                                                    f"{want.dtype}{want.shape}"
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=name)


def test_call_forms_static_facts() -> None:
    """ndim and dtype are numpy's attributes (not symbolic); a form's result type is numpy's."""
    x = T.ftensor3("x")
    assert x.ndim == 3 and x.dtype == "float32"
    assert x.transpose(2, 0, 1).ndim == 3 and x.reshape(4, 6).ndim == 2 and T.stack(x, x).ndim == 4
    assert x.max(1).dtype == "float32" and x.argmax(1).dtype == "int64" and x.astype("int8").dtype == "int8"


@pytest.mark.parametrize("build,message", [
    (lambda x, a: x.transpose((1, 0, 2), axes=(1, 0, 2)), "transpose: the axes is given twice"),
    (lambda x, a: x.transpose(0, 1), "not a permutation"),
    (lambda x, a: x.reshape(), "reshape needs a shape"),
    (lambda x, a: x.reshape((4, 6), shape=(4, 6)), "reshape: the shape is given twice"),
    (lambda x, a: x.reshape((4, 6), 3), r"ndim=3 but the shape has 2 entries"),
    (lambda x, a: T.stack(), "T.stack takes a non-empty list"),
    (lambda x, a: T.stack([]), "T.stack takes a non-empty list"),
    (lambda x, a: T.stack([a, a], 0, 1), "T.stack takes a list of tensors and an axis, got 3"),
    (lambda x, a: T.stack([a], tensors=[a]), "given twice"),
    (lambda x, a: T.stack(a, a, axis=1.5), "T.stack takes one integer axis"),
    (lambda x, a: T.join(0), "T.join takes an axis and at least one tensor"),
    (lambda x, a: T.concatenate([a, a], axis="0"), "T.concatenate takes one integer axis"),
    (lambda x, a: T.shape_padleft(a, "a"), "shape_padleft takes a non-negative integer n_ones, got 'a'"),
    (lambda x, a: T.shape_padright(a, -1), "shape_padright takes a non-negative integer n_ones, got -1"),
])
def test_call_form_errors(build: Callable[..., Any], message: str) -> None:
    with pytest.raises(TirError, match=message):
        build(T.dtensor3("x"), T.dvector("a"))
