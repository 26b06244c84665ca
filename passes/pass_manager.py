"""Passes, the pass manager, pipeline parsing.

A pass is a dataclass whose fields are its options:

    @dataclass
    class CanonicalizePass(Pass):
        name: ClassVar[str] = "canonicalize"
        max_iterations: int = 10

and is written on a command line as `canonicalize{max-iterations=3,fold=false}` (option names
in kebab- or snake-case, separated by commas or spaces; a bare `flag` means true).

Passes never print. The PassManager runs them in order, refuses a tensor with an encoding
(`tensor<?x?xf32, #csr>`) before a pass that does not declare `handles_encodings`, verifies the IR after each one (on by
default) and calls instrumentation hooks `before_pass(pass, module)` and
`after_pass(pass, module, changed)`, which the tools use for printing, dumping and timing.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import time
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..ir.core import Operation, TirError, VerifyError
from ..ir.types import TensorType
from ..ir.verifier import verify
from . import PASSES, PIPELINES


@dataclass
class Pass:
    """Base of all passes. `run` rewrites the module in place and returns whether it changed it."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    handles_encodings: ClassVar[bool] = False  # whether it treats tensors with an encoding (`#csr`) right

    def run(self, module: Operation) -> bool:
        raise NotImplementedError

    # ---- options
    @classmethod
    def option_types(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {f.name: hints.get(f.name, str) for f in dataclasses.fields(cls)}

    @classmethod
    def from_options(cls, options: dict[str, str]) -> Pass:
        """Build the pass from textual options (`{"max-iterations": "3"}`)."""
        types_ = cls.option_types()
        kwargs: dict[str, Any] = {}
        for raw, text in options.items():
            key = raw.replace("-", "_")
            if key not in types_:
                known = ", ".join(k.replace("_", "-") for k in types_) or "none"
                raise TirError(f"pass '{cls.name}' has no option '{raw}' (options: {known})")
            try:
                kwargs[key] = _convert(text, types_[key])
            except ValueError:
                raise TirError(f"pass '{cls.name}' option '{raw}': cannot read {text!r} "
                               f"as {_type_name(types_[key])}") from None
        return cls(**kwargs)

    def spec(self) -> str:
        """The pipeline text of this pass: its name plus the options that differ from their defaults."""
        opts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            if value != default:
                text = ("true" if value else "false") if isinstance(value, bool) else str(value)
                opts.append(f"{f.name.replace('_', '-')}={text}")
        return self.name + ("{" + ",".join(opts) + "}" if opts else "")


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", str(t))


def _convert(text: str, t: Any) -> Any:
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(t)
        if type(None) in args and text.lower() in ("none", ""):
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(text, a)
            except ValueError:
                pass
        raise ValueError(text)
    if t is bool:
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError(text)
    if t is int:
        return int(float(text)) if "e" in text.lower() and float(text).is_integer() else int(text)
    if t is float:
        return float(text)
    return text


# ---------------------------------------------------------------- registry access


def get_pass_class(name: str) -> type[Pass]:
    """The class of a registered pass (imports its module); TirError with suggestions if unknown."""
    entry = PASSES.get(name)
    if entry is None:
        raise TirError(unknown_pass_message(name))
    module, cls_name = entry
    return getattr(importlib.import_module(module), cls_name)


def unknown_pass_message(name: str, kind: str = "pass") -> str:
    """`unknown pass 'x' (did you mean 'y'?); known passes: ...; pipelines: ...`; kind "pipeline" names
    only pipelines."""
    pipelines = f"pipelines: {', '.join(sorted(PIPELINES))}"
    candidates = sorted(PIPELINES) if kind == "pipeline" else sorted(PASSES) + sorted(PIPELINES)
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    known = pipelines if kind == "pipeline" else f"known passes: {', '.join(sorted(PASSES))}; {pipelines}"
    return f"unknown {kind} '{name}'{hint}; {known}"


def _split_top_level(text: str, seps: str) -> list[str]:
    """Split on any of `seps` outside braces."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise TirError(f"unbalanced '}}' in pass pipeline '{text}'")
        if ch in seps and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise TirError(f"unbalanced '{{' in pass pipeline '{text}'")
    parts.append("".join(cur))
    return parts


def _parse_options(text: str, pass_name: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in _split_top_level(text.replace(" ", ","), ","):
        item = item.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not key.strip():
            raise TirError(f"bad option '{item}' of pass '{pass_name}'")
        options[key.strip()] = value.strip() if eq else "true"
    return options


def parse_pipeline(spec: str | Sequence[str], _depth: int = 0) -> list[Pass]:
    """Passes from a pipeline text (`canonicalize,cse`, `canonicalize{max-iterations=3}`), a list
    of such specs, or the name of a named pipeline (`interp`)."""
    if _depth > 8:
        raise TirError("named pipelines nest too deeply")
    items = _split_top_level(spec, ",") if isinstance(spec, str) else list(spec)
    passes: list[Pass] = []
    for raw in items:
        item = raw.strip()
        if not item:
            if isinstance(spec, str) and spec.strip() == "":
                continue
            raise TirError(f"empty pass name in pipeline '{spec if isinstance(spec, str) else ','.join(spec)}'")
        name, brace, rest = item.partition("{")
        name = name.strip()
        options = {}
        if brace:
            if not rest.rstrip().endswith("}"):
                raise TirError(f"pass options of '{name}' must end with '}}'")
            options = _parse_options(rest.rstrip()[:-1], name)
        if name in PIPELINES and name not in PASSES:
            if options:
                raise TirError(f"pipeline '{name}' takes no options")
            passes.extend(parse_pipeline(PIPELINES[name], _depth + 1))
            continue
        passes.append(get_pass_class(name).from_options(options))
    return passes


# ---------------------------------------------------------------- the pass manager


class PassInstrumentation:
    """Hooks around each pass; the tools print, dump and time IR through them."""

    def before_pass(self, pass_: Pass, module: Operation) -> None:
        pass

    def after_pass(self, pass_: Pass, module: Operation, changed: bool) -> None:
        pass


class PassTimer(PassInstrumentation):
    """Wall time of each pass run, in order."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []
        self._start = 0.0

    def before_pass(self, pass_: Pass, module: Operation) -> None:
        self._start = time.perf_counter()

    def after_pass(self, pass_: Pass, module: Operation, changed: bool) -> None:
        self.times.append((pass_.spec(), time.perf_counter() - self._start))

    def report(self) -> str:
        total = sum(t for _, t in self.times) or 1e-12
        width = max([len(n) for n, _ in self.times] + [len("Total")])
        lines = ["===" + "-" * (width + 25) + "===", "  Pass execution timing report",
                 "===" + "-" * (width + 25) + "===",
                 f"  {'Wall time (s)':>13}  {'%':>6}  Name"]
        for name, t in self.times:
            lines.append(f"  {t:13.6f}  {100 * t / total:5.1f}%  {name}")
        lines.append(f"  {total:13.6f}  {100.0:5.1f}%  Total")
        return "\n".join(lines)


class PassManager:
    """Runs passes in order on a module, verifying after each one unless `verify_each=False`."""

    def __init__(self, passes: Sequence[Pass] | str = (), verify_each: bool = True,
                 instrumentations: Sequence[PassInstrumentation] = ()) -> None:
        self.passes: list[Pass] = parse_pipeline(passes) if isinstance(passes, str) else list(passes)
        self.verify_each = verify_each
        self.instrumentations: list[PassInstrumentation] = list(instrumentations)

    def add(self, pass_: Pass | str) -> PassManager:
        self.passes.extend(parse_pipeline(pass_) if isinstance(pass_, str) else [pass_])
        return self

    def add_instrumentation(self, inst: PassInstrumentation) -> PassManager:
        self.instrumentations.append(inst)
        return self

    def run(self, module: Operation) -> bool:
        """Run every pass; returns whether any changed the module."""
        changed_any = False
        dense = False  # known to hold no encoded tensor: checked once, until a pass that handles them runs
        for p in self.passes:
            if not p.handles_encodings and not dense:
                refuse_encodings(p, module)
                dense = True
            dense &= not p.handles_encodings  # a pass that handles encodings may also introduce them
            for inst in self.instrumentations:
                inst.before_pass(p, module)
            changed = bool(p.run(module))
            changed_any |= changed
            for inst in self.instrumentations:
                inst.after_pass(p, module, changed)
            if self.verify_each:
                try:
                    verify(module)
                except VerifyError as e:
                    raise TirError(f"{e.message} (the IR is invalid after pass '{p.spec()}')", e.loc,
                                   e.detail) from e
        return changed_any


def refuse_encodings(pass_: Pass, module: Operation) -> None:
    """A located TirError at the first op that defines a tensor with an encoding (a result or an argument of
    a block of its regions): passes assume dense tensors unless they declare `handles_encodings`."""
    for op in module.walk():
        values = [*op.results, *(a for r in op.regions for b in r.blocks for a in b.args)]
        for v in values:
            if isinstance(v.type, TensorType) and v.type.encoding is not None:
                raise TirError(f"tensor with encoding #{v.type.encoding} is not supported by {pass_.name}", op.loc)


def run_pipeline(module: Operation, name_or_spec: str | Sequence[str], verify_each: bool = True,
                 instrumentations: Sequence[PassInstrumentation] = ()) -> bool:
    """Run a named pipeline (`interp`) or a pipeline text on module; returns whether it changed."""
    return PassManager(parse_pipeline(name_or_spec), verify_each, instrumentations).run(module)


def store_source(module: Operation, attr: str, source: str) -> bool:
    """An emit pass's result: `source` in module attribute `attr`; whether it changed."""
    changed = module.attributes.get(attr) != source
    module.attributes[attr] = source
    return changed
