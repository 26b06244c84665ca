"""`tirc`: compile and run .tir files.

    tirc run FILE [--func F] --input x=x.npy --input y=3.5 [--output out.npz] [--target interp|c|opencl|cuda]
    tirc build FILE [--func F] -o DIR   (writes DIR/<func>.c and the compiled DIR/<func>.so, which links
                                         the math libraries it calls from the cache: runtime/mathlib.py)

`run` parses FILE, runs the target's pipeline (`interp`: canonicalize, cse, dce) and then the
reference interpreter on the inputs, named by the function's argument names; a value is a
`.npy` path or a Python literal (`3.5`, `[1, 2]`). Results are saved as `out0`, `out1`, ...
in an .npz file, or printed with numpy's repr. User errors print one line on stderr and exit
with 1.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from typing import Any

import numpy as np

from ..dialects.func import argument_label
from ..ir.core import Location, Operation, TirError
from ..ir.types import TensorType, Type
from ..ir.verifier import verify
from ..passes import PIPELINES, run_pipeline
from . import cli

TARGETS = {"interp": "interp", "c": "cpu", "opencl": "opencl", "cuda": "cuda"}  # target -> pipeline


def load_module(path: str) -> Operation:
    from ..frontend.parser import read_source
    from .tir_opt import parse_text

    module = parse_text(read_source(path), path)
    verify(module)
    return module


def pick_function(module: Operation, name: str | None) -> Operation:
    funcs = [op for op in module.regions[0].block.ops if op.name == "func.func"]
    names = [f.attributes["sym_name"] for f in funcs]
    listing = ", ".join("@" + n for n in names)
    if not funcs:
        raise TirError("the file defines no function (a .tir file holds `func.func @name(...) { ... }`)",
                       Location(module.loc.file, 1, 1))
    if name is not None:
        name = name.lstrip("@")
        for f in funcs:
            if f.attributes["sym_name"] == name:
                return f
        raise TirError(f"no function @{name} in the file (it has {listing})")
    if len(funcs) == 1:
        return funcs[0]
    for f in funcs:
        if f.attributes["sym_name"] == "main":
            return f
    raise TirError(f"the file has several functions ({listing}) and no @main; choose one with --func")


def arg_names(fn: Operation) -> list[str]:
    return [a.name_hint or f"arg{i}" for i, a in enumerate(fn.regions[0].block.args)]


_NPY_MAGIC = b"\x93NUMPY"


def parse_input_value(text: str, what: str) -> Any:
    if text.endswith(".npy") or os.path.isfile(text):
        try:
            with open(text, "rb") as f:
                if f.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                    raise TirError(f"{what}: '{text}' is not a .npy file (numpy.save writes one)")
                f.seek(0)
                return np.load(f, allow_pickle=False)
        except ValueError as e:
            why = "it holds Python objects; tirc reads arrays of numbers" if "allow_pickle" in str(e) else str(e)
            raise TirError(f"{what}: cannot load '{text}': {why}") from None
        except OSError as e:
            raise TirError(f"{what}: cannot load '{text}': {getattr(e, 'strerror', None) or e}") from None
    try:
        # A Python literal stays a Python value: like a Python number passed to a compiled function,
        # it is accepted by any input whose dtype holds its value (`y=3.5` for an f32 input).
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise TirError(f"{what}: '{text}' is neither a .npy file nor a number or list literal") from None


def collect_inputs(fn: Operation, specs: list[str]) -> list[Any]:
    names = arg_names(fn)
    sym = fn.attributes["sym_name"]
    signature = ", ".join("%" + n for n in names) or "no arguments"
    given: dict[str, Any] = {}
    for spec in specs:
        key, eq, value = spec.partition("=")
        key = key.strip().lstrip("%")
        if not eq or not key:
            raise TirError(f"--input '{spec}' must be NAME=VALUE (@{sym} takes {signature})")
        if key not in names:
            raise TirError(f"@{sym} has no argument %{key} (it takes {signature})")
        if key in given:
            raise TirError(f"input %{key} given twice")
        given[key] = parse_input_value(value, f"input %{key}")
    missing = [n for n in names if n not in given]
    if missing:
        raise TirError(f"missing input{'s' if len(missing) > 1 else ''} "
                       f"{', '.join('%' + n for n in missing)} (@{sym} takes {signature})")
    return [given[n] for n in names]


def check_input(value: Any, t: Type, label: str, loc: Location | None = None) -> Any:
    """An input converted to its argument's type, refusing lossy conversions; a scalar argument (`%n: index`)
    takes one number (as a 0-d tensor of its type would)."""
    from ..frontend.function import check_argument

    if isinstance(t, TensorType):
        return check_argument(value, t, label, loc=loc)
    as_tensor = TensorType((), t)
    try:
        return check_argument(value, as_tensor, label, loc=loc)[()]
    except TirError as e:  # the same error, about a number rather than a 0-d tensor
        message = e.message.replace(f"a 0-d {t.dtype} {as_tensor}", "a number").replace(str(as_tensor), str(t))
        raise type(e)(message, e.loc) from None


def cmd_run(args: argparse.Namespace) -> int:
    from ..runtime.interpreter import Interpreter

    if args.target not in TARGETS:
        raise TirError(f"target '{args.target}' is not available yet (available: {', '.join(TARGETS)})")
    module = load_module(args.file)
    fn = pick_function(module, args.func)
    inputs = collect_inputs(fn, args.input)
    pipeline = TARGETS[args.target]
    assert pipeline in PIPELINES
    sym = fn.attributes["sym_name"]
    # The Python API's rule for every target: lossless upcasts only, shapes checked, names in errors.
    inputs = [check_input(v, t, argument_label(sym, k, a.name_hint), fn.loc)
              for k, (v, t, a) in enumerate(zip(inputs, fn.attributes["function_type"].inputs, fn.body.args))]
    if args.target == "c":
        results = _run_c(module, sym, inputs)
    elif args.target in ("opencl", "cuda"):
        from ..runtime.cuda import CUDAModule
        from ..runtime.opencl import OpenCLModule

        run_pipeline(module, pipeline)
        results = (OpenCLModule if args.target == "opencl" else CUDAModule)(module).call(sym, inputs)
    else:
        run_pipeline(module, pipeline)
        results = Interpreter(module).call(sym, inputs)
    arrays = {f"out{i}": np.asarray(r) for i, r in enumerate(results)}
    if args.output:
        try:
            np.savez(args.output, **arrays)
        except OSError as e:
            raise TirError(f"cannot write '{args.output}': {e.strerror or e}") from None
    else:
        for k, v in arrays.items():
            print(f"{k} = {v!r}")
    return 0


def _c_source(module: Operation, sym: str) -> str:
    """Run the cpu pipeline (emit-c for function @sym) on a module holding only that function."""
    from ..passes import parse_pipeline
    from ..passes.pass_manager import PassManager

    # One C source per function: inline the calls, then drop the other functions.
    PassManager(parse_pipeline("inline")).run(module)
    for op in list(module.regions[0].block.ops):
        if op.name == "func.func" and op.attributes["sym_name"] != sym:
            op.erase()
    PassManager(parse_pipeline(PIPELINES["cpu"])).run(module)
    source = module.attributes.get("c.source")
    if not isinstance(source, str):
        raise TirError("the cpu pipeline produced no C source")
    return source


def _run_c(module: Operation, sym: str, inputs: list[Any]) -> list[Any]:
    from ..runtime.c_module import load

    fn = pick_function(module, sym)
    types = fn.attributes["function_type"].inputs
    mod = load(_c_source(module, sym), sym)
    arrays = [np.asarray(v, dtype=t.dtype) for v, t in zip(inputs, types)]
    try:
        out = mod.run(*arrays)
    except ValueError as e:  # a run-time check of the compiled code: the message has the place
        raise TirError(str(e)) from None
    if len(mod.results) == 1:
        return [out]
    return [] if out is None else list(out)


def cmd_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..runtime import cache, ccompiler, mathlib

    if args.target != "c":
        raise TirError(f"tirc build: target '{args.target}' is not available yet (available: c)")
    module = load_module(args.file)
    fn = pick_function(module, args.func)
    sym = fn.attributes["sym_name"]
    source = _c_source(module, sym)
    out_dir = Path(args.output or ".")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        c_path = out_dir / f"{sym}.c"
        c_path.write_text(source)
    except OSError as e:
        raise TirError(f"cannot write into '{out_dir}': {e.strerror or e}") from None
    ccompiler.compile_module(c_path, out_dir / f"{sym}.so", sym,
                             libraries=cache.math_libraries(mathlib.used(source)))
    print(f"{c_path}\n{out_dir / (sym + '.so')}")
    return 0


def build_arg_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tirc", description="Compile and run .tir files.")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a function of a .tir file on inputs")
    run.add_argument("file")
    run.add_argument("--func", help="the function to run (default: the only one, or @main)")
    run.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE",
                     help="an argument: a .npy path or a Python literal")
    run.add_argument("--output", "-o", help="save results as out0, out1, ... in this .npz file")
    run.add_argument("--target", default="c", help="c (native code, the default), interp (reference interpreter) "
                     "opencl or cuda (kernels on an OpenCL device or a CUDA GPU)")
    run.set_defaults(handler=cmd_run)
    build = sub.add_parser("build", help="compile a function of a .tir file to C and a Python extension module")
    build.add_argument("file")
    build.add_argument("--target", default="c")
    build.add_argument("--func")
    build.add_argument("-o", "--output", metavar="DIR", help="output directory (default: .)")
    build.set_defaults(handler=cmd_build)
    return ap


@cli
def main(argv: list[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    try:
        return args.handler(args)
    except TirError as e:
        sys.stderr.write(f"{e}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
