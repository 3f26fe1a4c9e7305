"""pydropout: fast, exact, reproducible dropout for NumPy arrays on the CPU.

See SPEC-level semantics in the README: Philox4x32-10 words, keep iff
``word >= floor(p * 2**32)``, inverted ("upscale_in_train") or paper-style
("downscale_in_infer") scaling, identical results for every SIMD level and thread count.
"""

from . import reference
from ._api import (
    Dropout,
    Generator,
    default_generator,
    dropout,
    dropout_backward,
    dropout_mask,
    dropout_with_mask,
    get_num_threads,
    manual_seed,
    set_num_threads,
    simd_level,
    supported_simd_levels,
)
from ._blocks import dropout_block, dropout_block_mask
from ._common import effective_p

__version__ = "0.1.0"

__all__ = [
    "Dropout",
    "Generator",
    "__version__",
    "default_generator",
    "dropout",
    "dropout_backward",
    "dropout_block",
    "dropout_block_mask",
    "dropout_mask",
    "dropout_with_mask",
    "effective_p",
    "get_num_threads",
    "manual_seed",
    "reference",
    "set_num_threads",
    "simd_level",
    "supported_simd_levels",
]
