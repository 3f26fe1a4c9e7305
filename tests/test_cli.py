"""python -m pydropout: the bare command, info, bench, and errors without tracebacks."""

import os
import subprocess
import sys
import tempfile

import pytest

import pydropout
from pydropout import _cli


def run_cli(*args, **kw):
    # outside the source tree: the installed package is the one under test
    kw.setdefault("cwd", tempfile.gettempdir())
    return subprocess.run(
        [sys.executable, "-m", "pydropout", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def _child_threads(env):
    """The thread count a new process with ``env`` starts with (this process's may differ:
    a test may have set it, and the environment it started from may have changed since:
    dask's worker processes set OMP_NUM_THREADS=1 in it)."""
    code = "import pydropout; print(pydropout.get_num_threads())"
    kw = dict(capture_output=True, text=True, timeout=120, env=env, cwd=tempfile.gettempdir())
    r = subprocess.run([sys.executable, "-c", code], **kw)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_bare_command_prints_version_simd_threads_and_an_example():
    env = dict(os.environ)
    env.pop("PYDROPOUT_NUM_THREADS", None)
    r = run_cli(env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"pydropout {pydropout.__version__}" in out
    assert f"SIMD level:   {pydropout.simd_level()}" in out
    for level in pydropout.supported_simd_levels():
        assert level in out
    assert f"threads:      {_child_threads(env)} " in out
    assert "[ 2.,  4.,  0.,  0., 10.,  0.,  0., 16.]" in out  # docs/CONTRACT.md section 2's example
    assert "identical bits" in out
    assert r.stderr == ""


def test_bare_command_prints_the_configured_thread_count():
    r = run_cli(env=dict(os.environ, PYDROPOUT_NUM_THREADS="3"))
    assert r.returncode == 0, r.stderr
    assert "threads:      3 (PYDROPOUT_NUM_THREADS or pydropout.set_num_threads)" in r.stdout


def test_info(capsys):
    assert _cli.main(["info"]) == 0
    out = capsys.readouterr().out
    info = pydropout._core.build_info()
    for key in ("SIMD level:", "threads:", "OpenMP:", "compiler:", "build flags:"):
        assert key in out
    assert info["compiler"] in out and info["flags"] in out
    if info["openmp"] is not None:
        assert str(info["openmp"]) in out


def test_version_flag():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"pydropout {pydropout.__version__}"


def _one_clear_line(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1, r.stderr
    return errors[0]


def test_bad_flag_is_one_line_and_nonzero():
    line = _one_clear_line(run_cli("--frobnicate"))
    assert "--frobnicate" in line
    line = _one_clear_line(run_cli("demo", "--seed", "banana"))
    assert "--seed" in line
    line = _one_clear_line(run_cli("nosuchcommand"))
    assert "nosuchcommand" in line


def test_unwritable_out_is_one_line_and_nonzero(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    line = _one_clear_line(run_cli("demo", "--quick", "--out", str(blocker / "sub")))
    assert "--out" in line and str(blocker / "sub") in line
    line = _one_clear_line(run_cli("demo", "--quick", "--out", str(blocker)))
    assert "--out" in line


def test_demo_without_its_dependencies(monkeypatch, capsys):
    monkeypatch.setattr(_cli, "_importable", lambda name: name != "sklearn")
    assert _cli.main(["demo", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scikit-learn" in err and '".[demo]"' in err


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_info_names_the_kernel_tier_when_the_core_does(monkeypatch, capsys):
    monkeypatch.setattr(pydropout._core, "kernel_tier", lambda: "tier-under-test", raising=False)
    assert _cli.main(["info"]) == 0
    assert "kernel tier:  tier-under-test" in capsys.readouterr().out
    monkeypatch.delattr(pydropout._core, "kernel_tier")  # a core without it: no line
    assert _cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "kernel tier" not in out and "SIMD level:" in out


def test_bench_finds_the_script_of_the_clone_it_runs_from():
    script = os.path.join(ROOT, "benchmarks", "bench_dropout.py")
    here = os.path.dirname(os.path.dirname(os.path.abspath(pydropout.__file__)))
    if os.path.samefile(here, ROOT):  # tests of the checkout's pydropout/ folder
        assert str(_cli.bench_script()) == script
    else:  # an installed package: nothing beside it
        assert _cli.bench_script() is None


def test_bench_runs_the_clones_script_with_its_arguments(monkeypatch):
    import pathlib

    script = os.path.join(ROOT, "benchmarks", "bench_dropout.py")
    monkeypatch.setattr(_cli, "bench_script", lambda: pathlib.Path(script))
    seen = []

    def call(cmd, env):
        seen.append((cmd, env))
        return 3

    monkeypatch.setattr(_cli.subprocess, "call", call)
    monkeypatch.setenv("PYTHONPATH", "elsewhere")
    assert _cli.main(["bench", "--quick", "--out", "x"]) == 3
    ((cmd, env),) = seen
    assert cmd == [sys.executable, script, "--quick", "--out", "x"]
    # the script imports this same pydropout
    assert env["PYTHONPATH"] == ROOT + os.pathsep + "elsewhere"


def test_bench_outside_a_clone_says_where_it_lives(monkeypatch, capsys):
    monkeypatch.setattr(_cli, "bench_script", lambda: None)  # an installed package
    assert _cli.main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "benchmarks/" in err and "python benchmarks/bench_dropout.py" in err


def test_bench_from_the_source_checkout():
    # `python -m pydropout bench` in a clone runs benchmarks/bench_dropout.py
    if os.environ.get("PYTHONSAFEPATH"):  # as under scripts/sanitize.sh: the clone is not imported
        pytest.skip("PYTHONSAFEPATH keeps the clone's pydropout off sys.path")
    r = run_cli("bench", "--list", "--ops", "mask", "--sizes", "1Ki", "--threads", "1", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["mask n=1Ki threads=1"]


def test_bench_subprocess_without_traceback():
    r = run_cli("bench", "--help")
    assert "Traceback" not in r.stderr
    if r.returncode != 0:  # the benchmark module is not in this installation
        _one_clear_line(r)


def test_help_lists_the_commands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("info", "demo", "bench"):
        assert cmd in r.stdout
    r = run_cli("demo", "--help")
    for flag in ("--quick", "--seed", "--out"):
        assert flag in r.stdout


def test_main_module_runs_as_script_entry():
    env = dict(os.environ, PYDROPOUT_SIMD="scalar")
    r = run_cli(env=env)
    assert r.returncode == 0 and "SIMD level:   scalar" in r.stdout


def test_runs_from_the_source_checkout():
    # `python -m pydropout` in the repository root imports the checkout's pydropout/
    # folder first; with a non-editable install it loads the installed compiled core
    r = run_cli("info", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "SIMD" in r.stdout or "simd" in r.stdout.lower()
