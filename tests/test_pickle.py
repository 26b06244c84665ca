"""Compiled functions and shared variables pickle (issue 13): the IR as built, the signature, the flags and
the shared values travel; the compiled code comes from the on-disk cache where it was built before."""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorir
from tensorir import config
from tensorir import tensor as T


def _sgd() -> tuple[tensorir.Function, tensorir.Function, tensorir.SharedVariable]:
    """A function with a shared weight and its update, and a second one that reads the same weight."""
    x, y = T.fmatrix("x"), T.fvector("y")
    w = tensorir.shared(np.linspace(-1, 1, 3, dtype="float32"), name="w")
    cost = ((T.dot(x, w) - y) ** 2).mean()
    step = tensorir.function([x, y], cost, updates=[(w, w - 0.1 * tensorir.grad(cost, w))], name="step")
    predict = tensorir.function([x], T.dot(x, w), name="predict")
    return step, predict, w


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((8, 3)).astype("float32"), rng.standard_normal(8).astype("float32")


try:
    import cloudpickle
except ImportError:  # it comes with tensorir[dask] (and the dev extra)
    cloudpickle = None


NO_CLOUDPICKLE = pytest.mark.skipif(cloudpickle is None, reason="no cloudpickle (pip install 'tensorir[dask]')")


@pytest.mark.parametrize("dumps", [pickle.dumps, pytest.param(getattr(cloudpickle, "dumps", None), id="cloudpickle",
                                                              marks=NO_CLOUDPICKLE)])
def test_round_trip_keeps_results_updates_and_sharing(dumps):
    step, predict, w = _sgd()
    x, y = _data()
    step2, predict2, w2 = pickle.loads(dumps((step, predict, w)))
    assert w2 is not w and np.array_equal(w2.get_value(), w.get_value()) and w2.name == "w"
    for _ in range(3):
        np.testing.assert_allclose(step2(x, y), step(x, y), rtol=1e-6)
    np.testing.assert_allclose(w2.get_value(), w.get_value(), rtol=1e-6)
    # the two unpickled functions still share one variable: predict2 sees step2's updates
    np.testing.assert_allclose(predict2(x), x @ w2.get_value(), rtol=1e-5)
    assert step2.compiled and step2.target == "c"
    assert step2.ir("tensor") == step.ir("tensor") and repr(step2) == repr(step)
    assert [v.type for v in step2.inputs] == [v.type for v in step.inputs]


def test_shared_variable_pickles_its_value():
    v = tensorir.shared(np.arange(4, dtype="int32"), name="counter")
    v2 = pickle.loads(pickle.dumps(v))
    assert v2.name == "counter" and v2.type == v.type and v2.get_value().tolist() == [0, 1, 2, 3]


def test_fresh_process_loads_compiled_code_from_cache(tmp_path):
    step, _, w = _sgd()
    x, y = _data()
    path = tmp_path / "step.pkl"
    path.write_bytes(pickle.dumps((step, x, y)))  # step compiled (tiered off): its code is in the cache
    expected = step(x, y), w.get_value()
    script = textwrap.dedent(f"""
        import pickle, sys
        from tensorir import config
        from tensorir.runtime import cache
        step, x, y = pickle.loads(open({str(path)!r}, "rb").read())
        cost = step(x, y)
        stats = cache.stats()
        print(step.compiled, int(stats["compiles"]), int(stats["disk_hits"] + stats["memory_hits"]))
        print(repr(float(cost)), repr(step._shared[0].get_value().tolist()))
    """)
    env = {**os.environ, "TENSORIR_FLAGS": f"cachedir={config.cachedir},tiered=1", "DEBUG": "0"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    status, values = out.stdout.splitlines()
    compiled, compiles, hits = status.split()
    assert compiled == "True" and compiles == "0" and int(hits) >= 1  # loaded, not compiled
    cost, w_after = values.split(" ", 1)
    np.testing.assert_allclose(float(cost), expected[0], rtol=1e-6)
    np.testing.assert_allclose(eval(w_after), expected[1], rtol=1e-6)


def test_unpickling_without_a_compiler():
    step, _, _ = _sgd()
    x, y = _data()
    data = pickle.dumps(step)
    expected = step(x, y)
    with config.change_flags(cc="/nonexistent/cc"):
        with pytest.raises(tensorir.TirError, match="no C compiler.*unpickle_fallback=interp"):
            pickle.loads(data)
        with config.change_flags(unpickle_fallback="interp"):
            fallback = pickle.loads(data)
    assert fallback.target == "interp"
    np.testing.assert_allclose(fallback(x, y), expected, rtol=1e-5)


def test_random_stream_state_travels_and_advances():
    rs = tensorir.RandomStreams(seed=3)
    x = T.fvector("x")
    f = tensorir.function([x], x + rs.uniform(size=(3,)).astype("float32"))
    zeros = np.zeros(3, "float32")
    f(zeros)  # the stream moves on; the copy continues from here, as the original does
    g = pickle.loads(pickle.dumps(f))
    for _ in range(2):
        np.testing.assert_array_equal(g(zeros), f(zeros))
