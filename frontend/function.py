"""`tensorir.function`: compile a symbolic graph into a callable (Theano's `theano.function`).

    x, y = T.dmatrices("x", "y")
    f = tensorir.function([x, In(y, value=1.0)], [x + y, x * y])
    f(a)              # -> [array, array]
    f(a, y=b)         # inputs by name
    print(f.ir())     # the IR that runs

Steps: the outputs' subgraph is lowered into a fresh `func.func` of a new
module (frontend/symbolic.py `lower`), the target's pass pipeline runs on it,
and the target turns it into a runner. Targets are one table, `TARGETS`:
adding a backend is adding one entry.

Arguments are checked the way Theano does: an array may be upcast losslessly
to the declared dtype (`np.can_cast(..., "safe")`), Python numbers and lists
are accepted when their values survive the conversion (a Python float into a
float32 input too), anything else is refused with a message that names the
input, both types and the fix.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dialects.builtin import ModuleOp
from ..dialects.func import FuncOp, ReturnOp, argument_label, shape_mismatch
from ..ir.core import Location, TirError, TirTypeError, TirValueError, caller_location
from ..ir.printer import print_module
from ..ir.types import TensorType
from ..ir.verifier import verify
from ..passes.tied import set_tied
from ..runtime.background import BackgroundCompile
from ..runtime.device import host_array, is_device_array
from . import sparse_args
from .parser import parse
from .shared import SharedVariable, add_default_updates, parse_updates, shared_inputs
from .symbolic import Variable, as_variable, dtype_name, lower

if TYPE_CHECKING:
    from ..passes import PassTimer

_NO_VALUE = object()
ON_UNUSED_INPUT = ("raise", "warn", "ignore")  # Theano's choices; 'raise' is its default
MODES = (None, "debug")  # None: compile and run; "debug": see Function._debug_call


class In:
    """A function input with options: `In(x, value=1.0, name="x_by_name")` (Theano's `In`).

    `value` is the default used when the call leaves the input out; `name` is the keyword
    it can be passed by (the variable's own name otherwise).
    """

    def __init__(self, variable: Variable, name: str | None = None, value: Any = _NO_VALUE,
                 borrow: bool = False, mutable: bool = False, strict: bool = False,
                 allow_downcast: bool | None = None) -> None:
        if not isinstance(variable, Variable):
            raise TirError(f"In() needs a symbolic variable, got {type(variable).__name__}")
        if mutable:
            raise TirError("In(mutable=True) is not supported: inputs are never overwritten")
        self.variable = variable
        self.name = name if name is not None else variable.name
        self.value = value
        self.strict = strict
        self.allow_downcast = allow_downcast

    @property
    def has_default(self) -> bool:
        return self.value is not _NO_VALUE

    def __repr__(self) -> str:
        return f"In({self.variable!r}, name={self.name!r})"


# ---------------------------------------------------------------- targets

Runner = Callable[[list[np.ndarray]], list[Any]]


def _interp_target(module: ModuleOp, name: str, key: str | None = None) -> Runner:
    from ..runtime.interpreter import Interpreter

    interp = Interpreter(module)

    def run(args: list[np.ndarray]) -> list[Any]:
        return interp.call(name, args)
    return run


def _c_target(module: ModuleOp, name: str, key: str | None = None, report: bool = True) -> Runner:
    """The `cpu` pipeline has stored the C source in the module (emit-c): compile it (through the disk
    cache) and call it; the arguments were already converted by `check_argument`. `report`: DEBUG=1's
    line about the C compiler (a background compile reports its own)."""
    from ..config import config
    from ..runtime import cache
    from ..runtime.c_module import load

    source = module.attributes.get("c.source")
    if not isinstance(source, str):
        raise TirError("the cpu pipeline produced no C source (emit-c did not run)")
    if config.debug >= 4:
        print(f"// ----- C source of @{name}\n{source}", file=sys.stderr)
    before = cache.stats()
    mod = load(source, name, key)
    if config.debug >= 1 and report:
        after = cache.stats()
        runs = int(after["compiles"] - before["compiles"])
        units = int(after["units"] - before["units"])
        at_once = f" of {units} translation units at once" if units > runs else ""
        debug_line(name, f"C compiler {after['compile_s'] - before['compile_s']:.3f} s ({runs} run{'s' * (runs > 1)}"
                         f"{at_once})" if runs else "C compiler not run: the compiled module is in the cache")
    n_results = len(mod.results)

    def run(args: list[np.ndarray]) -> list[Any]:
        out = mod.run(*args)
        if n_results == 1:
            return [out]
        return [] if out is None else list(out)

    # The extension's own entry: it takes arrays of the declared types (and the safe upcasts and
    # numbers and lists that the casting rule takes without question) and returns fresh ones (an update
    # may be its shared variable's own array, written in place), so a call whose arguments already fit
    # skips the Python-side checks (see Function.__call__).
    run.fast = mod.run  # type: ignore[attr-defined]
    run.module_key = mod.key  # type: ignore[attr-defined]
    return run


def _device_runner(module: ModuleOp, name: str, kind: str) -> Runner:
    """A device pipeline's module (`kind`: opencl or cuda): its kernels built for the device, its host plan run
    as Python (runtime/device.py, runtime/host_plan.py)."""
    from ..config import config

    if kind == "opencl":
        from ..runtime.opencl import OpenCLModule as Module
    else:
        from ..runtime.cuda import CUDAModule as Module  # type: ignore[assignment]
    mod = Module(module)
    if config.debug >= 4:
        plan = mod.plans.get(name)
        print(f"// ----- {kind} source of @{name}\n{module.attributes.get(f'{kind}.source')}", file=sys.stderr)
        print(f"# ----- host plan of @{name} (Python)\n{plan.source if plan else '(interpreted)'}", file=sys.stderr)

    def run(args: list[np.ndarray]) -> list[Any]:
        return mod.call(name, args, run.keep)  # type: ignore[attr-defined]
    run.keep = frozenset()  # type: ignore[attr-defined] # results left on the device (Function._device_results)
    run.module = mod  # type: ignore[attr-defined]
    return run


def _opencl_target(module: ModuleOp, name: str, key: str | None = None, report: bool = True) -> Runner:
    return _device_runner(module, name, "opencl")


def _cuda_target(module: ModuleOp, name: str, key: str | None = None, report: bool = True) -> Runner:
    return _device_runner(module, name, "cuda")


@dataclass(frozen=True)
class Target:
    """How a target runs a function: its pass pipeline, the builder of the runner, and the module
    attribute in which the pipeline leaves generated source (cached by IR: a warm process with the
    same function skips the pipeline)."""

    pipeline: str
    make_runner: Callable[..., Runner]
    source_attr: str | None = None


TARGETS: dict[str, Target] = {
    "interp": Target("interp", _interp_target),
    "c": Target("cpu", _c_target, "c.source"),
    "opencl": Target("opencl", _opencl_target),
    "cuda": Target("cuda", _cuda_target),
}


def debug_line(name: str, text: str) -> None:
    """One line of the DEBUG report about function @name, on stderr."""
    print(f"tensorir: @{name}: {text}", file=sys.stderr)


def run_pipeline(module: ModuleOp, pipeline: str, record: bool = True) -> tuple[dict[str, str], PassTimer]:
    """Run the named pass pipeline on `module`; returns the IR text after each pass, by pass name (none
    unless `record`: printing the IR after each pass costs about a fifth of a pipeline), and the
    `PassTimer` that timed each pass.

    `config.verify` turns the verifier between passes on or off; `config.debug` >= 1 prints pass
    names and timings, >= 2 also the IR after each pass, >= 3 also before it (on stderr).
    """
    from .. import passes
    from ..config import config

    stages: dict[str, str] = {}

    class Record(passes.PassInstrumentation):
        def before_pass(self, pass_: Any, module: Any) -> None:
            if config.debug >= 3:
                print(f"// ----- IR before {pass_.spec()}\n{print_module(module)}", file=sys.stderr)

        def after_pass(self, pass_: Any, module: Any, changed: bool) -> None:
            if not record and config.debug < 2:
                return
            text = print_module(module)
            if record:
                stages[pass_.spec()] = text
            if config.debug >= 2:
                print(f"// ----- IR after {pass_.spec()}{'' if changed else ' (unchanged)'}\n{text}", file=sys.stderr)

    timer = passes.PassTimer()
    passes.run_pipeline(module, pipeline, verify_each=bool(config.verify), instrumentations=[Record(), timer])
    if config.debug >= 1:
        print(timer.report(), file=sys.stderr)
    return stages, timer


# ---------------------------------------------------------------- argument checking


def check_argument(value: Any, t: TensorType, label: str, strict: bool = False,
                   allow_downcast: bool | None = None, loc: Location | None = None) -> np.ndarray:
    """Convert one call argument to the input's declared type, refusing lossy conversions.

    `label` names the input (dialects/func.py argument_label), `loc` is the function's place. As in
    Theano, a wrong kind of value, dtype or number of dimensions raises a TypeError (TirTypeError), a
    wrong static size a ValueError (TirValueError), in the wording the C entry uses too."""
    want = t.dtype
    if isinstance(value, Variable):
        raise TirTypeError(f"{label} got a symbolic variable; a compiled function is called with "
                           "numpy arrays or numbers", loc)
    if is_device_array(value):  # a device target's array (Function.__call__ brings it to the host for others)
        if value.dtype != want:
            raise TirTypeError(f"{label} expects {dtype_name(t)} {t}, got a {value.dtype} {type(value).__name__} of "
                               f"shape {value.shape}; convert it on the device with .astype('{want}')", loc)
        arr = value
    elif isinstance(value, np.ndarray) or isinstance(value, np.generic):
        arr = np.asarray(value)
        if arr.dtype != want:
            ok = (not strict and (np.can_cast(arr.dtype, want, "safe") or allow_downcast)) and arr.dtype.kind in "biuf"
            if not ok:
                what = "array" if isinstance(value, np.ndarray) else "scalar"
                raise TirTypeError(
                    f"{label} expects {dtype_name(t)} {t}, got {arr.dtype} {what} of shape {arr.shape}; "
                    f"cast it with .astype('{want}') or declare the input with dtype '{arr.dtype}'"
                    + ("" if strict else " (only lossless upcasts are automatic)"), loc)
            arr = arr.astype(want)
    else:
        try:
            raw = np.asarray(value)
        except (ValueError, TypeError) as e:
            raise TirTypeError(f"{label} expects {dtype_name(t)} {t}, got {type(value).__name__}: {e}", loc) from None
        if raw.dtype.kind not in "biuf":
            raise TirTypeError(f"{label} expects {dtype_name(t)} {t}, got {type(value).__name__} {value!r}", loc)
        # Python numbers/lists: accepted when the values survive (floats into any float type, like
        # Theano's Python float into floatX); a float into an integer input is refused. The C entry
        # converts the common cases of this rule itself (tir__scalar_arg, tir__sequence_arg in
        # tir_runtime.h).
        arr, lossy = raw, False
        if raw.dtype != want:
            with np.errstate(all="ignore"):
                arr = raw.astype(want)
                # Integers survive when they come back unchanged and keep their sign (2**63 comes back
                # from int64's -2**63 as uint64 2**63).
                lossy = (raw.dtype.kind == "f" and want.kind != "f") or (raw.dtype.kind in "iu" and not (
                    (arr.astype(raw.dtype) == raw).all() and ((arr < 0) == (raw < 0)).all()))
        if (lossy and not allow_downcast) or strict:
            raise TirTypeError(f"{label} expects {dtype_name(t)} {t}, got {type(value).__name__} "
                               f"{value!r} ({raw.dtype}), which does not convert to {want} without loss", loc)
    if arr.ndim != t.rank:
        raise TirTypeError(f"{label} expects a {t.rank}-d {dtype_name(t)} {t}, got an array of shape "
                           f"{arr.shape} ({arr.ndim}-d)", loc)
    if not t.accepts(arr.shape):
        raise TirValueError(shape_mismatch(label, t.shape, str(arr.shape)), loc)
    return arr


# ---------------------------------------------------------------- the compiled function


@dataclass
class _Input:
    variable: Variable
    name: str | None
    default: Any
    has_default: bool
    strict: bool
    allow_downcast: bool | None


class Function:
    """A compiled function: call it with arrays; `ir()` shows its IR, `module` holds it."""

    _unpickled = False  # rebuilt from its IR text (__setstate__), without the symbolic graph
    _plain = False  # (set by _prepare) calls may go straight to the compiled entry

    def __init__(self, inputs: Sequence[Variable | In], outputs: Variable | Sequence[Variable] | None,
                 target: str | None = None, name: str | None = None,
                 givens: Any = None, loc: Location | None = None, on_unused_input: str | None = None,
                 updates: Any = None, mode: str | None = None, device_outputs: bool = False) -> None:
        from ..config import config

        start = time.perf_counter()
        self._device_outputs = device_outputs
        self.loc = loc if loc is not None else caller_location()
        on_unused_input = "raise" if on_unused_input is None else on_unused_input
        if on_unused_input not in ON_UNUSED_INPUT:
            raise TirValueError(f"on_unused_input must be one of {', '.join(map(repr, ON_UNUSED_INPUT))}, "
                                f"got {on_unused_input!r}", self.loc)
        if mode not in MODES:
            raise TirValueError(f"unknown mode {mode!r}; the modes are None (the default: compile and run) and "
                                "'debug' (each call checks every pass against the reference interpreter)", self.loc)
        self.mode = mode
        self.target = target if target is not None else config.target
        self.name = name or "main"
        if self.target not in TARGETS:
            raise TirError(f"target '{self.target}' is not available yet (available: {', '.join(TARGETS)})",
                           self.loc)

        if isinstance(inputs, (Variable, In)):
            raise TirError("tensorir.function takes a list of inputs, got a single one; write [x]", self.loc)
        self._inputs = [self._input(i, k) for k, i in enumerate(inputs)]
        seen: set[int] = set()
        for k, inp in enumerate(self._inputs):
            if id(inp.variable) in seen:
                raise TirError(f"input #{k} ({inp.name or inp.variable.type}) is given twice", self.loc)
            seen.add(id(inp.variable))

        self._single = outputs is not None and not isinstance(outputs, (list, tuple))
        outs = [] if outputs is None else [outputs] if self._single else list(outputs)
        self._outputs = [as_variable(o, loc=self.loc) for o in outs]  # type: ignore[arg-type]
        self._givens = self._parse_givens(givens)
        # Shared variables: extra arguments after the explicit inputs, updates extra results (frontend/shared.py).
        self._updates = add_default_updates(parse_updates(updates, self.loc), self._outputs, self._givens)
        self._shared = shared_inputs([*self._outputs, *(u for _, u in self._updates)], self._givens)

        self.module = self._build()
        self._ir_text = print_module(self.module, debuginfo=True)  # the function as built: what pickles
        self._check_unused(on_unused_input)
        self._prepare(start)

    def _prepare(self, start: float) -> None:
        """Find or make the runner of the built `self.module`: the target's code from the cache, or the
        pipeline and the compiler (in the background with tiered execution); set up the call paths."""
        from ..config import config

        # How errors name each input: from the function's parameter names, which the C entry uses too.
        self._labels = [argument_label(self.name, k, a.name_hint) for k, a in enumerate(self.module.functions[0].args)]
        target = TARGETS[self.target]
        self._stages: dict[str, str] | None = None
        self._pending: BackgroundCompile | None = None
        hit = None
        if target.source_attr is not None:
            from ..runtime import cache

            source_key = cache.source_key(self._ir_text, target.pipeline)
            hit = cache.lookup_source(source_key)
        if hit is not None:
            # Generated before, by this code for this very IR: the pipeline's stages are computed
            # only if someone asks for them (f.ir(stage)).
            self.module.attributes[target.source_attr] = hit[0]  # type: ignore[index]
            if config.debug >= 1:
                debug_line(self.name, f"cache hit: {cache.source_path(source_key)}")
            if config.debug >= 2:  # the IR dumps DEBUG promises: run the pipeline again, for printing only
                self._stages = self._run_pipeline(self._build())
            self._run = target.make_runner(self.module, self.name, hit[1])
        else:
            if config.debug >= 1 and target.source_attr is not None:
                debug_line(self.name, f"cache miss: {cache.source_path(source_key)}")
            if target.source_attr is not None and config.tiered and config.debug < 2 and self.mode is None:
                self._start_background(target, source_key)
            else:
                # The stages are kept when DEBUG>=2 prints them anyway; else f.ir(stage) runs the pipeline again.
                self._stages = self._run_pipeline(self.module, report=config.debug >= 1,
                                                  record=config.debug >= 2) or None
                self._run = target.make_runner(self.module, self.name)
                if target.source_attr is not None and hasattr(self._run, "module_key"):
                    cache.store_source(source_key, self.module.attributes[target.source_attr],
                                       self._run.module_key)  # type: ignore[attr-defined]
        if config.debug >= 1:
            tier = " (the interpreter runs the calls while the C compiles)" if self._pending is not None else ""
            debug_line(self.name, f"ready in {time.perf_counter() - start:.3f} s"
                       + (" (cache hit)" if hit is not None else tier))
        self._fast = getattr(self._run, "fast", None)
        self._fresh = self._fast is not None  # compiled code allocates every result afresh
        # csr/csc matrices go in and out as their parts (frontend/sparse_args.py), on the checked path
        self._sparse = sparse_args.has_sparse([i.variable.type for i in self._inputs] + self._result_types())
        if self.mode == "debug" or self._sparse:
            self._fast = None  # every call takes the checked path, which checks the passes (debug)
        self._n_results = len(self._outputs) + len(self._updates)
        if hasattr(self._run, "keep"):
            self._run.keep = self._device_results()  # type: ignore[attr-defined]
        self._by_name = {inp.name: k for k, inp in enumerate(self._inputs) if inp.name}
        self._strict = [(k, inp.variable.type.dtype) for k, inp in enumerate(self._inputs) if inp.strict]
        # The shortest call path: positional arguments straight to the compiled entry, its result returned
        self._plain = not (self._shared or self._updates or self._strict) and self._single and len(self._outputs) == 1
        self._n_inputs = len(self._inputs)

    # ---- pickling
    def __getstate__(self) -> dict[str, Any]:
        """What travels (pickle, cloudpickle, Dask): the IR as built, the signature, the flags, the target and
        the shared variables (their values; pickle keeps their identity across the functions pickled
        together), never compiled code; graph variables become bare ones of the same types."""
        def bare(v: Variable) -> Variable:
            return Variable(v.type, name=v.name, loc=v.loc)

        return {"ir": self._ir_text, "name": self.name, "target": self.target, "mode": self.mode, "loc": self.loc,
                "device_outputs": self._device_outputs, "single": self._single,
                "inputs": [replace(i, variable=bare(i.variable)) for i in self._inputs],
                "outputs": [bare(o) for o in self._outputs], "shared": self._shared,
                "updates": [(var, bare(u)) for var, u in self._updates]}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild a pickled function from its IR: the compiled code comes from the on-disk cache when this
        machine has it (no compiler runs), else the target's pipeline and compiler make it. For target "c"
        where no C compiler is found: an error, or the reference interpreter with flag `unpickle_fallback=interp`."""
        from ..config import config
        from ..runtime import ccompiler

        start = time.perf_counter()
        self._unpickled = True
        self._ir_text, self.name, self.target, self.mode, self.loc = (
            state["ir"], state["name"], state["target"], state["mode"], state["loc"])
        self._single, self._inputs, self._outputs = state["single"], state["inputs"], state["outputs"]
        self._device_outputs = state.get("device_outputs", False)
        self._shared, self._updates, self._givens = state["shared"], state["updates"], {}
        if self.target == "c":
            try:
                ccompiler.find_compiler()
            except TirError as e:
                if config.unpickle_fallback != "interp":
                    raise TirError(f"function @{self.name} was pickled for target 'c' and this process finds no C "
                                   f"compiler to load or build its code with: {e}; or unpickle it with "
                                   "TENSORIR_FLAGS=unpickle_fallback=interp (tensorir.config.unpickle_fallback) "
                                   "to run it on the reference interpreter", self.loc) from None
                self.target = "interp"
        self.module = self._build()
        self._prepare(start)

    # ---- tiers
    def _start_background(self, target: Target, source_key: str) -> None:
        """Tiered execution (flag `tiered`): the target's pipeline and compiler run in the background
        (runtime/background.py) while the reference interpreter, on the graph through the `interp`
        pipeline, answers the calls. A missing compiler or a refused flag is an error here, at once."""
        from .. import passes
        from ..config import config
        from ..runtime import ccompiler

        ccompiler.find_compiler()
        ccompiler.compile_flags()

        def produce() -> str:  # on a module of its own: a forked child may run it again from the start
            module = self._build()
            self._run_pipeline(module, report=config.debug >= 1, record=False)
            source = module.attributes[target.source_attr]  # type: ignore[index]
            assert isinstance(source, str)
            self.module = module
            return source

        self._pending = BackgroundCompile(produce, source_key, self.name)
        interp = self._build()
        passes.run_pipeline(interp, TARGETS["interp"].pipeline, verify_each=bool(config.verify))
        self._run = _interp_target(interp, self.name)

    def _adopt(self) -> None:
        """Switch to the compiled code once its compile has ended (re-raising the pipeline's or the
        compiler's error)."""
        from ..config import config

        pending = self._pending
        assert pending is not None
        pending.wait()
        if not pending.ready():  # a forked child: the interpreter goes on (runtime/background.py)
            return
        if pending.error is not None:
            raise pending.error
        self._pending = None
        if config.debug >= 1:
            debug_line(self.name, f"C compiler {pending.compile_s:.3f} s in the background; the compiled code runs "
                                  "the calls from now on")
        self._run = TARGETS[self.target].make_runner(self.module, self.name, pending.key, report=False)
        self._fast = None if self._sparse else getattr(self._run, "fast", None)
        self._fresh = self._fast is not None

    def wait(self) -> Function:
        """Wait until the compiled code runs the calls (with tiered execution, after a cache miss, the
        interpreter answers them until then); returns the function."""
        if self._pending is not None:
            self._adopt()
        return self

    @property
    def compiled(self) -> bool:
        """Whether calls run the target's compiled code now (False while the interpreter stands in, and on
        target interp; True on a device target, whose kernels are built before `function` returns)."""
        return self._pending is None and TARGETS[self.target].pipeline != "interp"

    # ---- construction
    def _input(self, i: Variable | In, k: int) -> _Input:
        if isinstance(i.variable if isinstance(i, In) else i, SharedVariable):
            raise TirError(f"input #{k} is a shared variable: shared variables are implicit inputs, never listed "
                           "(their values come from the variable; use givens to replace one)", self.loc)
        if isinstance(i, In):
            return _Input(i.variable, i.name, i.value, i.has_default, i.strict, i.allow_downcast)
        if isinstance(i, Variable):
            return _Input(i, i.name, None, False, False, None)
        raise TirError(f"input #{k} of tensorir.function is {type(i).__name__}, not a symbolic variable "
                       "or In(...)", self.loc)

    def _parse_givens(self, givens: Any) -> dict[Variable, Variable]:
        if givens is None:
            return {}
        pairs = givens.items() if isinstance(givens, dict) else givens
        out: dict[Variable, Variable] = {}
        for old, new in pairs:
            if not isinstance(old, Variable):
                raise TirError(f"givens keys must be symbolic variables, got {type(old).__name__}", self.loc)
            new_v = as_variable(new, old.type.dtype, self.loc)
            if new_v.type.rank != old.type.rank:
                raise TirError(f"givens replaces a {old.type.rank}-d variable ({old.type}) with a "
                               f"{new_v.type.rank}-d one ({new_v.type})", self.loc)
            out[old] = new_v
        return out

    def _check_unused(self, policy: str) -> None:
        """Theano's on_unused_input: an input the outputs do not need is an error ('raise'), a warning or fine."""
        if policy == "ignore":
            return
        fn = self.module.functions[0]
        for k, (inp, arg) in enumerate(zip(self._inputs, fn.body.args)):
            if arg.uses:
                continue
            label = f"#{k}" + (f" ('{inp.name}')" if inp.name else "")
            message = (f"input {label} of tensorir.function is not needed to compute the outputs; pass "
                       "on_unused_input='warn' or 'ignore' to allow it")
            if policy == "raise":
                raise TirError(message, self.loc)
            warnings.warn(f"{self.loc}: {message}", stacklevel=4)

    def _build(self) -> ModuleOp:
        if self._unpickled:  # no graph: the IR text it was built into
            return parse(self._ir_text)
        module = ModuleOp.empty()
        variables = [inp.variable for inp in self._inputs] + list(self._shared)
        in_types = [v.type for v in variables]
        names = [inp.name for inp in self._inputs] + [v.name for v in self._shared]  # In(name=), shared names
        names = [n if n and n.isidentifier() else None for n in names]
        results = self._outputs + [u for _, u in self._updates]
        out_types = [o.type for o in results]
        fn = FuncOp.create(self.name, in_types, out_types, names, self.loc)
        env = dict(zip(variables, fn.args))
        values = lower(fn.body, env, results, self._givens)
        if any(v.type != t for v, t in zip(values, out_types)):
            # givens may change types: the function returns what the graph now computes.
            fn.attributes["function_type"] = type(fn.function_type)(tuple(in_types), tuple(v.type for v in values))
            self._outputs = [Variable(v.type) if v.type != o.type else o for v, o in zip(values, self._outputs)]
        fn.body.append(ReturnOp.build(*values, loc=self.loc))
        # Each update may be written into its variable's storage (passes/tied.py decides where it is safe).
        arg_of = {id(v): k for k, v in enumerate(variables)}
        n_out = len(self._outputs)
        set_tied(fn, [-1] * n_out + [arg_of.get(id(var), -1) if values[n_out + k].type.element == var.type.element
                                     else -1 for k, (var, _) in enumerate(self._updates)])
        module.body.append(fn)
        verify(module, checked=set(fn.body.ops[:-1]))  # lower() checked each op it built
        return module

    # ---- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fast = self._fast
        if fast is not None and self._plain and not kwargs and len(args) == self._n_inputs:
            # One result, no shared variables, updates or strict inputs (a block task of tensorir.dask, a
            # function in a loop): the compiled entry checks and converts as below, and its result is the output.
            try:
                return fast(*args)
            except TypeError:
                pass
            except ValueError as e:
                raise TirValueError(str(e)) from None
        elif fast is not None and not kwargs and len(args) == len(self._inputs) and (
                not self._strict or self._strict_fits(args)):
            # Compiled code checks dtypes, ranks and static dims itself, converts the safe upcasts,
            # numbers and lists that the casting rule takes without question (a strict input takes
            # none: see the condition) and returns fresh arrays; anything else (another dtype, a
            # number that may not fit) raises TypeError and takes the checked path below, which
            # applies the rule.
            try:
                out = fast(*args, *(host_array(s._value) for s in self._shared))
            except TypeError:
                pass
            except ValueError as e:  # a check of the compiled code (static dims, run-time sizes), located
                raise TirValueError(str(e)) from None
            else:
                return self._finish([out] if self._n_results == 1 else list(out or ()))
        if self._pending is not None and self._pending.ready():
            self._adopt()
            return self(*args, **kwargs)
        n = len(self._inputs)
        if len(args) > n:
            raise TirTypeError(f"function @{self.name} takes {n} argument{'s' if n != 1 else ''}, got {len(args)}"
                               + self._signature(), self.loc)
        values: list[Any] = list(args) + [_NO_VALUE] * (n - len(args))
        for key, v in kwargs.items():
            if key not in self._by_name:
                raise TirTypeError(f"function @{self.name} has no input named '{key}'" + self._signature(), self.loc)
            k = self._by_name[key]
            if values[k] is not _NO_VALUE:
                raise TirTypeError(f"input '{key}' of @{self.name} is given twice (by position and by name)", self.loc)
            values[k] = v
        arrays: list[Any] = []
        for k, (inp, v) in enumerate(zip(self._inputs, values)):
            if v is _NO_VALUE:
                if not inp.has_default:
                    got = len(args) + len(kwargs)
                    label = f"'{inp.name}' (#{k})" if inp.name else f"#{k}"
                    raise TirTypeError(f"function @{self.name} is missing a value for input {label}: it takes {n} "
                                       f"argument{'s' if n != 1 else ''}, got {got}" + self._signature(), self.loc)
                v = inp.default
            if inp.variable.type.encoding is not None:
                arrays += sparse_args.split(v, inp.variable.type, self._labels[k], self.loc)
                continue
            arrays.append(check_argument(v, inp.variable.type, self._labels[k], inp.strict,
                                         inp.allow_downcast, self.loc))
        on_device = hasattr(self._run, "keep")
        arrays = arrays if on_device else [host_array(a) for a in arrays]  # device arrays to a host target
        arrays.extend(s._value if on_device else host_array(s._value) for s in self._shared)
        try:
            results = self._debug_call(arrays) if self.mode == "debug" else self._run(arrays)
        except ValueError as e:  # a run-time check of compiled code, already located
            raise TirValueError(str(e)) from None
        # Outputs the caller owns: never an input, a constant or another output's buffer (an update may be
        # written into its variable's stored array: frontend/shared.py).
        if not self._fresh:
            results = [np.array(r, copy=True) if not is_device_array(r) else r.copy()
                       if k < len(self._outputs) and any(r is a for a in arrays) else r for k, r in enumerate(results)]
        return self._finish(sparse_args.join(results, self._result_types()) if self._sparse else results)

    def _device_results(self) -> frozenset[int]:
        """The results a device target leaves on the device: the updates (a shared variable stays there between
        calls) and, with `device_outputs=True`, the outputs."""
        n = len(self._outputs)
        return frozenset(range(0 if self._device_outputs else n, n + len(self._updates)))

    def _result_types(self) -> list[TensorType]:
        return [o.type for o in self._outputs] + [u.type for _, u in self._updates]

    def _debug_call(self, arrays: list[np.ndarray]) -> list[Any]:
        """mode="debug" (Theano's DebugMode): the reference interpreter runs the function on this call's
        arguments as built and again after each pass of the target's pipeline that changed it; the first
        pass after which a result differs is a TirError that names it, the result and its worst element,
        with the IR that pass produced (tools/numerics.py's ResultChecker, as `tir-opt --check-numerics`;
        floats within its tolerance, integers and booleans exactly). Every stage the interpreter runs
        is checked: tensor, fused, memory and loop, kernel. Then the target's own code runs, and its
        results are checked against the interpreter's too (a difference names the target's code)."""
        from .. import passes
        from ..config import config
        from ..tools.numerics import ResultChecker

        checker = ResultChecker("mode='debug'")
        module = self._build()
        checker.add(module, self.name, arrays)
        passes.run_pipeline(module, TARGETS[self.target].pipeline, verify_each=bool(config.verify),
                            instrumentations=[checker])
        results = self._run(arrays)
        source = module.attributes.get(TARGETS[self.target].source_attr or "")
        checker.check(self.name, results, f"the code of target '{self.target}'",
                      lambda: source if isinstance(source, str) else f"// ----- IR that runs\n{print_module(module)}")
        return results

    def _finish(self, results: list[Any]) -> Any:
        """Store the updates' results (all computed from the old values; an update written in place is the
        stored array itself) and return the outputs."""
        n = len(results) - len(self._updates)
        for (var, _), value in zip(self._updates, results[n:]):
            var._value = value
        outs = results[:n]
        return outs[0] if self._single else outs

    def _strict_fits(self, args: tuple[Any, ...]) -> bool:
        """Whether every strict input has an array or numpy scalar of its own dtype."""
        return all(isinstance(args[k], (np.ndarray, np.generic)) and args[k].dtype == dt for k, dt in self._strict)

    def _signature(self) -> str:
        parts = []
        for k, inp in enumerate(self._inputs):
            text = f"{inp.name or f'#{k}'}: {inp.variable.type}"
            if inp.has_default:
                text += f" = {inp.default!r}"
            parts.append(text)
        return f" (signature: {self.name}({', '.join(parts)}))"

    def _run_pipeline(self, module: ModuleOp, report: bool = False, record: bool = True) -> dict[str, str]:
        """The stages (see `stages`; none unless `record`); `report`: print the passes' and code
        generation's times (DEBUG=1)."""
        target = TARGETS[self.target]
        stages = {"tensor": print_module(module)} if record else {}
        start = time.perf_counter()
        after, timer = run_pipeline(module, target.pipeline, record)
        wall = time.perf_counter() - start
        if record:
            stages.update(after)
            stages["final"] = print_module(module)
        if report:
            # Code generation: the emit-* passes (emit-c), which turn the lowest IR into source text.
            emit = [(name, t) for name, t in timer.times if name.startswith("emit-")]
            emit_s = sum(t for _, t in emit)
            bodies_s = sum(t for _, t in timer.times) - emit_s
            other_s = wall - emit_s - bodies_s
            count = len(timer.times) - len(emit)
            debug_line(self.name, f"passes {wall - emit_s:.3f} s ({count} passes {bodies_s:.3f} s; "
                                  f"verifier{', IR text of each stage' if record else ''} and imports "
                                  f"{other_s:.3f} s)")
            if emit:
                source = module.attributes.get(target.source_attr or "")
                size = f", {len(source.splitlines())} lines" if isinstance(source, str) else ""
                debug_line(self.name, f"code generation {emit_s:.3f} s ({', '.join(n for n, _ in emit)}{size})")
        return stages

    @property
    def stages(self) -> dict[str, str]:
        """The IR text as built (`tensor`), after each pass of the target's pipeline, and `final`."""
        if self._stages is None:
            self._stages = self._run_pipeline(self._build())
        return self._stages

    # ---- introspection
    def ir(self, stage: str = "final") -> str:
        """The function's IR as text: `tensor` (as built), after a pass of the target's pipeline (by its
        name, e.g. `cse`; a pass the pipeline runs with options, e.g. `outline-kernels{device=true}`, by its
        name alone too), or `final` (what runs)."""
        stages = self.stages
        if stage not in stages:
            named = [s for s in stages if s.split("{", 1)[0] == stage]
            if len(named) != 1:
                raise TirError(f"no IR stage '{stage}'; the stages are {', '.join(stages)}")
            stage = named[0]
        return stages[stage]

    def source(self) -> str:
        """The generated source of a compiled target (the C translation unit for target="c", the OpenCL
        program of the kernels for target="opencl")."""
        if self._pending is not None:  # tiered: the pipeline that generates it may still run
            self._pending.wait_source()
            if self._pending.source is None and self._pending.error is not None:
                raise self._pending.error
        attrs = self.module.attributes
        source = attrs.get("c.source", attrs.get("opencl.source", attrs.get("cuda.source")))
        if not isinstance(source, str):
            raise TirError(f"target '{self.target}' generates no source (try target=\"c\")")
        return source

    @property
    def inputs(self) -> list[Variable]:
        return [i.variable for i in self._inputs]

    @property
    def outputs(self) -> list[Variable]:
        return list(self._outputs)

    def __repr__(self) -> str:
        return f"<tensorir.Function @{self.name} target={self.target}{self._signature()}>"


def function(inputs: Sequence[Variable | In], outputs: Variable | Sequence[Variable] | None = None,
             updates: Any = None, givens: Any = None, target: str | None = None, name: str | None = None,
             mode: Any = None, on_unused_input: str | None = None, allow_input_downcast: bool | None = None,
             device_outputs: bool = False) -> Function:
    """Compile `outputs` as functions of `inputs` (Theano's `theano.function`).

    One output gives one array per call, a list of outputs a list. `updates` are (shared variable,
    new value) pairs applied after the outputs are computed (frontend/shared.py); `givens` maps
    variables to replacements (variables or values); `target` defaults to `tensorir.config.target`.
    `on_unused_input`: an input the outputs do not need is an error ('raise', the default as in
    Theano), a warning ('warn') or allowed ('ignore'). `mode="debug"` checks every pass of the
    target's pipeline against the reference interpreter on each call's arguments (Theano's
    DebugMode; see `Function._debug_call`); `mode=None`, the default, compiles and runs.
    On a device target (`opencl`, `cuda`) the outputs come back as numpy arrays, or with `device_outputs=True` as
    the device's arrays (`pyopencl.array.Array`, pycuda `GPUArray`), which calls also take as inputs; shared
    variables updated by such a function stay on the device between calls (`get_value()` copies them back).
    """
    loc = caller_location()
    if allow_input_downcast:
        inputs = [i if isinstance(i, In) else In(i, allow_downcast=True) for i in inputs]
    return Function(inputs, outputs, target, name, givens, loc, on_unused_input, updates, mode, device_outputs)
