"""User errors (tensorir issue 6): located at the user's line, in one wording on every target, with Theano's
exception classes, and "not supported yet" for what is not built."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorir
from tensorir import NotSupportedError, TirError, function
from tensorir import tensor as T

PACKAGE = Path(tensorir.__file__).resolve().parent  # the checkout: the repository root is the package
TARGETS = ("c", "interp")


def line_of(marker: str) -> int:
    """The line of this file that contains `marker` (a comment), so the tests name lines without counting."""
    for k, text in enumerate(Path(__file__).read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# {marker}"):
            return k
    raise AssertionError(marker)


# ---------------------------------------------------------------- locations by module, not by path


def test_a_script_inside_the_checkout_is_located() -> None:
    # A script in examples/ of the checkout: its frames are not tensorir's although its file lies in the package.
    path = PACKAGE / "examples" / "user_script.py"
    source = "from tensorir import tensor as T\nx = T.dmatrix('x')\ny = T.dvector('y')\nT.concatenate([x, y])\n"
    with pytest.raises(TirError) as info:
        exec(compile(source, str(path), "exec"), {"__name__": "__main__"})
    assert str(info.value).startswith(f"{path}:4: 'tensor.concatenate' op inputs have ranks [2, 1]")


def _python_in_checkout(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -c` with cwd = the checkout and tensorir imported from the checkout's own path (an editable
    install, a clone named tensorir): line 1 sets that up, `code` starts on line 2."""
    boot = ("import importlib.util, sys; s = importlib.util.spec_from_file_location('tensorir', "
            f"{str(PACKAGE / '__init__.py')!r}, submodule_search_locations=[{str(PACKAGE)!r}]); "
            "m = importlib.util.module_from_spec(s); sys.modules['tensorir'] = m; s.loader.exec_module(m)")
    env = {**os.environ, "TENSORIR_FLAGS": f"cachedir={tmp_path / 'cache'}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", boot + "\n" + code], cwd=PACKAGE, env=env, capture_output=True,
                          text=True, timeout=300)


def test_python_c_in_the_checkout_is_located(tmp_path: Path) -> None:
    proc = _python_in_checkout("from tensorir import tensor as T\nT.concatenate([T.dmatrix('x'), T.dvector('y')])",
                               tmp_path)
    assert proc.returncode == 1
    assert "Error: <string>:3: 'tensor.concatenate' op inputs have ranks [2, 1]" in proc.stderr, proc.stderr


def test_tutorial_run_in_the_checkout_names_its_lines(tmp_path: Path) -> None:
    proc = _python_in_checkout("import runpy; runpy.run_path('examples/tutorial.py', run_name='__main__')", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "<unknown>" not in proc.stdout
    assert "from examples/tutorial.py:" in proc.stdout  # the generated C names the line of its function


# ---------------------------------------------------------------- one wording, located, on every target


def outcome(build: Callable[[], tensorir.Function], *args: Any) -> tuple[type[BaseException], str]:
    """The exception class and message of calling what `build` compiles, on each target; all must agree."""
    seen: dict[str, tuple[type[BaseException], str]] = {}
    for target in TARGETS:
        with tensorir.config.change_flags(target=target):
            f = build()
        with pytest.raises(TirError) as info:
            f(*args)
        seen[target] = (type(info.value), str(info.value))
    assert seen["c"] == seen["interp"]
    return seen["c"]


def test_static_size_of_an_input_is_a_located_value_error() -> None:
    r = T.drow("r")

    def build() -> tensorir.Function:
        return function([r], r * 2)  # row-function

    where = f"{__file__}:{line_of('row-function')}"
    want = f"{where}: input 'r' (#0) of @main expects shape (1, ?), got an array of shape (2, 3)"
    for given in (np.ones((2, 3)), np.ones((2, 3), dtype=np.float32), [[1.0, 2, 3], [4, 5, 6]]):
        # float64 takes the C entry's own check, the others the Python-side conversion: one message
        cls, message = outcome(build, given)
        assert message == want
        assert issubclass(cls, ValueError)


@pytest.mark.parametrize("shape,given", [((3,), (2,)), ((2, None, 4), (2, 5, 3)), ((None, 1), (0, 0))])
def test_static_size_message_of_any_rank(shape: tuple[int | None, ...], given: tuple[int, ...]) -> None:
    x = T.tensor("float64", shape=shape, name="x")
    _, message = outcome(lambda: function([x], x + 1), np.zeros(given))
    want = "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    assert message.endswith(f": input 'x' (#0) of @main expects shape {want}, got an array of shape {given}")


def test_dtype_and_rank_of_an_input_are_type_errors() -> None:
    x = T.fvector("x")

    def build() -> tensorir.Function:
        return function([x], x + 1)  # fvector-function

    where = f"{__file__}:{line_of('fvector-function')}"
    cls, message = outcome(build, np.ones((2, 2), dtype=np.float32))
    assert issubclass(cls, TypeError) and message.startswith(f"{where}: input 'x' (#0) of @main expects a 1-d")
    cls, message = outcome(build, np.ones(3, dtype=np.float64))
    assert issubclass(cls, TypeError) and message.startswith(f"{where}: input 'x' (#0) of @main expects float32")
    cls, message = outcome(build, "text")
    assert issubclass(cls, TypeError)


def test_dot_mismatch_at_run_time_reads_the_same_on_every_target() -> None:
    a, b = T.dmatrices("a", "b")
    product = T.dot(a, b)  # dot-line
    cls, message = outcome(lambda: function([a, b], product), np.ones((2, 3)), np.ones((4, 5)))
    assert message == f"{__file__}:{line_of('dot-line')}: contraction dims 3 and 4 do not match"
    assert issubclass(cls, ValueError)
    with pytest.raises(ValueError):
        np.dot(np.ones((2, 3)), np.ones((4, 5)))  # numpy's class for the same mistake


def test_matmul_mismatch_at_run_time_reads_the_same_on_every_target() -> None:
    a, v = T.tensor3("a"), T.dvector("v")
    product = T.matmul(a, v)  # matmul-line
    _, message = outcome(lambda: function([a, v], product), np.ones((2, 2, 3)), np.ones(4))
    assert message == f"{__file__}:{line_of('matmul-line')}: contraction dims 3 and 4 do not match"


def test_concatenate_mismatch_lists_sizes_in_operand_order_on_every_target() -> None:
    a, b = T.dmatrices("a", "b")
    joined = T.concatenate([a, b], axis=1)  # concatenate-line
    cls, message = outcome(lambda: function([a, b], joined), np.ones((2, 3)), np.ones((4, 5)))
    assert message == (f"{__file__}:{line_of('concatenate-line')}: inputs #0 and #1 differ in dimension 0: "
                       "sizes 2 and 4")
    assert issubclass(cls, ValueError)
    c = T.dmatrix("c")
    three = T.concatenate([a, b, c])  # concatenate-three
    _, message = outcome(lambda: function([a, b, c], three), np.ones((1, 3)), np.ones((1, 3)), np.ones((2, 4)))
    assert message.endswith(f":{line_of('concatenate-three')}: inputs #0 and #2 differ in dimension 1: sizes 3 and 4")


def test_reshape_mismatch_at_run_time_reads_the_same_on_every_target() -> None:
    x, n = T.dmatrix("x"), T.lscalar("n")
    rest, fixed = x.reshape((n, -1)), x.reshape((n, 6))  # reshape-line
    where = f"{__file__}:{line_of('reshape-line')}"
    for out, given, want in ((rest, 5, "cannot reshape 12 elements into a shape of 10 elements"),
                             (rest, 0, "cannot reshape: the other sizes of a -1 reshape multiply to 0"),
                             (fixed, 3, "cannot reshape 12 elements into a shape of 18 elements")):
        cls, message = outcome(lambda out=out: function([x, n], out), np.ones((3, 4)), given)
        assert message == f"{where}: {want}" and issubclass(cls, ValueError)


def test_squeeze_of_a_dim_that_is_not_1_says_so_on_every_target() -> None:
    x = T.dmatrix("x")
    y = T.squeeze(x, axis=0)  # squeeze-line
    cls, message = outcome(lambda: function([x], y), np.ones((3, 4)))
    assert message == (f"{__file__}:{line_of('squeeze-line')}: cannot squeeze dimension 0 of size 3: "
                       "only a dimension of size 1 can be squeezed")
    assert issubclass(cls, ValueError)
    for target in TARGETS:  # and a dim that is 1 squeezes as numpy does, from any layout
        data = np.arange(8.0).reshape(4, 2).T[:1]
        np.testing.assert_array_equal(function([x], y, target=target)(data), np.squeeze(data, axis=0))


def test_static_squeeze_error_uses_the_same_words() -> None:
    with pytest.raises(TirError, match=r"cannot squeeze dimension 1 of size 3: only a dimension of size 1"):
        T.squeeze(T.tensor("float64", shape=(1, 3)), axis=1)


def test_broadcast_mismatch_names_the_op_the_shapes_and_the_dimension_on_every_target() -> None:
    a, b = T.dmatrices("a", "b")
    v = T.dvector("v")
    total, with_vector = a + b, a + v  # add-line
    where = f"{__file__}:{line_of('add-line')}: 'tensor.add' op operand shapes"
    cls, message = outcome(lambda: function([a, b], total), np.ones((3, 4)), np.ones((2, 4)))
    assert message == f"{where} (3, 4) and (2, 4) do not broadcast: dimension 0 has sizes 3 and 2"
    assert issubclass(cls, ValueError)
    _, message = outcome(lambda: function([a, v], with_vector), np.ones((3, 4)), np.ones(3))
    assert message == f"{where} (3, 4) and (3,) do not broadcast: dimension 1 has sizes 4 and 3"


def test_broadcast_mismatch_in_a_fused_chain_names_the_op_that_fails() -> None:
    a, b, c = T.dmatrices("a", "b", "c")
    total = a + b  # chain-add
    chain = total * c  # chain-mul
    build = lambda: function([a, b, c], chain)  # noqa: E731
    _, message = outcome(build, np.ones((3, 4)), np.ones((1, 4)), np.ones((2, 4)))
    assert message == (f"{__file__}:{line_of('chain-mul')}: 'tensor.mul' op operand shapes (3, 4) and (2, 4) "
                       "do not broadcast: dimension 0 has sizes 3 and 2")
    _, message = outcome(build, np.ones((3, 4)), np.ones((3, 5)), np.ones((3, 4)))
    assert message == (f"{__file__}:{line_of('chain-add')}: 'tensor.add' op operand shapes (3, 4) and (3, 5) "
                       "do not broadcast: dimension 1 has sizes 4 and 5")
    for target in TARGETS:  # a dim that is 1 at run time broadcasts, as numpy's
        got = function([a, b, c], chain, target=target)(np.ones((3, 1)), np.full((1, 4), 2.0), np.full((3, 1), 3.0))
        np.testing.assert_array_equal(got, (np.ones((3, 1)) + np.full((1, 4), 2.0)) * np.full((3, 1), 3.0))


def test_broadcast_mismatch_of_three_operands_lists_them_in_order() -> None:
    c, a, b = T.dmatrices("c", "a", "b")
    picked = T.switch(c, a, b)  # where-line
    _, message = outcome(lambda: function([c, a, b], picked), np.ones((3, 4)), np.ones((1, 4)), np.ones((2, 4)))
    assert message == (f"{__file__}:{line_of('where-line')}: 'tensor.where' op operand shapes (3, 4), (1, 4) and "
                       "(2, 4) do not broadcast: dimension 0 has sizes 3 and 2")
    _, message = outcome(lambda: function([c, a, b], picked), np.ones((1, 4)), np.ones((1, 5)), np.ones((1, 4)))
    assert message.endswith("operand shapes (1, 4), (1, 5) and (1, 4) do not broadcast: dimension 1 has sizes 4 and 5")


def test_matmul_batch_dims_and_crossentropy_targets_that_do_not_broadcast_read_the_same_on_every_target() -> None:
    a, b, p, t = T.tensor3("a"), T.tensor3("b"), T.dmatrix("p"), T.dmatrix("t")
    product, loss = T.matmul(a, b), T.nnet.categorical_crossentropy(p, t)  # batch-line
    where = f"{__file__}:{line_of('batch-line')}"
    cls, message = outcome(lambda: function([a, b], product), np.ones((2, 3, 4)), np.ones((3, 4, 5)))
    assert message == (f"{where}: 'tensor.matmul' op operand shapes (2, 3, 4) and (3, 4, 5) do not broadcast: "
                       "dimension 0 has sizes 2 and 3")
    assert issubclass(cls, ValueError)
    # computed as t * log(p): the message names that product, with t first
    _, message = outcome(lambda: function([p, t], loss), np.ones((2, 3)), np.ones((2, 4)))
    assert message == (f"{where}: 'tensor.mul' op operand shapes (2, 4) and (2, 3) do not broadcast: "
                       "dimension 1 has sizes 4 and 3")


def test_class_indices_of_the_wrong_length_are_a_located_error_in_the_interpreter() -> None:
    p, i = T.dmatrix("p"), T.lvector("i")
    loss = T.nnet.categorical_crossentropy(p, i)  # indices-line
    with pytest.raises(TirError) as info:  # was numpy's IndexError, without a place
        function([p, i], loss, target="interp")(np.ones((2, 3)), np.array([0, 1, 2]))
    assert isinstance(info.value, ValueError)
    assert str(info.value) == (f"{__file__}:{line_of('indices-line')}: 'tensor.categorical_crossentropy' op class "
                               "indices of shape (3,) do not match coding_dist of shape (2, 3)")


def test_subtensor_value_that_does_not_broadcast_reads_the_same_on_every_target() -> None:
    x, y = T.dmatrix("x"), T.dvector("y")
    inc, put = T.inc_subtensor(x[0], y), T.set_subtensor(x[1:], y)  # subtensor-line
    where = f"{__file__}:{line_of('subtensor-line')}"
    cls, message = outcome(lambda: function([x, y], inc), np.ones((3, 4)), np.ones(3))
    assert message == (f"{where}: 'tensor.inc_subtensor' op value shape (3,) does not broadcast to (4,): "
                       "dimension 0 has sizes 3 and 4")
    assert issubclass(cls, ValueError)
    _, message = outcome(lambda: function([x, y], put), np.ones((3, 4)), np.ones(3))
    assert message == (f"{where}: 'tensor.set_subtensor' op value shape (3,) does not broadcast to (2, 4): "
                       "dimension 1 has sizes 3 and 4")


def test_index_out_of_bounds_names_the_index_and_the_size_on_every_target() -> None:
    x, i = T.dmatrix("x"), T.lvector("i")
    picked, put = x[i], T.set_subtensor(x[i], 0.0)  # take-line
    where = f"{__file__}:{line_of('take-line')}"
    for given, bad in (([0, 5, 4], 5), ([-4, 7], -4), ([2, -3], None)):
        if bad is None:
            for target in TARGETS:  # in bounds, negative ones counting from the end
                np.testing.assert_array_equal(function([x, i], picked, target=target)(np.eye(3), given),
                                              np.eye(3)[given])
            continue
        cls, message = outcome(lambda: function([x, i], picked), np.ones((3, 4)), np.array(given))
        assert message == f"{where}: 'tensor.take' op index {bad} is out of bounds for axis 0 of size 3"
        assert issubclass(cls, ValueError)
        _, message = outcome(lambda: function([x, i], put), np.ones((3, 4)), np.array(given))
        assert message == f"{where}: 'tensor.set_take' op index {bad} is out of bounds for axis 0 of size 3"
    k = T.lscalar("k")
    element = x[1, k]  # subtensor-index
    _, message = outcome(lambda: function([x, k], element), np.ones((3, 4)), -5)
    assert message == (f"{__file__}:{line_of('subtensor-index')}: 'tensor.subtensor' op index -5 is out of bounds "
                       "for axis 1 of size 4")


def test_integers_to_negative_powers_read_the_same_on_every_target() -> None:
    p, q = T.lvectors("p", "q")
    power = p ** q  # pow-line
    cls, message = outcome(lambda: function([p, q], power), np.array([2, 2]), np.array([1, -1]))
    assert message == (f"{__file__}:{line_of('pow-line')}: 'tensor.pow' op integers to negative integer powers "
                       "are not allowed")
    assert issubclass(cls, ValueError)
    with pytest.raises(ValueError):
        np.power(np.array([2, 2]), np.array([1, -1]))  # numpy's class


def test_negative_run_time_reshape_sizes_are_refused_on_every_target() -> None:
    x, n, m = T.dmatrix("x"), T.lscalar("n"), T.lscalar("m")
    both, rest = x.reshape((n, m)), x.reshape((n, -1))  # negative-reshape
    where = f"{__file__}:{line_of('negative-reshape')}"
    for out, sizes, bad in ((both, (-2, -6), -2), (both, (2, -6), -6), (rest, (-1,), -1)):
        cls, message = outcome(lambda out=out: function([x, n, m], out, on_unused_input="ignore"),
                               np.ones((3, 4)), *sizes, *([0] * (2 - len(sizes))))
        assert message == (f"{where}: cannot reshape into a negative size {bad} (only a -1 written in the shape "
                           "means 'the rest')")
        assert issubclass(cls, ValueError)


def test_run_time_sizes_steps_and_empty_reductions_read_the_same_on_every_target() -> None:
    n, k = T.lscalars("n", "k")
    v, x, y = T.dvector("v"), T.dmatrix("x"), T.dmatrix("y")
    cases = [  # (inputs, output, arguments, message after the location)
        ([n], T.zeros((n, 2)), [-1], "'tensor.zeros' op size -1 is negative"),  # sizes-line
        ([n], T.eye(n), [-2], "'tensor.eye' op size -2 is negative"),  # sizes-line
        ([v, n], T.alloc(v, n, 3), [np.ones(3), -2], "'tensor.alloc' op size -2 is negative"),  # sizes-line
        ([n, k], T.arange(n, 5, k), [0, 0], "'tensor.arange' op step must not be zero"),  # sizes-line
        ([v, k], v[::k], [np.ones(3), 0], "'tensor.subtensor' op slice step of dim 0 is zero"),  # sizes-line
        ([x], T.max(x, axis=0), [np.ones((0, 3))], "reduction over an empty axis has no identity"),  # sizes-line
        ([v], T.argmax(v), [np.ones(0)], "reduction over an empty axis has no identity"),  # sizes-line
        ([x, y], T.stack([x, y]), [np.ones((2, 3)), np.ones((2, 4))],  # sizes-line
         "inputs #0 and #1 differ in dimension 2: sizes 3 and 4"),
    ]
    lines = [k for k, text in enumerate(Path(__file__).read_text().splitlines(), 1) if text.endswith("# sizes-line")]
    assert len(lines) == len(cases)
    for (inputs, out, args, want), line in zip(cases, lines):
        cls, message = outcome(lambda inputs=inputs, out=out: function(inputs, out), *args)
        assert message == f"{__file__}:{line}: {want}" and issubclass(cls, ValueError)


def test_an_input_alias_names_the_input_on_every_target() -> None:
    r = T.drow("r")

    def build() -> tensorir.Function:
        return function([tensorir.In(r, name="alias")], r * 2)  # alias-function

    _, message = outcome(build, np.ones((2, 3)))
    assert message == (f"{__file__}:{line_of('alias-function')}: input 'alias' (#0) of @main expects shape (1, ?), "
                       "got an array of shape (2, 3)")


def test_calls_with_missing_extra_or_unknown_arguments_are_located_type_errors() -> None:
    x, y = T.dmatrices("x", "y")

    def build() -> tensorir.Function:
        return function([x, y], x + y)  # call-function

    where = f"{__file__}:{line_of('call-function')}: function @main"
    signature = " (signature: main(x: tensor<?x?xf64>, y: tensor<?x?xf64>))"
    one = np.ones((2, 2))
    for args, kwargs, want in (
            ((one,), {}, f"{where} is missing a value for input 'y' (#1): it takes 2 arguments, got 1{signature}"),
            ((one, one, one), {}, f"{where} takes 2 arguments, got 3{signature}"),
            ((one,), {"z": one}, f"{where} has no input named 'z'{signature}"),
            ((one, one), {"y": one}, f"{__file__}:{line_of('call-function')}: input 'y' of @main is given twice "
                                     "(by position and by name)")):
        for target in TARGETS:
            with tensorir.config.change_flags(target=target):
                f = build()
            with pytest.raises(TypeError) as info:
                f(*args, **kwargs)
            assert isinstance(info.value, TirError) and str(info.value) == want


def test_a_misspelt_dtype_is_located_with_a_suggestion() -> None:
    with pytest.raises(TirError) as info:
        T.tensor("floot32", shape=(None,))  # dtype-line
    assert str(info.value) == (f"{__file__}:{line_of('dtype-line')}: unknown element type 'floot32'; did you mean "
                               "'float32'?")
    with pytest.raises(TirError, match=r"unknown element type 'x'; expected one of bool, int8, .*, float64$"):
        T.vector("v", dtype="x")


def test_a_value_that_is_no_tensor_is_a_located_type_error_that_shows_it() -> None:
    x = T.dmatrix("x")
    with pytest.raises(TypeError) as info:
        tensorir.function([x], "x + 1")  # string-output
    assert isinstance(info.value, TirError)
    assert str(info.value) == (f"{__file__}:{line_of('string-output')}: cannot make a tensor constant of str 'x + 1' "
                               "(dtype <U5): a tensor is built from real or boolean numbers, numpy arrays or lists of "
                               "them")


# ---------------------------------------------------------------- on_unused_input


@pytest.mark.parametrize("target", TARGETS)
def test_on_unused_input(target: str) -> None:
    x, y = T.dvectors("x", "y")
    with pytest.raises(TirError, match=r"input #1 \('y'\) of tensorir.function is not needed to compute the outputs"):
        function([x, y], x * 2, target=target)
    with pytest.warns(UserWarning, match=r"input #1 \('y'\) .* not needed"):
        f = function([x, y], x * 2, target=target, on_unused_input="warn")
    np.testing.assert_array_equal(f([1.0, 2.0], [5.0]), [2.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = function([x, y], x * 2, target=target, on_unused_input="ignore")
    np.testing.assert_array_equal(g([1.0], [5.0, 6.0]), [2.0])
    with pytest.raises(ValueError, match="on_unused_input must be one of 'raise', 'warn', 'ignore', got 'bogus'"):
        function([x], x, target=target, on_unused_input="bogus")
    function([x, y], x + y, target=target)  # both used: no error


# ---------------------------------------------------------------- not supported yet


def _eval_variable() -> Any:
    return T.dvector("x").eval()


def _from_import() -> Any:
    from tensorir import pp
    return pp


NOT_YET: dict[str, Callable[[], Any]] = {
    "tensorir.pp": _from_import,
    "tensorir.printing": lambda: tensorir.printing.pp,
    "T.random": lambda: T.random, "T.fft": lambda: T.fft,
    "Variable.eval": _eval_variable,
}


@pytest.mark.parametrize("name", sorted(NOT_YET))
def test_what_is_not_built_says_not_supported_yet(name: str) -> None:
    with pytest.raises(NotSupportedError) as info:
        NOT_YET[name]()
    assert isinstance(info.value, TirError) and isinstance(info.value, NotImplementedError)
    assert str(info.value).startswith(f"{name} ") and "is not supported yet (see README)" in str(info.value)


def test_updates_of_what_is_not_a_shared_variable() -> None:
    x = T.dvector("x")
    with pytest.raises(TirError, match=r"updates\[0\] updates .*x.*which is not a shared variable"):
        function([x], x, updates=[(x, x + 1)])


def test_unknown_names_are_attribute_errors_with_a_hint() -> None:
    with pytest.raises(AttributeError, match=r"T.dmatrx does not exist; did you mean T.dmatrix"):
        T.dmatrx  # noqa: B018
    with pytest.raises(AttributeError, match=r"tensorir.functon does not exist; did you mean tensorir.function"):
        tensorir.functon  # noqa: B018
    with pytest.raises(AttributeError, match=r"Variable.summ does not exist; did you mean Variable.sum"):
        T.dvector("x").summ  # noqa: B018
    assert not isinstance(pytest.raises(AttributeError, lambda: T.no_such_thing).value, NotSupportedError)
    from tensorir import runtime  # submodules still import by from-import
    assert runtime.__name__ == "tensorir.runtime"


def test_dir_of_T_is_the_api() -> None:
    names = dir(T)
    for internal in ("np", "Any", "builtins", "Sequence", "TirError", "apply", "caller_location"):
        assert internal not in names
    for api in ("dmatrix", "dot", "concatenate", "squeeze", "nnet", "sum", "switch"):
        assert api in names
    for name in names:
        getattr(T, name)  # every listed name exists
