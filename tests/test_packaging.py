"""The package: lazy optional imports, type stubs, mypy, docstrings, build configuration."""

import ast
import importlib.util
import json
import os
import pathlib
import pydoc
import subprocess
import sys
import tempfile

import pytest
from helpers import ROOT

import pydropout

PKG = pathlib.Path(pydropout.__file__).resolve().parent
HEAVY = ("torch", "dask", "distributed", "matplotlib", "tqdm", "sklearn", "pandas", "scipy")


def _modules_after(code, baseline=""):
    """The HEAVY modules that ``code`` imports beyond those ``baseline`` imported before it."""
    probe = (
        f"import sys, json\n{baseline}\nbefore = set(sys.modules)\n{code}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in set(sys.modules) - before]))"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tempfile.gettempdir(),
    )  # the installed package, not the source tree
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_pydropout_imports_no_optional_dependency():
    # torch, dask, matplotlib, tqdm, scikit-learn load only when their feature is used
    assert _modules_after("import pydropout, pydropout.reference, pydropout._cli") == []


def test_torch_integration_imports_torch_only():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    # whatever torch itself brings along, and nothing more
    assert _modules_after("import pydropout.torch", baseline="import torch") == []


def test_stubs_and_py_typed_ship_with_the_package():
    assert (PKG / "py.typed").is_file()
    assert (PKG / "_core.pyi").is_file()


def test_stub_matches_the_extension():
    tree = ast.parse((PKG / "_core.pyi").read_text())
    stubbed = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            stubbed.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            stubbed.add(node.target.id)
    stubbed.discard("__getattr__")
    runtime = {n for n in dir(pydropout._core) if not n.startswith("__")}
    assert stubbed - runtime == set(), "stubbed names the extension does not have"
    assert runtime - stubbed == set(), "add these to pydropout/_core.pyi"
    stub_gen = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Generator")
    members = {n.name for n in stub_gen.body if isinstance(n, ast.FunctionDef)}
    for name in members - {"__init__", "__getstate__", "__setstate__"}:
        assert hasattr(pydropout.Generator, name), name


def test_mypy_passes_on_the_package(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed")
    if not (ROOT / "pydropout" / "_core.pyi").is_file():
        pytest.skip("needs the source tree")
    usage = (
        "import numpy as np\nimport pydropout\n"
        "g = pydropout.Generator(0, stream=1)\n"
        "state: tuple[int, int, int] = g.get_state()\n"
        "level: str = pydropout.simd_level()\n"
        "levels: list[str] = pydropout.supported_simd_levels()\n"
        "y = pydropout.dropout(np.ones(4, np.float32), 0.5, generator=g)\n"
        "n: int = pydropout.get_num_threads()\n"
        "info: dict = pydropout._core.build_info()\n"
    )
    (tmp_path / "usage.py").write_text(usage)
    env = dict(os.environ, MYPY_CACHE_DIR=os.devnull)
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--no-incremental",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        str(ROOT / "pydropout"),
        str(tmp_path / "usage.py"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_help_reads_well():
    text = pydoc.render_doc(pydropout.dropout, renderer=pydoc.plaintext)
    assert "dropout(x, p=0.5, training=True, inplace=False, *, mode='upscale_in_train'" in text
    for heading in ("Parameters", "Returns", "Raises", "Examples"):
        assert heading in text
    for name in (
        "dropout_with_mask",
        "dropout_backward",
        "dropout_mask",
        "manual_seed",
        "simd_level",
        "Dropout",
    ):
        assert getattr(pydropout, name).__doc__, name


def test_build_configuration():
    tomllib = pytest.importorskip("tomllib")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("needs the source tree")
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = conf["project"]["optional-dependencies"]
    assert any(r.startswith("torch") for r in extras["torch"])
    for dep in ("matplotlib", "scikit-learn", "tqdm"):
        assert any(r.startswith(dep) for r in extras["demo"]), dep
    cibw = conf["tool"]["cibuildwheel"]
    assert "pytest" in cibw["test-command"]
    assert set(cibw["linux"]["archs"]) >= {"x86_64", "aarch64"}
    assert os.access(ROOT / "scripts" / "check_wheel.sh", os.X_OK)
