"""Golden tests: every tests/ir/*.tir file runs its `// RUN:` lines through bash (lit-style).

`%s` becomes the file's path; `tir-opt`, `tirc` and `filecheck` become `python -m ...` of this
interpreter, so the tests need no console scripts on PATH; `not CMD` succeeds when CMD fails.
A line ending in `\\` continues on the next RUN line. Each file is one test; it passes when
every RUN pipeline exits with 0.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

IR_DIR = Path(__file__).parent / "ir"
FILES = sorted(IR_DIR.glob("*.tir"))
RUN = re.compile(r"^\s*//\s*RUN:\s?(.*)$")
TOOLS = {
    "tir-opt": f"{shlex.quote(sys.executable)} -m tensorir.tools.tir_opt",
    "tirc": f"{shlex.quote(sys.executable)} -m tensorir.tools.tirc",
    "filecheck": f"{shlex.quote(sys.executable)} -m filecheck",
}
_TOOL = re.compile(r"(?<![\w./-])(" + "|".join(map(re.escape, TOOLS)) + r")(?![\w.-])")
PRELUDE = "set -o pipefail\nnot() { if \"$@\"; then return 1; else return 0; fi; }\n"


def run_lines(path: Path) -> list[str]:
    commands, pending = [], ""
    for line in path.read_text().splitlines():
        m = RUN.match(line)
        if not m:
            continue
        text = m.group(1).rstrip()
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        commands.append(pending + text)
        pending = ""
    if pending:
        commands.append(pending)
    return commands


def substitute(command: str, path: Path) -> str:
    command = _TOOL.sub(lambda m: TOOLS[m.group(1)], command)
    return command.replace("%s", shlex.quote(str(path)))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_golden(path: Path) -> None:
    commands = run_lines(path)
    assert commands, f"{path.name} has no RUN line"
    for cmd in commands:
        script = PRELUDE + substitute(cmd, path)
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=path.parent, timeout=120)
        assert proc.returncode == 0, (f"RUN: {cmd}\nexit code {proc.returncode}\n"
                                      f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
