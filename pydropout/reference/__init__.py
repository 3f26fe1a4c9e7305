"""pydropout.reference: the contract of SPEC.md in plain NumPy (its own arithmetic).

Only the reference's building blocks are exported here; nothing imported from this
package reaches the compiled core.
"""

from ._arith import alpha_constants, gaussian_noise, keep_mask, normal_from_words
from ._backend import NumpyBackend
from ._generator import Generator, default_generator
from ._philox import philox4x32_10, stream_words

__all__ = [
    "Generator",
    "NumpyBackend",
    "alpha_constants",
    "default_generator",
    "gaussian_noise",
    "keep_mask",
    "normal_from_words",
    "philox4x32_10",
    "stream_words",
]
