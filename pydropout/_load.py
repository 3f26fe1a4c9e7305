"""Find the compiled core when the package is imported from a source checkout.

``pip install .`` puts the extension ``pydropout/_core*.so`` in site-packages, but
``python -m pydropout`` (or any ``python`` started in the repository root) imports the
``pydropout/`` folder of the checkout first, where there is no compiled module. Then the
installed distribution's build of the extension is loaded in its place.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from types import ModuleType


def installed_core() -> ModuleType:
    import importlib.metadata as md

    try:
        files = md.files("pydropout") or []
    except md.PackageNotFoundError:
        files = []
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for f in files:
        name = f.name
        if f.parent.name == "pydropout" and name.startswith("_core.") and name.endswith(suffixes):
            path = f.locate()
            spec = importlib.util.spec_from_file_location("pydropout._core", path)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules["pydropout._core"] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules["pydropout._core"]
                raise
            return module
    raise ImportError(
        "pydropout's compiled core (pydropout/_core) is not built: install the package "
        "(pip install .) or build it in place (pip install -e .)"
    )
