"""tir-opt and tirc as a user runs them: exit codes, error line formats, results against numpy.

Most checks run the tools as subprocesses (`python -m tensorir.tools.tir_opt`); the cheaper
option checks call `main()` in-process to keep the suite fast.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorir.tools import tir_opt, tirc

GOOD = """\
func.func @main(%x: tensor<3xf32>, %y: tensor<f32>) -> (tensor<3xf32>, tensor<f32>) {
  %z = tensor.constant {value = 0.0 : f32} : tensor<f32>
  %a = tensor.add %x, %z : tensor<3xf32>
  %b = tensor.mul %a, %y : tensor<3xf32>
  %s = tensor.sum %b : tensor<f32>
  func.return %b, %s : tensor<3xf32>, tensor<f32>
}
"""

BAD_BROADCAST = """\
func.func @f(%x: tensor<3xf32>, %y: tensor<4xf32>) -> tensor<3xf32> {

  %r = tensor.add %x, %y : tensor<3xf32>
  func.return %r : tensor<3xf32>
}
"""

BAD_SYNTAX = """\
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %r = tensor.add %x, : tensor<3xf32>
  func.return %r : tensor<3xf32>
}
"""


def tool(name: str, *args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"tensorir.tools.{name}", *args], input=stdin,
                          capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "good.tir").write_text(GOOD)
    (tmp_path / "bad.tir").write_text(BAD_BROADCAST)
    (tmp_path / "syntax.tir").write_text(BAD_SYNTAX)
    return tmp_path


def assert_user_error(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert re.search(pattern, proc.stderr.splitlines()[0]), proc.stderr


# ---------------------------------------------------------------- tir-opt


def test_tir_opt_runs_passes_and_prints(files: Path) -> None:
    proc = tool("tir_opt", "good.tir", "-p", "canonicalize,cse", cwd=files)
    assert proc.returncode == 0, proc.stderr
    assert "tensor.add" not in proc.stdout and "tensor.mul %x, %y" in proc.stdout


def test_tir_opt_verifier_error_names_file_line_col(files: Path) -> None:
    proc = tool("tir_opt", "bad.tir", cwd=files)
    assert_user_error(proc, r"^bad\.tir:3:\d+: 'tensor\.add' op operand shapes \(3,\) and \(4,\) do not broadcast$")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_tir_opt_parse_error_has_location_and_excerpt(files: Path) -> None:
    proc = tool("tir_opt", "syntax.tir", cwd=files)
    assert_user_error(proc, r"^syntax\.tir:2:\d+: ")


def test_tir_opt_unknown_pass_and_missing_file(files: Path) -> None:
    proc = tool("tir_opt", "good.tir", "-p", "cannonicalize", cwd=files)
    assert_user_error(proc, r"unknown pass 'cannonicalize' \(did you mean 'canonicalize'\?\); known passes: ")


def test_tir_opt_stdin_and_several_files(files: Path) -> None:
    proc = tool("tir_opt", "-", "--pipeline", "interp", stdin=GOOD, cwd=files)
    assert proc.returncode == 0 and "func.func @main" in proc.stdout
    proc = tool("tir_opt", "good.tir", "bad.tir", "good.tir", cwd=files)
    assert proc.returncode == 1
    assert proc.stdout.count("// ===== good.tir =====") == 2 and "// ===== bad.tir =====" in proc.stdout
    assert proc.stderr.startswith("bad.tir:3:")


def test_tir_opt_options_in_process(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = str(files / "good.tir")
    dump = files / "dumps"
    out = files / "out.tir"
    assert tir_opt.main([good, "--pipeline", "interp", "--dump-dir", str(dump), "--timing", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in dump.iterdir()) == ["00-input.tir", "01-sparse-lower.tir", "02-stabilize.tir",
                                                       "03-autodiff.tir", "04-canonicalize.tir", "05-cse.tir",
                                                       "06-dce.tir"]
    assert "tensor.add" in (dump / "00-input.tir").read_text()
    assert "tensor.add" not in out.read_text() and captured.out == ""
    assert "Total" in captured.err and "canonicalize" in captured.err

    assert tir_opt.main([good, "--print-generic"]) == 0
    assert '"tensor.add"(%x, %z)' in capsys.readouterr().out

    assert tir_opt.main([good, "-p", "canonicalize,cse", "--print-ir-before=cse", "--print-ir-after=canonicalize"]) == 0
    text = capsys.readouterr().out
    assert text.count("// -----// IR Dump") == 2
    assert text.index("IR Dump After canonicalize") < text.index("IR Dump Before cse")

    assert tir_opt.main([good, "-p", "cse", "--print-ir-after=dce"]) == 1
    assert "pass 'dce' is not in the pipeline" in capsys.readouterr().err


def test_verify_diagnostics(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = BAD_BROADCAST.replace("\n\n", "\n  // expected-error @+1 {{do not broadcast}}\n")
    (files / "diag.tir").write_text(case + "// -----\n" + GOOD)
    assert tir_opt.main([str(files / "diag.tir"), "--split-input-file", "--verify-diagnostics"]) == 0
    # Wrong text, wrong line, an expectation without error, an error without expectation: all fail.
    wrong = case.replace("do not broadcast", "do broadcast")
    (files / "wrong.tir").write_text(wrong)
    assert tir_opt.main([str(files / "wrong.tir"), "--verify-diagnostics"]) == 1
    assert "unexpected text" in capsys.readouterr().err
    (files / "line.tir").write_text(case.replace("@+1", "@+2"))
    assert tir_opt.main([str(files / "line.tir"), "--verify-diagnostics"]) == 1
    assert "was not produced" in capsys.readouterr().err
    (files / "none.tir").write_text("// expected-error @+1 {{boom}}\n" + GOOD)
    assert tir_opt.main([str(files / "none.tir"), "--verify-diagnostics"]) == 1
    assert "was not produced" in capsys.readouterr().err
    assert tir_opt.main([str(files / "bad.tir"), "--verify-diagnostics"]) == 1
    assert "unexpected error: " in capsys.readouterr().err


# ---------------------------------------------------------------- tirc


def test_tirc_run_npy_inputs_equal_numpy(files: Path) -> None:
    x = np.array([1.5, -2.0, 3.25], np.float32)
    np.save(files / "x.npy", x)
    proc = tool("tirc", "run", "good.tir", "--input", "x=x.npy", "--input", "y=3.5", "--output", "out.npz",
                cwd=files)
    assert proc.returncode == 0, proc.stderr
    with np.load(files / "out.npz") as out:
        assert sorted(out.files) == ["out0", "out1"]
        want = x * np.float32(3.5)
        np.testing.assert_array_equal(out["out0"], want)
        assert out["out0"].dtype == np.float32
        np.testing.assert_allclose(out["out1"], want.sum(), rtol=1e-6)


def test_tirc_run_prints_and_reports_input_errors(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = str(files / "good.tir")
    assert tirc.main(["run", good, "--input", "x=[1.0, 2.0, 3.0]", "--input", "y=2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("out0 = array([2., 4., 6.], dtype=float32)") and "out1 = array(12." in out
    assert tirc.main(["run", good, "--input", "x=[1.0, 2.0, 3.0]"]) == 1
    assert "missing input %y (@main takes %x, %y)" in capsys.readouterr().err
    assert tirc.main(["run", good, "--input", "x=1", "--input", "y=2", "--input", "z=3"]) == 1
    assert "@main has no argument %z (it takes %x, %y)" in capsys.readouterr().err
    assert tirc.main(["run", good, "--func", "other", "--input", "x=1"]) == 1
    assert "no function @other" in capsys.readouterr().err
    assert tirc.main(["run", good, "--input", "x=[1.0, 2.0]", "--input", "y=2"]) == 1
    err = capsys.readouterr().err
    assert "good.tir:1:1: input 'x' (#0) of @main expects shape (3,), got an array of shape (2,)\n" in err


def test_tirc_user_errors_exit_1(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(tool("tirc", "run", "bad.tir", "--input", "x=1", "--input", "y=1", cwd=files),
                      r"^bad\.tir:3:\d+: 'tensor\.add' op")
    assert tirc.main(["build", str(files / "good.tir"), "--target", "cuda", "-o", str(files / "out")]) == 1
    assert "target 'cuda' is not available yet" in capsys.readouterr().err
    assert tirc.main(["run", str(files / "good.tir"), "--target", "tpu"]) == 1
    assert "target 'tpu' is not available" in capsys.readouterr().err
    assert tirc.main(["run", str(files / "nope.tir")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert tir_opt.main([str(files / "nope.tir")]) == 1
    assert capsys.readouterr().err.startswith(f"tir-opt: cannot read '{files / 'nope.tir'}'")


CALLS = """func.func @g(%x: tensor<?xf32>) -> tensor<?xf32> {
  %y = tensor.exp %x
  func.return %y : tensor<?xf32>
}
func.func @main(%x: tensor<?xf32>) -> tensor<?xf32> {
  %y = func.call %x {callee = @g} : tensor<?xf32>
  %z = func.call %y {callee = @g} : tensor<?xf32>
  func.return %z : tensor<?xf32>
}
"""


def test_calls_run_on_the_c_target_like_the_interpreter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "calls.tir"
    path.write_text(CALLS)
    outs = []
    for target in ("c", "interp"):
        out = tmp_path / f"{target}.npz"
        assert tirc.main(["run", str(path), "--func", "main", "--input", "x=[0.5, 1.0]", "--target", target,
                          "--output", str(out)]) == 0, capsys.readouterr().err
        with np.load(out) as data:
            outs.append(data["out0"])
    np.testing.assert_allclose(outs[0], np.exp(np.exp(np.array([0.5, 1.0], np.float32))), rtol=1e-6)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)


def test_recursion_and_non_utf8_files_are_user_errors(tmp_path: Path) -> None:
    rec = tmp_path / "rec.tir"
    rec.write_text("func.func @f(%x: tensor<?xf32>) -> tensor<?xf32> {\n"
                   "  %y = func.call %x {callee = @f} : tensor<?xf32>\n  func.return %y : tensor<?xf32>\n}\n")
    assert_user_error(tool("tir_opt", str(rec), "-p", "inline", cwd=tmp_path), r"rec\.tir:2:3: .*recursively")
    binary = tmp_path / "bin.tir"
    binary.write_bytes(b"\x00\xff garbage")
    assert_user_error(tool("tir_opt", str(binary), cwd=tmp_path), r"not UTF-8 text")
    assert_user_error(tool("tirc", "run", str(binary), cwd=tmp_path), r"not UTF-8 text")


def test_readme_size_operands_take_an_index_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    path = tmp_path / "grid.tir"
    path.write_text(next(b for b in re.findall(r"^```\w*\n(.*?)^```", readme, re.S | re.M) if "@grid" in b))
    x = np.array([1.0, 2.0, 3.0], np.float32)
    for target in ("c", "interp"):
        out = tmp_path / f"{target}.npz"
        assert tirc.main(["run", str(path), "--input", "n=2", "--input", "x=[1.0, 2.0, 3.0]", "--target", target,
                          "--output", str(out)]) == 0, capsys.readouterr().err
        with np.load(out) as data:
            np.testing.assert_array_equal(data["out0"], np.zeros((2, 3), np.float32))
            np.testing.assert_array_equal(data["out1"], np.broadcast_to(x, (2, 3)))
    assert tirc.main(["run", str(path), "--input", "n=2.5", "--input", "x=[1.0]", "--target", "interp"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:1:1: input 'n' (#0) of @grid expects int64 index, got float 2.5"), err
    assert tirc.main(["run", str(path), "--input", "n=[2]", "--input", "x=[1.0]", "--target", "interp"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:1:1: input 'n' (#0) of @grid expects a number, got an array of shape (1,)"), err


def test_edge_inputs_give_clear_messages(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = str(files / "good.tir")
    (files / "empty.tir").write_text("")
    assert tirc.main(["run", str(files / "empty.tir")]) == 1
    assert capsys.readouterr().err.startswith(f"{files / 'empty.tir'}:1:1: the file defines no function")
    (files / "x.npy").write_text("1.0 2.0 3.0\n")  # text, not numpy's format
    assert tirc.main(["run", good, "--input", f"x={files / 'x.npy'}", "--input", "y=1"]) == 1
    err = capsys.readouterr().err
    assert err == f"input %x: '{files / 'x.npy'}' is not a .npy file (numpy.save writes one)\n"
    bom = files / "bom.tir"
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert tirc.main(["run", str(bom), "--input", "x=[1.0, 2.0, 3.0]", "--input", "y=2"]) == 0
    assert capsys.readouterr().out.startswith("out0 = array([2., 4., 6.], dtype=float32)")
    proc = tool("tir_opt", "-", stdin="\ufeff" + GOOD, cwd=files)
    assert proc.returncode == 0 and proc.stdout.startswith("func.func @main"), proc.stderr


def test_tir_opt_names_pipelines_and_reports_a_clean_numerics_check(files: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from tensorir.passes import PASSES, PIPELINES

    with pytest.raises(SystemExit):
        tir_opt.main(["--help"])
    helptext = capsys.readouterr().out
    assert all(name in helptext for name in [*PASSES, *PIPELINES])
    assert "  cpu     sparse-lower, stabilize, autodiff, inline, canonicalize," in helptext
    good = str(files / "good.tir")
    assert tir_opt.main([good, "--pipeline", "nosuch"]) == 1
    assert capsys.readouterr().err == ("tir-opt: unknown pipeline 'nosuch'; pipelines: cpu, cuda, interp, opencl "
                                       "(a list of passes goes in -p)\n")
    assert tir_opt.main([good, "--pipeline", "interp", "--check-numerics"]) == 0
    assert capsys.readouterr().err == (f"{good}: --check-numerics: @main: same results after each of 6 passes "
                                       "(compared after the 1 that changed the IR)\n")
    odd = files / "odd.tir"  # only 5 elements reshape to (5,): no random size runs it
    odd.write_text("func.func @five(%x: tensor<?xf32>) -> tensor<5xf32> {\n"
                   "  %y = tensor.reshape %x {shape = [5]}\n  func.return %y : tensor<5xf32>\n}\n")
    assert tir_opt.main([str(odd), "-p", "cse", "--check-numerics"]) == 0
    assert capsys.readouterr().err == (f"{odd}: --check-numerics: nothing compared; not checked: @five "
                                       "(no random inputs of the sizes 3, 4, 1, 2 run)\n")
