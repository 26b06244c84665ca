"""emit-c and the C target: generated C against the reference interpreter.

Hand-written kernel-level IR (text) is rendered by backends/c.py, compiled through the runtime
(runtime/c_module.py) and compared with `tensorir.runtime.interpreter.run` on random inputs:
one module holds every scalar op for every dtype (one compile), another the structural ops
(loops with iter args, views, copies, checks, BLAS, constants). Then the vectorization of a
W1-like kernel (gcc's -fopt-info-vec) and end-to-end `tensorir.function(..., target="c")`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from tensorir.backends.c import CRenderer, render_c
from tensorir.backends.cstyle import EXPR, UNREACHABLE
from tensorir.frontend.parser import parse
from tensorir.ir.core import OP_REGISTRY, TirError
from tensorir.ir.verifier import verify
from tensorir.runtime.interpreter import run as interpret

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="no C compiler")

RNG = np.random.default_rng(0)
N = 37

INTS = ["i8", "i16", "i32", "i64", "ui8", "ui16", "ui32", "ui64"]
FLOATS = ["f16", "f32", "f64"]
DTYPES = ["i1", *INTS, *FLOATS]
BINARY = ["add", "sub", "mul", "true_div", "int_div", "mod", "pow", "arctan2", "maximum", "minimum", "eq", "ne",
          "lt", "le", "gt", "ge", "and", "or", "xor", "binary_crossentropy"]
UNARY = ["neg", "abs", "sign", "square", "rsqrt", "relu", "floor", "ceil", "round", "not", "exp", "exp2", "expm1",
         "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos",
         "arctan", "sigmoid", "softplus", "erf", "erfc"]


def _load(module_text: str, name: str = "t"):
    from tensorir.runtime.c_module import load

    m = parse(module_text, f"{name}.tir")
    verify(m)
    return m, load(render_c(m), name)


def _result_type(op: str, dtypes: list[str]) -> str | None:
    """numpy's result element type of scalar.<op> on these operand types (None where numpy refuses)."""
    from tensorir.ir.types import ScalarType

    cls = OP_REGISTRY[f"scalar.{op}"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return str(cls.tensor_op.element_type(cls.tensor_op, [ScalarType(d).dtype for d in dtypes]))  # type: ignore[attr-defined]
    except Exception:
        return None


def _input(dtype: str, role: str, op: str = "") -> np.ndarray:
    from tensorir.ir.types import ScalarType

    dt = ScalarType(dtype).dtype
    if dt.kind == "b":
        return RNG.random(N) < 0.5
    if dt.kind in "iu":
        lo = 0 if dt.kind == "u" or role == "exp" else -9
        v = RNG.integers(lo, 10, N).astype(dt)
        if role == "exp":
            v = (v % 5).astype(dt)
        return v
    v = RNG.normal(0, 2, N).astype(dt)
    v[:4] = [0.0, -0.0, np.inf, np.nan] if role == "a" else [1.5, 0.0, -2.0, 3.0]
    return v


def _scalar_cases() -> list[tuple[str, list[str], str]]:
    cases = []
    for d in DTYPES:
        for op in BINARY:
            r = _result_type(op, [d, d])
            if r is not None:
                cases.append((op, [d, d], r))
        for op in UNARY:
            r = _result_type(op, [d])
            if r is not None:
                cases.append((op, [d], r))
        for d2 in DTYPES:
            cases.append(("cast", [d], d2))
    cases += [("select", ["i1", d, d], d) for d in ("i32", "f32", "f64")]
    cases += [("clip", [d, d, d], d) for d in ("i16", "f32", "f64")]
    cases += [("add", ["i32", "f32"], "f64"), ("lt", ["i64", "f32"], "i1"), ("mul", ["ui8", "i8"], "i16")]
    return cases


def _scalar_module(cases: list[tuple[str, list[str], str]]) -> str:
    """One kernel per case: o[i] = op(a[i], b[i], ...), launched by @main on arrays named after the dtypes."""
    used = sorted({d for _, ds, _ in cases for d in ds})
    params = [f"%{role}_{d}: memref<?x{d}, strides=[?]>" for d in used for role in ("a", "b", "e")]
    text, host, results, rtypes = [], [], [], []
    host.append("  %n = mem.dim %a_f32 {axis = 0} : index")
    for k, (op, ds, r) in enumerate(cases):
        roles = ["a", "e" if op == "pow" and ds[0] in INTS else "b", "b"][:len(ds)]
        if op == "select":
            roles = ["a", "a", "b"]
        args = [f"%x{j}: memref<?x{d}, strides=[?]>" for j, d in enumerate(ds)]
        loads = "\n".join(f"      %v{j} = mem.load %x{j} indices %i : {d}" for j, d in enumerate(ds))
        attrs = f" {{dtype = {r}}}" if op == "cast" else ""
        operands = ", ".join(f"%v{j}" for j in range(len(ds)))
        text.append(f"""kernel.func @k{k}({', '.join(args)}, %o: memref<?x{r}>, %n: index) {{
  loop.parallel %n ({{
    ^bb0(%i: index):
{loads}
      %r = scalar.{op} {operands}{attrs} : {r}
      mem.store %r, %o indices %i : {r}, memref<?x{r}>, index
      loop.yield
  }}) : index
  kernel.return
}}""")
        host.append(f"  %o{k} = mem.alloc %n {{shape = [?], dtype = {r}}} : memref<?x{r}>")
        ins = ", ".join(f"%{role}_{d}" for role, d in zip(roles, ds))
        types = ", ".join(f"memref<?x{d}, strides=[?]>" for d in ds)
        host.append(f"  kernel.launch {ins}, %o{k}, %n {{kernel = @k{k}}} : {types}, memref<?x{r}>, index")
        results.append(f"%o{k}")
        rtypes.append(f"memref<?x{r}>")
    host.append(f"  func.return {', '.join(results)} : {', '.join(rtypes)}")
    text.append(f"func.func @main({', '.join(params)}) -> ({', '.join(rtypes)}) {{\n" + "\n".join(host) + "\n}")
    return "\n".join(text), used


@pytest.fixture(scope="module")
def scalar_run():
    cases = _scalar_cases()
    text, used = _scalar_module(cases)
    m, mod = _load(text, "scalars")
    inputs = []
    for d in used:
        for role in ("a", "b", "e"):
            inputs.append(_input(d, role))
    # strided inputs: every other element of a twice-as-long array (the general path of each kernel)
    strided = []
    for x in inputs:
        y = np.empty(2 * N, x.dtype)
        y[::2] = x
        strided.append(y[::2])
    with np.errstate(all="ignore"):
        want = interpret(m, "main", *inputs)
    by_dtype = {d: inputs[3 * k] for k, d in enumerate(used)}
    return cases, want, mod.run(*inputs), mod.run(*strided), by_dtype


def _tol(dtype: np.dtype) -> dict:
    return {"float16": {"rtol": 2e-3, "atol": 1e-3}, "float32": {"rtol": 4e-6, "atol": 1e-30},
            "float64": {"rtol": 1e-13, "atol": 1e-300}}.get(str(dtype), {"rtol": 0, "atol": 0})


def test_scalar_ops_every_dtype(scalar_run) -> None:
    cases, want, got, got_strided, by_dtype = scalar_run
    bad = []
    for (op, ds, r), w, g, gs in zip(cases, want, got, got_strided):
        assert g.dtype == w.dtype, (op, ds, r)
        if op == "cast" and by_dtype[ds[0]].dtype.kind == "f" and w.dtype.kind in "iu":
            # float -> integer of a value out of the integer's range (inf, nan) is undefined: numpy itself
            # gives different values on its scalar and array paths
            info = np.iinfo(w.dtype)
            with np.errstate(all="ignore"):
                ok = np.isfinite(by_dtype[ds[0]]) \
                    & (by_dtype[ds[0]] >= info.min) & (by_dtype[ds[0]] <= info.max)
            w, g, gs = w[ok], g[ok], gs[ok]
        for res in (g, gs):
            try:
                np.testing.assert_allclose(res.astype(np.float64) if res.dtype.kind == "f" else res, w.astype(
                    np.float64) if w.dtype.kind == "f" else w, equal_nan=True, **_tol(w.dtype))
            except AssertionError as e:
                bad.append(f"scalar.{op}({', '.join(ds)}) -> {r}: {str(e).splitlines()[-3:]}")
    assert not bad, "\n".join(bad[:20])


STRUCT = """
kernel.func @rowsum(%x: memref<?x?xf32, strides=[?,?]>, %o: memref<?xf32>, %m: index, %n: index) {
  loop.parallel %m ({
    ^bb0(%i: index):
      %z = scalar.constant {value = 0.0 : f32} : f32
      %s = loop.for %n iter %z {simd_reduction = "add"} ({
        ^bb0(%j: index, %acc: f32):
          %v = mem.load %x indices %i, %j : f32
          %t = scalar.add %acc, %v : f32
          loop.yield %t : f32
      }) : f32
      mem.store %s, %o indices %i : f32, memref<?xf32>, index
      loop.yield
  }) : index
  kernel.return
}
kernel.func @rowmax(%x: memref<?x?xf32, strides=[?,?]>, %o: memref<?xf32>, %m: index, %n: index) {
  loop.parallel %m ({
    ^bb0(%i: index):
      %z = scalar.constant {value = -3.0e38 : f32} : f32
      %s = loop.for %n iter %z {simd_reduction = "max"} ({
        ^bb0(%j: index, %acc: f32):
          %v = mem.load %x indices %i, %j : f32
          %t = scalar.maximum %acc, %v : f32
          loop.yield %t : f32
      }) : f32
      mem.store %s, %o indices %i : f32, memref<?xf32>, index
      loop.yield
  }) : index
  kernel.return
}
kernel.func @clamp(%x: memref<?x?xf32, strides=[?,?]>, %o: memref<?x?xf32>, %m: index, %n: index) {
  loop.parallel %m, %n ({
    ^bb0(%i: index, %j: index):
      %v = mem.load %x indices %i, %j : f32
      %z = scalar.constant {value = 0.0 : f32} : f32
      %c = scalar.lt %v, %z : i1
      %r = loop.if %c ({ loop.yield %z : f32 }, { %w = scalar.mul %v, %v : f32
        loop.yield %w : f32 }) : f32
      mem.store %r, %o indices %i, %j : f32, memref<?x?xf32>, index, index
      loop.yield
  }) : index, index
  kernel.return
}
func.func @main(%x: memref<?x?xf32, strides=[?,?]>, %a: memref<?x?xf64, strides=[?,?]>,
                %v: memref<?xf64, strides=[?]>) -> (memref<?xf32>, memref<?xf32>, memref<?x?xf32>,
                memref<?x?xf32>, memref<?x?xf64>, memref<?xf64>, memref<?x?xf64, strides=[?,?]>, memref<3xf64>) {
  %m = mem.dim %x {axis = 0} : index
  %n = mem.dim %x {axis = 1} : index
  %s = mem.alloc %m {shape = [?], dtype = f32} : memref<?xf32>
  kernel.launch %x, %s, %m, %n {kernel = @rowsum} : memref<?x?xf32, strides=[?,?]>, memref<?xf32>, index, index
  %mx = mem.alloc %m {shape = [?], dtype = f32} : memref<?xf32>
  kernel.launch %x, %mx, %m, %n {kernel = @rowmax} : memref<?x?xf32, strides=[?,?]>, memref<?xf32>, index, index
  %c = mem.alloc %m, %n {shape = [?, ?], dtype = f32} : memref<?x?xf32>
  kernel.launch %x, %c, %m, %n {kernel = @clamp} : memref<?x?xf32, strides=[?,?]>, memref<?x?xf32>, index, index
  %s0 = mem.stride %x {axis = 0} : index
  %s1 = mem.stride %x {axis = 1} : index
  %xt = mem.view %x sizes %n, %m, %s1, %s0 {offset = 0, shape = [?, ?], strides = [?, ?]}
      : memref<?x?xf32, strides=[?,?]>
  %t = mem.alloc %n, %m {shape = [?, ?], dtype = f32} : memref<?x?xf32>
  mem.copy %xt, %t : memref<?x?xf32, strides=[?,?]>, memref<?x?xf32>
  %p = mem.dim %a {axis = 0} : index
  %g = mem.alloc %p, %p {shape = [?, ?], dtype = f64} : memref<?x?xf64>
  lib.gemm %a, %a, %g {alpha = 2.0, beta = 0.0, trans_a = true, trans_b = false}
      : memref<?x?xf64, strides=[?,?]>, memref<?x?xf64, strides=[?,?]>, memref<?x?xf64>
  %y = mem.alloc %p {shape = [?], dtype = f64} : memref<?xf64>
  lib.gemv %a, %v, %y {alpha = 1.0, beta = 0.0, trans = false}
      : memref<?x?xf64, strides=[?,?]>, memref<?xf64, strides=[?]>, memref<?xf64>
  %k = tensor.constant {value = dense<[1.5, -2.0, 0.25]> : tensor<3xf64>} : tensor<3xf64>
  %kb = mem.buffer_of %k : memref<3xf64>
  %kc = mem.alloc {shape = [3], dtype = f64} : memref<3xf64>
  mem.copy %kb, %kc : memref<3xf64>, memref<3xf64>
  %one = scalar.constant {value = 1 : index} : index
  %ok = scalar.ge %p, %one : i1
  mem.check %ok {message = "needs a non-empty matrix"} : i1
  func.return %s, %mx, %c, %t, %g, %y, %a, %kc : memref<?xf32>, memref<?xf32>, memref<?x?xf32>, memref<?x?xf32>,
      memref<?x?xf64>, memref<?xf64>, memref<?x?xf64, strides=[?,?]>, memref<3xf64>
}
"""


@pytest.fixture(scope="module")
def struct_mod():
    return _load(STRUCT, "struct")


@pytest.mark.parametrize("layout", ["c", "transposed", "sliced"])
def test_structural_ops(struct_mod, layout: str) -> None:
    m, mod = struct_mod
    x = RNG.normal(size=(5, 300)).astype(np.float32)
    x[2, 7] = np.nan
    a = RNG.normal(size=(4, 4))
    v = RNG.normal(size=8)[::2]
    if layout == "transposed":
        x, a = np.asfortranarray(x), a.T.copy().T
    elif layout == "sliced":
        x = np.repeat(x, 2, axis=1)[:, ::2]
        a = np.repeat(a, 3, axis=0)[::3]
    want = interpret(m, "main", x, a, v)
    got = mod.run(x, a, v)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-4, equal_nan=True)  # sums reassociate
    assert np.isnan(got[1][2])  # max propagates NaN through the simd reduction
    with pytest.raises(ValueError, match=r"struct.tir:\d+:\d+: needs a non-empty matrix"):
        mod.run(x, np.zeros((0, 0)), np.zeros(0))


def test_source_shape(struct_mod) -> None:
    m, _ = struct_mod
    src = render_c(m)
    assert "#define TIR_USE_BLAS 1" in src and "TIR_MODULE(tir_main, tir_args, tir_results)" in src
    assert "#pragma omp simd reduction(+:" in src and "reduction(tir_max_f32:" in src
    assert "const float* restrict x" in src and "float* restrict o" in src
    assert re.search(r"if \(x_s1 == 1\) \{", src)  # the unit-stride fast path of the inner loop


W1 = """
kernel.func @w1(%x: memref<?xf32, strides=[?]>, %y: memref<?xf32>, %n: index) {
  loop.parallel %n ({
    ^bb0(%i: index):
      %a = mem.load %x indices %i : f32
      %h = scalar.constant {value = -0.5 : f32} : f32
      %s = scalar.mul %a, %a : f32
      %t = scalar.mul %s, %h : f32
      %e = scalar.exp %t : f32
      %c = scalar.tanh %a : f32
      %r = scalar.add %e, %c : f32
      mem.store %r, %y indices %i : f32, memref<?xf32>, index
      loop.yield
  }) : index
  kernel.return
}
func.func @main(%x: memref<?xf32, strides=[?]>) -> memref<?xf32> {
  %n = mem.dim %x {axis = 0} : index
  %y = mem.alloc %n {shape = [?], dtype = f32} : memref<?xf32>
  kernel.launch %x, %y, %n {kernel = @w1} : memref<?xf32, strides=[?]>, memref<?xf32>, index
  func.return %y : memref<?xf32>
}
"""


def test_w1_kernel_vectorizes(tmp_path) -> None:
    from tensorir.runtime import ccompiler

    src = render_c(parse(W1, "w1.tir"))
    path = tmp_path / "w1.c"
    path.write_text(src)
    cc = ccompiler.find_compiler()
    flags = [f for f in ccompiler.compile_flags() if not f.startswith(("-Wl,", "-L", "-l")) and f != "-shared"]
    out = subprocess.run([cc.path, *flags, "-DTIR_MODNAME=w1", "-fopt-info-vec-optimized", "-c", str(path), "-o",
                          str(tmp_path / "w1.o")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = src.splitlines()
    fast = next(k for k, ln in enumerate(lines, 1) if "for (int64_t i = 0; i < n; ++i)" in ln)
    vectorized = {int(m) for m in re.findall(r"w1\.c:(\d+):\d+: optimized: loop vectorized", out.stderr)}
    assert {fast, fast + 1} & vectorized, (fast, out.stderr)  # gcc names the for line or its first body line


def test_emit_c_covers_every_op() -> None:
    missing = []
    for name, cls in sorted(OP_REGISTRY.items()):
        if name.split(".")[0] in ("scalar", "loop", "mem", "lib", "kernel") and name not in UNREACHABLE:
            if cls not in EXPR and cls not in CRenderer.stmt_table and name not in (
                    "loop.yield", "kernel.func", "kernel.return"):
                missing.append(name)
    assert not missing, f"ops without a C rendering rule: {missing}"


NEUTRAL_KERNEL = """\
kernel.func @k(%x: memref<?xi64>, %n: index) {
  loop.parallel %n ({
    ^bb0(%i: index):
      %v = mem.load %x indices %i : i64
      %big = scalar.constant {value = -9223372036854775808 : i64} : i64
      %ok = scalar.ne %v, %big : i1
      mem.check %ok values %i {message = "element {0} is the minimum"} : i1, index
      %w = scalar.add %v, %big : i64
      mem.store %w, %x indices %i : i64, memref<?xi64>, index
      loop.yield
  }) : index
  kernel.return
}
"""


def test_shared_renderer_knows_no_c_runtime() -> None:
    """The base renderer writes a kernel through its hooks only: a target that defines just `fail` gets no
    tir_fail, no runtime context, no INT64_C (the C target's runtime), and its own error reporting."""
    from tensorir.backends.cstyle import STMT, CStyleRenderer

    class Plain(CStyleRenderer):
        def fail(self, message: str, values: list[str]) -> str:
            assert message.endswith("element {0} is the minimum")
            return f"report({', '.join(values)})"

    kfn = parse(NEUTRAL_KERNEL).body.ops[0]
    text = "\n".join(Plain().render_kernel(kfn, [True]))
    assert "if (!ok) { report(i); }" in text
    for c_only in ("tir_fail", "ctx", "INT64_C"):
        assert c_only not in text, c_only
    c_text = "\n".join(CRenderer().render_kernel(kfn, [True]))  # the C target spells them its way
    assert "tir_fail(ctx, " in c_text and "INT64_C(" in c_text
    c_only_methods = {"render_alloc", "render_dealloc", "render_gemm", "render_launch", "render_host_for"}
    assert not c_only_methods & set(STMT.values())
    assert c_only_methods <= set(CRenderer.stmt_table.values())


def test_unsupported_op_names_location() -> None:
    m = parse("func.func @f(%x: memref<?xf32>) {\n  %t = mem.tensor_of %x : tensor<?xf32>\n  func.return\n}", "u.tir")
    with pytest.raises(TirError, match=r"u.tir:2:\d+: 'mem.tensor_of' op cannot be emitted as C"):
        render_c(m)


def test_tir_opt_prints_c_source() -> None:
    from tensorir.tools.tir_opt import module_text

    m = parse(W1, "w1.tir")
    from tensorir.passes import run_pipeline

    run_pipeline(m, "emit-c")
    assert module_text(m).startswith("/* @main: generated by tensorir emit-c")


# ---------------------------------------------------------------- end to end

def _e2e_cases():
    from tensorir import tensor as T

    x, y = T.fmatrix("x"), T.fvector("y")
    d = T.dvector("d")
    return [
        ("elementwise", [x, y], [T.exp(x) * 2.0 + T.tanh(x) - y]),
        ("reductions", [x], [T.sum(x, axis=1), T.max(x, axis=0), T.mean(x)]),
        ("softmax", [x], [T.nnet.softmax(x)]),
        ("dot", [x, y], [T.dot(x, y)]),
        ("float64", [d], [T.log1p(abs(d)) + d ** 2]),
    ]


@pytest.mark.parametrize("case", range(5))
def test_end_to_end(case: int) -> None:
    import tensorir

    name, ins, outs = _e2e_cases()[case]
    f = tensorir.function(ins, outs, target="c")
    g = tensorir.function(ins, outs, target="interp")
    args = [RNG.normal(size=(7, 33) if v.type.rank == 2 else (33,)).astype(v.type.dtype) for v in ins]
    if name == "dot":
        args[1] = RNG.normal(size=33).astype(np.float32)
    for got, want in zip(f(*args), g(*args)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert "tir_main" in f.source()


def test_parallel_threshold_does_not_switch_off_simd() -> None:
    """A bare `if(...)` on `parallel for simd` also disables simd in OpenMP 5 (gcc runs the loop
    unvectorized below the threshold, 7x slower): the clause must be `if(parallel: ...)`."""
    import tensorir
    from tensorir import tensor as T

    x = T.fvector("x")
    source = tensorir.function([x], T.exp(x) * 2, target="c").source()
    pragmas = [line.strip() for line in source.splitlines() if "omp parallel" in line]
    assert pragmas and all("if(parallel: " in p for p in pragmas), pragmas
