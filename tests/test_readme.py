"""Every Python block of the README runs on its own, in a fresh interpreter.

A reader copies one block at a time, so no block may lean on names that an earlier one
defined. Blocks that import an optional package skip where it is absent.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest
from helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)
OPTIONAL = ("torch", "dask", "matplotlib", "sklearn", "ml_dtypes")


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs_on_its_own(code, tmp_path):
    for name in OPTIONAL:
        if re.search(rf"^\s*(import|from) {name}\b", code, flags=re.M) and (
            importlib.util.find_spec(name) is None
        ):
            pytest.skip(f"needs {name}")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, f"{code}\n--- stderr ---\n{r.stderr}"
