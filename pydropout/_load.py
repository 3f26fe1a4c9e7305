"""Load the compiled core: ``core`` is ``pydropout._core``, wherever it was built.

``pip install .`` puts the extension ``pydropout/_core*.so`` in site-packages, but
``python -m pydropout`` (or any ``python`` started in the repository root) imports the
``pydropout/`` folder of the checkout first, where there is no compiled module. Then the
installed distribution's build of the extension is loaded in its place. Every module that
calls the core imports it from here.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING


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


def load_core() -> ModuleType:
    """``pydropout._core``: the extension next to this file, else the installed build."""
    try:
        return importlib.import_module("pydropout._core")
    except ImportError:  # a source checkout: use the installed build of the extension
        return installed_core()


def checked_core() -> ModuleType:
    """:func:`load_core`, then the checks of :mod:`pydropout._environment`: ImportError when
    the core's version is not these files', a RuntimeWarning for each environment value the
    core could not use."""
    import os

    from . import _environment

    # the version of these Python files: the package's, read (not imported: the package
    # imports its modules, never the other way) from the package that is loading this one
    version = sys.modules[__name__.rpartition(".")[0]].__version__
    module = load_core()
    _environment.check_version(module, version, os.path.dirname(os.path.abspath(__file__)))
    _environment.check_environment(module)
    return module


if TYPE_CHECKING:
    from . import _core as core
else:
    core = checked_core()
