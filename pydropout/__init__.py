"""pydropout: fast, exact, reproducible dropout for NumPy arrays on the CPU.

Element ``i`` of a call draws word ``offset + i`` of a Philox4x32-10 stream and is kept
iff ``word >= floor(p * 2**32)``; kept elements are scaled in training
("upscale_in_train", as torch) or the output is scaled at evaluation
("downscale_in_infer", as the 2014 paper). Results are identical for every SIMD level,
thread count and machine, and ``pydropout.reference`` reproduces them in plain NumPy.
"""

import os as _os

# The CPUs this process may run on, read before the compiled core loads: with
# OMP_PROC_BIND set, OpenMP binds the importing thread to a single CPU as it loads, and
# threads started from it later (another library's pool) would inherit that one CPU.
_START_CPUS: "frozenset[int] | None"
try:
    _START_CPUS = frozenset(_os.sched_getaffinity(0))
except (AttributeError, OSError):  # not Linux
    _START_CPUS = None

try:
    from . import _core
except ImportError:  # a source checkout: use the installed build of the extension
    from ._load import installed_core

    _core = installed_core()

from . import reference
from ._api import (
    Dropout,
    DropoutState,
    Generator,
    default_generator,
    dropout,
    dropout_backward,
    dropout_mask,
    dropout_with_mask,
    dropout_with_state,
    get_num_threads,
    manual_seed,
    set_num_threads,
    simd_level,
    supported_simd_levels,
)
from ._blocks import dropout_block, dropout_block_mask
from ._common import effective_p
from ._variants import (
    AlphaDropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    GaussianDropout,
    alpha_dropout,
    alpha_dropout_backward,
    alpha_dropout_with_mask,
    alpha_dropout_with_state,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
    gaussian_dropout,
    gaussian_dropout_backward,
    gaussian_dropout_with_state,
)

__version__ = "0.1.0"

__all__ = [
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "DropoutState",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "Generator",
    "__version__",
    "alpha_dropout",
    "alpha_dropout_backward",
    "alpha_dropout_with_mask",
    "alpha_dropout_with_state",
    "default_generator",
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
    "get_num_threads",
    "manual_seed",
    "reference",
    "set_num_threads",
    "simd_level",
    "supported_simd_levels",
]
