"""The vector width of generated C (runtime/vector_width.py): the probe's decision, the flag in the compile
commands, and a real probe on this machine, cached on disk."""

import json
import platform
import shutil
import subprocess

import pytest
from tensorir import config
from tensorir.config import ConfigError
from tensorir.runtime import ccompiler, vector_width

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")


@pytest.fixture
def fresh(tmp_path):
    """An empty cache directory and no probe result remembered in this process."""
    vector_width._decide.cache_clear()
    with config.change_flags(cachedir=str(tmp_path)):
        yield tmp_path
    vector_width._decide.cache_clear()


def test_choose_takes_the_fastest_width():
    assert vector_width.choose({None: 43.4, 128: 43.5, 256: 35.0}) == 256
    assert vector_width.choose({None: 10.0, 128: 9.0, 256: 9.5, 512: 12.0}) == 128


def test_choose_leaves_ties_and_losses_to_the_compiler_default():
    assert vector_width.choose({None: 10.0, 128: 20.0, 256: 9.9}) is None  # within TIE: a tie
    assert vector_width.choose({None: 10.0, 128: 20.0, 256: 10.5}) is None
    assert vector_width.choose({128: 1.0, 256: 2.0}) is None  # no default measured: nothing to compare
    assert vector_width.choose({None: 1.0}) is None


def test_candidates_follow_the_cpu():
    assert vector_width.candidates({"sse2", "avx", "avx2", "avx512f"}, "x86_64") == [128, 256, 512]
    assert vector_width.candidates({"sse2", "avx", "avx2"}, "x86_64") == [128, 256]
    assert vector_width.candidates({"sse2", "sse4_2"}, "x86_64") == [128]
    assert vector_width.candidates({"asimd"}, "aarch64") == []


def test_config_flag_accepts_widths_and_refuses_others():
    cfg = type(config)()
    assert cfg.vector_width == "auto"
    cfg.load_env({"TENSORIR_FLAGS": "vector_width=256"})
    assert cfg.vector_width == "256"
    with pytest.raises(ConfigError, match="vector_width"):
        cfg.vector_width = 384


def _width_flags(flags):
    return [f for f in flags if f.startswith(vector_width.USER_WIDTH_FLAGS)]


@needs_cc
def test_explicit_width_in_the_module_and_library_commands(monkeypatch, tmp_path):
    cmds = []
    monkeypatch.setattr(ccompiler, "_run", lambda cc, cs, paths, counter: cmds.extend(cs))
    with config.change_flags(vector_width=128):
        assert _width_flags(ccompiler.compile_flags()) == ["-mprefer-vector-width=128"]
        (tmp_path / "lib.c").write_text("")
        ccompiler.compile_library(tmp_path / "lib.c", tmp_path / "lib.so", "lib.so")
    assert _width_flags(cmds[0]) == ["-mprefer-vector-width=128"]
    with config.change_flags(vector_width="native"):
        assert _width_flags(ccompiler.compile_flags()) == []


def test_a_width_in_cflags_wins(monkeypatch):
    monkeypatch.setattr(vector_width, "probe", lambda *a: pytest.fail("the user's width must not be probed"))
    for mode in ("512", "auto"):
        with config.change_flags(vector_width=mode, cflags="-O2 -mprefer-vector-width=256"):
            assert _width_flags(ccompiler.compile_flags()) == ["-mprefer-vector-width=256"]
    with config.change_flags(vector_width="512", cflags="-O3 -mprefer-avx128"):
        assert _width_flags(ccompiler.compile_flags()) == ["-mprefer-avx128"]


def test_a_failed_probe_means_no_flag(monkeypatch, fresh):
    monkeypatch.setattr(vector_width, "candidates", lambda flags, machine: [128, 256])

    def broken(*args):
        raise subprocess.CalledProcessError(1, "cc")

    monkeypatch.setattr(vector_width, "measure", broken)
    with config.change_flags(vector_width="auto"):
        assert _width_flags(ccompiler.compile_flags()) == []
    assert not (fresh / "vector_width").exists()  # not stored: the next process tries again


@needs_cc
@pytest.mark.skipif(platform.machine() != "x86_64", reason="the probe measures x86-64 widths")
def test_probe_on_this_machine_is_measured_once_and_cached(monkeypatch, fresh, capfd):
    supported = vector_width.candidates(vector_width._cpu_flags(), platform.machine())
    with config.change_flags(vector_width="auto", debug=1):
        width = vector_width.probe(tuple(ccompiler.user_flags()), config.cc)
        assert width in [None, *supported]
        assert _width_flags(ccompiler.compile_flags()) == ([f"-mprefer-vector-width={width}"] if width else [])
        err = capfd.readouterr().err
        assert err.count("vector width probe (measured)") == 1 and "default" in err
        (saved,) = (fresh / "vector_width").glob("*.json")
        data = json.loads(saved.read_text())
        assert data["width"] == width and set(data["times"]) == {"default", *map(str, supported)}
        # a second process reads the disk cache: it compiles nothing
        vector_width._decide.cache_clear()
        monkeypatch.setattr(vector_width, "measure", lambda *a: pytest.fail("probed twice"))
        assert vector_width.probe(tuple(ccompiler.user_flags()), config.cc) == width
        assert "vector width probe (cached)" in capfd.readouterr().err


def test_setting_reproduces_the_choice_without_a_probe(monkeypatch):
    """What tir-bench passes to the child processes of its cold compiles, whose fresh cache would probe again."""
    monkeypatch.setattr(vector_width, "probe", lambda user, cc: 256)
    assert vector_width.setting() == "256"
    monkeypatch.setattr(vector_width, "probe", lambda user, cc: None)
    assert vector_width.setting() == "native"
    with config.change_flags(vector_width=128):
        assert vector_width.setting() == "128"
    with config.change_flags(cflags="-O3 -mprefer-vector-width=512"):
        assert vector_width.setting() == "native"  # no flag of ours: the user's own decides


def test_the_choice_of_the_process_reaches_every_cache_directory(monkeypatch, tmp_path):
    """A process decides once; a cache directory it uses later gets the same choice written in, so a second
    process using that directory makes the same choice (the same flags, the same cache keys: no recompile)."""
    monkeypatch.setattr(vector_width, "candidates", lambda flags, machine: [128, 256])
    monkeypatch.setattr(vector_width, "measure", lambda cc, user, widths: {None: 2.0, 128: 3.0, 256: 1.0})
    vector_width._decide.cache_clear()
    try:
        with config.change_flags(vector_width="auto", cachedir=str(tmp_path / "a")):
            assert vector_width.probe((), config.cc) == 256
        monkeypatch.setattr(vector_width, "measure", lambda cc, user, widths: {None: 1.0, 128: 3.0, 256: 2.0})
        with config.change_flags(vector_width="auto", cachedir=str(tmp_path / "b")):
            assert vector_width.probe((), config.cc) == 256  # the process's choice, not a new probe
        (saved,) = (tmp_path / "b" / "vector_width").glob("*.json")
        assert json.loads(saved.read_text())["width"] == 256
        vector_width._decide.cache_clear()  # a second process using directory b reads the same choice
        with config.change_flags(vector_width="auto", cachedir=str(tmp_path / "b")):
            assert vector_width.probe((), config.cc) == 256
    finally:
        vector_width._decide.cache_clear()
