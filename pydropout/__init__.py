"""pydropout: fast, exact, reproducible dropout for NumPy arrays on the CPU.

Element ``i`` of a call draws word ``offset + i`` of a Philox4x32-10 stream and is kept
iff ``word >= floor(p * 2**32)``; kept elements are scaled in training
("upscale_in_train", as torch) or the output is scaled at evaluation
("downscale_in_infer", as the 2014 paper). Results are identical for every SIMD level,
thread count and machine, and ``pydropout.reference`` reproduces them in plain NumPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

__version__ = "0.1.0"

if TYPE_CHECKING:
    from . import reference
    from ._compiled import (
        Generator,
        default_generator,
        get_num_threads,
        set_num_threads,
        simd_level,
        supported_simd_levels,
    )
    from ._compiled import api as _api
    from ._dropblock_compiled import api as _dropblock_api
    from ._dropblock_layers import DropBlock2d, DropBlock3d
    from ._layers import (
        AlphaDropout,
        Dropout,
        Dropout1d,
        Dropout2d,
        Dropout3d,
        FeatureAlphaDropout,
        GaussianDropout,
    )
    from ._layers_modern import DropPath, GaussianNoise, Zoneout
    from ._state import DropoutState

    alpha_dropout = _api.alpha_dropout
    alpha_dropout_backward = _api.alpha_dropout_backward
    alpha_dropout_with_mask = _api.alpha_dropout_with_mask
    alpha_dropout_with_state = _api.alpha_dropout_with_state
    drop_block2d = _dropblock_api.drop_block2d
    drop_block2d_with_mask = _dropblock_api.drop_block2d_with_mask
    drop_block2d_with_state = _dropblock_api.drop_block2d_with_state
    drop_block3d = _dropblock_api.drop_block3d
    drop_block3d_with_mask = _dropblock_api.drop_block3d_with_mask
    drop_block3d_with_state = _dropblock_api.drop_block3d_with_state
    drop_block_backward = _dropblock_api.drop_block_backward
    dropout = _api.dropout
    dropout1d = _api.dropout1d
    dropout2d = _api.dropout2d
    dropout3d = _api.dropout3d
    dropout_backward = _api.dropout_backward
    dropout_block = _api.dropout_block
    dropout_block_mask = _api.dropout_block_mask
    dropout_mask = _api.dropout_mask
    dropout_with_mask = _api.dropout_with_mask
    dropout_with_state = _api.dropout_with_state
    drop_path = _api.drop_path
    zoneout = _api.zoneout
    gaussian_noise = _api.gaussian_noise
    dropout_apply = _api.dropout_apply
    effective_p = _api.effective_p
    feature_alpha_dropout = _api.feature_alpha_dropout
    gaussian_dropout = _api.gaussian_dropout
    gaussian_dropout_backward = _api.gaussian_dropout_backward
    gaussian_dropout_with_state = _api.gaussian_dropout_with_state
    manual_seed = _api.manual_seed

__all__ = [
    # layers
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "DropPath",
    "GaussianNoise",
    "Zoneout",
    "DropBlock2d",
    "DropBlock3d",
    # state and generators
    "DropoutState",
    "Generator",
    "default_generator",
    "manual_seed",
    # functions
    "alpha_dropout",
    "alpha_dropout_backward",
    "alpha_dropout_with_mask",
    "alpha_dropout_with_state",
    "drop_block2d",
    "drop_block2d_with_mask",
    "drop_block2d_with_state",
    "drop_block3d",
    "drop_block3d_with_mask",
    "drop_block3d_with_state",
    "drop_block_backward",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "dropout_backward",
    "dropout_block",
    "dropout_block_mask",
    "dropout_mask",
    "dropout_with_mask",
    "dropout_with_state",
    "effective_p",
    "feature_alpha_dropout",
    "gaussian_dropout",
    "gaussian_dropout_backward",
    "gaussian_dropout_with_state",
    "drop_path",
    "zoneout",
    "gaussian_noise",
    "dropout_apply",
    # the machine
    "get_num_threads",
    "set_num_threads",
    "simd_level",
    "supported_simd_levels",
    # the others
    "__version__",
    "reference",
]

# Where the public names live, loaded on first use (PEP 562), so that
# ``import pydropout.reference`` works without (and never loads) the compiled core:
# ``DropoutState`` and ``reference`` as written here, every other name of ``__all__`` from
# the first of the homes that has it (the names of the TYPE_CHECKING block above, where
# each is imported by name; tests/test_architecture.py checks that both agree).
_WHERE: Dict[str, Tuple[str, str]] = {
    "DropoutState": ("._state", "DropoutState"),
    "reference": (".reference", ""),
}
_HOMES = (
    ("._compiled", ""),  # the machine: Generator, default_generator, threads, SIMD levels
    ("._compiled", "api"),  # the functions
    ("._dropblock_compiled", "api"),
    ("._layers", ""),
    ("._layers_modern", ""),
    ("._dropblock_layers", ""),
)


def _resolve(module_name: str, attr: str) -> Any:
    value: Any = importlib.import_module(module_name, __name__)
    for part in attr.split(".") if attr else ():
        value = getattr(value, part)
    return value


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = _resolve(*_WHERE[name])
    elif name in __all__:
        for home in _HOMES:
            module = _resolve(*home)
            if hasattr(module, name):
                value = getattr(module, name)
                break
        else:  # pragma: no cover - tests/test_architecture.py finds every public name a home
            raise AttributeError(f"pydropout.{name} has no home in _HOMES")
    elif name == "_core":  # the compiled core, or the installed build of it (_load)
        value = _resolve("._load", "core")
    elif name.startswith("_") and not name.endswith("__"):  # a private module
        try:
            return importlib.import_module("." + name, __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # the module exists, something it imports does not
        raise AttributeError(f"module 'pydropout' has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module 'pydropout' has no attribute {name!r}") from None
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> List[str]:
    # the public names and the module's own dunders (not the helpers imported above)
    return sorted(set(__all__) | {n for n in globals() if n.startswith("__")})
