"""`tir-opt`: run passes on .tir files and show the IR between them (the pass-debugging tool).

    tir-opt FILE... [-p canonicalize,cse | --pipeline cpu|interp] [--print-ir-after-all]
            [--print-ir-before-all] [--print-ir-after=PASS] [--print-ir-before=PASS]
            [--print-ir-diff] [--dump-dir DIR] [--timing] [--print-generic]
            [--print-debuginfo] [--verify-diagnostics] [--split-input-file]
            [--no-verify] [-o OUT]

FILE `-` reads stdin. IR dumps go to stdout in MLIR's style
(`// -----// IR Dump After canonicalize //----- //`), the final IR to stdout or OUT, the
timing table to stderr. User errors (parse, verifier, unknown pass or pipeline, missing file) print
one line (plus a source excerpt for parse errors) on stderr and exit with 1. `--help` lists the
passes and pipelines; `--check-numerics` ends with a line on stderr saying what it compared.

`--verify-diagnostics` checks `// expected-error @+1 {{substring}}` comments (also `@-N`,
`@above`, `@below`; no offset = the same line) against the error the file produces; with
`--split-input-file` each `// -----` section is a separate case.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import textwrap
from dataclasses import dataclass, field
from typing import TextIO

from ..dialects.registry import DIALECT_MODULES
from ..frontend.parser import read_source
from ..ir.core import Operation, TirError
from ..ir.printer import print_module
from ..ir.verifier import verify
from ..passes import PASSES, PIPELINES
from ..passes.pass_manager import (
    Pass,
    PassInstrumentation,
    PassManager,
    PassTimer,
    parse_pipeline,
    unknown_pass_message,
)
from . import cli
from .numerics import NumericsChecker

SPLIT_MARKER = re.compile(r"^\s*//\s*-----\s*$")


def parse_text(text: str, filename: str) -> Operation:
    """Parse .tir text; error locations name `filename`."""
    from ..frontend.parser import parse

    return parse(text, filename)


# ---------------------------------------------------------------- printing between passes


def module_text(module: Operation, generic: bool = False, debuginfo: bool = False) -> str:
    """The IR, or the generated source once a backend pass (emit-c, emit-opencl, emit-cuda) has stored it
    in `c.source` / `opencl.source` / `cuda.source`."""
    for attr in ("c.source", "opencl.source", "cuda.source"):
        source = module.attributes.get(attr)
        if isinstance(source, str):
            return source
    return print_module(module, generic=generic, debuginfo=debuginfo)


@dataclass
class PrintOptions:
    after_all: bool = False
    before_all: bool = False
    after: set[str] = field(default_factory=set)
    before: set[str] = field(default_factory=set)
    diff: bool = False
    generic: bool = False
    debuginfo: bool = False
    dump_dir: str | None = None


class IRPrinter(PassInstrumentation):
    """Prints (or diffs, or dumps to files) the IR around the passes the options select."""

    def __init__(self, opts: PrintOptions, out: TextIO, module: Operation) -> None:
        self.opts = opts
        self.out = out
        self.stage = 0
        self.previous = self.text(module)
        # --print-ir-diff alone shows the change made by every pass.
        self.diff_all = opts.diff and not (opts.after_all or opts.after)
        if opts.dump_dir:
            os.makedirs(opts.dump_dir, exist_ok=True)
            self.dump("input", self.previous)

    def text(self, module: Operation) -> str:
        return module_text(module, generic=self.opts.generic, debuginfo=self.opts.debuginfo)

    def dump(self, name: str, text: str) -> None:
        assert self.opts.dump_dir is not None
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        with open(os.path.join(self.opts.dump_dir, f"{self.stage:02d}-{safe}.tir"), "w") as f:
            f.write(text)

    def before_pass(self, pass_: Pass, module: Operation) -> None:
        if self.opts.before_all or pass_.name in self.opts.before:
            self.out.write(f"// -----// IR Dump Before {pass_.spec()} //----- //\n{self.previous}\n")

    def after_pass(self, pass_: Pass, module: Operation, changed: bool) -> None:
        text = self.text(module)
        self.stage += 1
        if self.opts.after_all or pass_.name in self.opts.after or self.diff_all:
            if self.opts.diff:
                diff = difflib.unified_diff(self.previous.splitlines(keepends=True), text.splitlines(keepends=True),
                                            f"before {pass_.spec()}", f"after {pass_.spec()}")
                body = "".join(diff) or "// (no change)\n"
                self.out.write(f"// -----// IR Dump After {pass_.spec()} (diff) //----- //\n{body}\n")
            else:
                self.out.write(f"// -----// IR Dump After {pass_.spec()} //----- //\n{text}\n")
        if self.opts.dump_dir:
            self.dump(pass_.name, text)
        self.previous = text


# ---------------------------------------------------------------- --verify-diagnostics

_EXPECTED = re.compile(r"//\s*expected-(error|warning|remark|note)\s*(@(?:[+-]\d+|above|below))?\s*\{\{(.*?)\}\}")


@dataclass
class Expectation:
    line: int       # 1-based line in the whole file
    text: str
    source_line: int
    kind: str = "error"


def _is_expectation_only(line: str) -> bool:
    return line.strip().startswith("//") and _EXPECTED.search(line) is not None


def find_expectations(lines: list[str], first: int, last: int) -> list[Expectation]:
    """Expectations in lines[first:last] (0-based indices; reported lines are 1-based)."""
    found = []
    for i in range(first, last):
        for m in _EXPECTED.finditer(lines[i]):
            kind, where, text = m.group(1), m.group(2), m.group(3)
            target = i
            if where in ("@below", "@above"):
                step = 1 if where == "@below" else -1
                target = i + step
                while first <= target < last and _is_expectation_only(lines[target]):
                    target += step
            elif where:
                target = i + int(where[1:])
            found.append(Expectation(target + 1, text, i + 1, kind))
    return found


# ---------------------------------------------------------------- driver


@dataclass
class Options:
    pipeline: str = ""
    print_opts: PrintOptions = field(default_factory=PrintOptions)
    timing: bool = False
    verify: bool = True
    verify_diagnostics: bool = False
    split_input_file: bool = False
    check_numerics: bool = False


class Tool:
    def __init__(self, opts: Options, out: TextIO, err: TextIO) -> None:
        self.opts = opts
        self.out = out
        self.err = err
        self.timer = PassTimer()

    def compile(self, text: str, filename: str) -> str:
        """Parse, verify, run the passes; the final IR text. Raises TirError."""
        module = parse_text(text, filename)
        if self.opts.verify:
            verify(module)
        passes = parse_pipeline(self.opts.pipeline) if self.opts.pipeline else []
        insts: list[PassInstrumentation] = [IRPrinter(self.opts.print_opts, self.out, module)]
        if self.opts.timing:
            insts.append(self.timer)
        checker = NumericsChecker(module) if self.opts.check_numerics else None
        if checker is not None:
            insts.append(checker)
        PassManager(passes, verify_each=self.opts.verify, instrumentations=insts).run(module)
        if checker is not None:
            self.err.write(f"{filename}: {checker.summary()}\n")
        return module_text(module, generic=self.opts.print_opts.generic, debuginfo=self.opts.print_opts.debuginfo)

    def chunks(self, text: str) -> list[tuple[str, int, int]]:
        """(text, first line index, end line index) of each case; padded so line numbers stay right."""
        lines = text.splitlines(keepends=True)
        if not self.opts.split_input_file:
            return [(text, 0, len(lines))]
        out, start = [], 0
        for i, line in enumerate(lines + ["// -----\n"]):
            if i == len(lines) or SPLIT_MARKER.match(line):
                out.append(("\n" * start + "".join(lines[start:i]), start, i))
                start = i + 1
        return out

    def run_file(self, text: str, filename: str) -> tuple[bool, str]:
        """Process one input; (ok, output text)."""
        if self.opts.verify_diagnostics:
            return self.check_file(text, filename), ""
        results, ok = [], True
        for chunk, _, _ in self.chunks(text):
            try:
                results.append(self.compile(chunk, filename))
            except TirError as e:
                self.err.write(f"{e}\n")
                ok = False
        return ok, "\n// -----\n\n".join(r.rstrip("\n") + "\n" for r in results)

    def check_file(self, text: str, filename: str) -> bool:
        lines = text.splitlines()
        ok = True
        for chunk, first, last in self.chunks(text):
            expected = [x for x in find_expectations(lines, first, last) if x.kind == "error"]
            try:
                self.compile(chunk, filename)
                error: TirError | None = None
            except TirError as e:
                error = e
            problems = diagnose(expected, error, filename)
            for p in problems:
                self.err.write(p + "\n")
            ok &= not problems
        return ok


def diagnose(expected: list[Expectation], error: TirError | None, filename: str) -> list[str]:
    """What differs between the expected errors and the one produced (we stop at the first error)."""
    problems = []
    got_line = error.loc.line if error is not None and error.loc is not None else None
    message = error.message if error is not None else ""
    matched = False
    for x in expected:
        if not matched and error is not None and got_line == x.line and x.text in message:
            matched = True
            continue
        where = f"{filename}:{x.source_line}"
        if error is None:
            problems.append(f"{where}: expected error at line {x.line} was not produced: {{{{{x.text}}}}}")
        elif matched or got_line != x.line:
            problems.append(f"{where}: expected error at line {x.line} was not produced: {{{{{x.text}}}}} "
                            f"(got: {error})")
        else:
            problems.append(f"{where}: error at line {x.line} has unexpected text: expected {{{{{x.text}}}}}, "
                            f"got: {str(error).splitlines()[0]}")
    if error is not None and not matched and not expected:
        problems.append(f"unexpected error: {str(error).splitlines()[0]}")
    return problems


def build_arg_parser() -> argparse.ArgumentParser:
    width = max(map(len, PIPELINES)) + 2
    listing = ["passes:", textwrap.fill(", ".join(sorted(PASSES)), 78, initial_indent="  ", subsequent_indent="  "),
               "pipelines (--pipeline NAME):"]
    listing += [textwrap.fill(", ".join(v), 78, initial_indent=f"  {k:<{width}}", subsequent_indent=" " * (width + 2))
                for k, v in sorted(PIPELINES.items())]
    listing += ["dialects:", "  " + ", ".join(DIALECT_MODULES)]
    ap = argparse.ArgumentParser(prog="tir-opt", description="Run passes on .tir files and show the IR.",
                                 epilog="\n".join(listing), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", default=["-"], help="input .tir files ('-' = stdin)")
    ap.add_argument("-p", "--passes", default="", help="comma-separated pass list, e.g. canonicalize,cse")
    ap.add_argument("--pipeline", default="", metavar="NAME",
                    help=f"a named pipeline: {', '.join(sorted(PIPELINES))} (listed below)")
    ap.add_argument("--print-ir-after-all", action="store_true")
    ap.add_argument("--print-ir-before-all", action="store_true")
    ap.add_argument("--print-ir-after", action="append", default=[], metavar="PASS")
    ap.add_argument("--print-ir-before", action="append", default=[], metavar="PASS")
    ap.add_argument("--print-ir-diff", action="store_true", help="print unified diffs between stages")
    ap.add_argument("--dump-dir", metavar="DIR", help="write NN-passname.tir for each stage")
    ap.add_argument("--timing", action="store_true", help="pass timing table on stderr")
    ap.add_argument("--print-generic", action="store_true", help="MLIR's generic op form")
    ap.add_argument("--print-debuginfo", action="store_true", help="print op locations")
    ap.add_argument("--verify-diagnostics", action="store_true", help="check // expected-error comments")
    ap.add_argument("--split-input-file", action="store_true", help="'// -----' separates cases")
    ap.add_argument("--no-verify", action="store_true", help="do not verify after parsing and after each pass")
    ap.add_argument("--check-numerics", action="store_true",
                    help="run functions on random inputs after each pass; name the first pass that changes a result")
    ap.add_argument("-o", "--output", metavar="OUT", help="write the final IR here")
    return ap


def _split_names(values: list[str]) -> set[str]:
    return {n.strip() for v in values for n in v.split(",") if n.strip()}


@cli
def main(argv: list[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    pipeline = ",".join(s for s in (args.pipeline, args.passes) if s)
    try:
        if args.pipeline and args.pipeline not in PIPELINES:
            raise TirError(unknown_pass_message(args.pipeline, "pipeline") + " (a list of passes goes in -p)")
        passes = parse_pipeline(pipeline) if pipeline else []  # report a bad pipeline before reading input
    except TirError as e:
        err.write(f"tir-opt: {e}\n")
        return 1
    names = {p.name for p in passes}
    for flag in ("print_ir_after", "print_ir_before"):
        for n in _split_names(getattr(args, flag)):
            if n not in names:
                err.write(f"tir-opt: --{flag.replace('_', '-')}={n}: pass '{n}' is not in the pipeline\n")
                return 1
    popts = PrintOptions(after_all=args.print_ir_after_all, before_all=args.print_ir_before_all,
                         after=_split_names(args.print_ir_after), before=_split_names(args.print_ir_before),
                         diff=args.print_ir_diff, generic=args.print_generic, debuginfo=args.print_debuginfo)
    opts = Options(pipeline=pipeline, print_opts=popts, timing=args.timing, verify=not args.no_verify,
                   verify_diagnostics=args.verify_diagnostics, split_input_file=args.split_input_file,
                   check_numerics=args.check_numerics)
    multi = len(args.files) > 1
    ok = True
    outputs: list[str] = []
    for path in args.files:
        try:
            text = sys.stdin.read() if path == "-" else read_source(path)
        except (TirError, UnicodeDecodeError) as e:
            err.write(f"tir-opt: {e if isinstance(e, TirError) else 'standard input is not UTF-8 text'}\n")
            ok = False
            continue
        filename = "<stdin>" if path == "-" else path
        if args.dump_dir:
            stem = os.path.splitext(os.path.basename(filename))[0] if multi else ""
            popts.dump_dir = os.path.join(args.dump_dir, stem) if stem else args.dump_dir
        if multi and not args.output:
            out.write(f"// ===== {filename} =====\n")
        tool = Tool(opts, out, err)
        file_ok, result = tool.run_file(text, filename)
        ok &= file_ok
        if args.output:
            outputs.append(result)
        else:
            out.write(result)
            out.flush()
        if args.timing and tool.timer.times:
            err.write(tool.timer.report() + "\n")
    if args.output:
        try:
            with open(args.output, "w") as f:
                f.write("\n".join(outputs))
        except OSError as e:
            err.write(f"tir-opt: cannot write '{args.output}': {e.strerror or e}\n")
            return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
