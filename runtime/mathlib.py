"""tir_math.h's vectorizable functions compiled out of line: one small shared library per function.

A generated loop either carries a function's body (tir_math.h's `static inline` definition, which gcc inlines
and vectorizes with the loop) or calls `tir_lib_<name>` from a library compiled once per machine, compiler and
flags, cached like any compiled code (runtime/cache.py: `cache.math_libraries`). Each library holds one
function with the x86 vector function ABI's variants (`#pragma omp declare simd notinbranch`: `_ZGVbN4v_`
SSE, `_ZGVcN8v_` AVX, `_ZGVdN8v_` AVX2, `_ZGVeN16v_` AVX-512, whatever the flags' -march; the caller's
vectorizer picks the one its ISA and vector width allow), and the generated translation unit declares the
function with the same clause and `__attribute__((const))` (without it gcc assumes the call writes memory and
does not vectorize the loop). The module links to its libraries by their unique soname and an rpath to their
cache entries (runtime/ccompiler.py); libraries are never loaded RTLD_GLOBAL, so two flag sets in one process
never mix their functions.

Which calls leave the loop (backends/c.py `CRenderer.math_fn`), measured on the project's 2-core VM (AVX2,
gcc 12), a loop of one function over 2^20 float32 elements, body inline against the call (min of 7 runs):

    expf 1.74x  exp2f 1.56x  expm1f 1.67x  logf 1.57x  log2f 1.61x  log10f 1.60x  log1pf 1.63x  tanhf 1.45x
    sigmoidf 1.39x  softplusf 1.41x  sinf (exact) 1.16x  cosf (exact) 1.09x  tanf 1.10x  asinf 1.12x
    atanf 1.07x  coshf 1.14x; W1's loop (expf, sinf_fast, log1pf) 1.31x

The call's cost is mostly the constants (a polynomial's coefficients, masks) the function materializes on
every call, where an inlined body keeps them in registers across iterations: every function loses more than
5% in a loop of its own. Inlining costs compile time instead, in each of a kernel's loop versions (the fast
sin/cos twin, the unit-stride and the strided loop): gcc needs ~13 s for a fused chain of 100 sin/tanh, and
its time grows faster than the chain. So:

- `ALWAYS`: the exact float32 sin/cos (a float64 Payne-Hanek reduction, the largest bodies) are always
  called. They run only in the exact kernel behind a fast twin (strided data, |x| >= 2^17) or in kernels
  without a twin (which read what they write); there the call costs 9-16% of a sin-only loop, and W1's
  cold compile drops by a third.
- every other function here is inlined into kernels with at most `INLINE_MAX` calls of the functions of
  this table (W1, W4, W7's kernels: their code and speed are unchanged) and called from larger ones, where
  compile time dominates: gcc takes 1.0 s of CPU for the module of a chain of 100 float32 sin/tanh instead
  of 20 s (400 ops: 2.1 s, against minutes), and the chain runs ~1.3-1.6x slower.

A library takes gcc 0.13-0.26 s of CPU (four vector variants and the scalar function), once per machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "tir_lib_"
# Kernels with more calls of FUNCTIONS than this call the library for all of them (see the module docstring).
INLINE_MAX = 8


@dataclass(frozen=True)
class MathFunction:
    ctype: str  # of the arguments and the result
    arity: int


def _table(ctype: str, arity: int, names: str) -> dict[str, MathFunction]:
    return {f"tir_{n}": MathFunction(ctype, arity) for n in names.split()}


# tir_math.h's functions that the library provides, by their tir_math.h name.
FUNCTIONS: dict[str, MathFunction] = {
    **_table("float", 1, "expf exp2f expm1f logf log2f log10f log1pf sinf cosf sinf_fast cosf_fast tanf tanhf "
                         "sinhf coshf asinf acosf atanf sigmoidf softplusf erff erfcf"),
    **_table("float", 2, "atan2f powf"),
    **_table("double", 1, "exp expm1 log log1p tanh sigmoid softplus erf"),
}
ALWAYS = frozenset({"tir_sinf", "tir_cosf"})


def symbol(fn: str) -> str:
    """The library's name of tir_math.h's `fn`: tir_sinf -> tir_lib_sinf."""
    return PREFIX + fn.removeprefix("tir_")


def declaration(fn: str) -> str:
    """The declaration generated code and the library share (the library adds the definition)."""
    f = FUNCTIONS[fn]
    params = ", ".join(f"{f.ctype} x{k}" for k in range(f.arity))
    return f"#pragma omp declare simd notinbranch\n__attribute__((const)) {f.ctype} {symbol(fn)}({params});"


def library_source(fn: str) -> str:
    """The C source of `fn`'s library: the shared declaration and a definition that inlines tir_math.h's body
    (gcc compiles one clone per vector ABI variant, each vectorizing the body)."""
    f = FUNCTIONS[fn]
    params = ", ".join(f"{f.ctype} x{k}" for k in range(f.arity))
    args = ", ".join(f"x{k}" for k in range(f.arity))
    return "\n".join([
        f"/* libtirmath: {fn} of tir_math.h with its vector variants (tensorir runtime/mathlib.py) */",
        '#include "tir_math.h"', declaration(fn),
        f'__attribute__((visibility("default"))) {f.ctype} {symbol(fn)}({params}) {{ return {fn}({args}); }}', ""])


def used(source: str) -> list[str]:
    """The tir_math.h names of the library functions a generated source calls, sorted."""
    found = {"tir_" + m for m in re.findall(rf"\b{PREFIX}(\w+)\(", source)}
    return sorted(found & FUNCTIONS.keys())
