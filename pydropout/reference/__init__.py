"""pydropout.reference: the contract of docs/CONTRACT.md in plain, vectorised NumPy.

Philox4x32-10 is written with 32x32->64-bit products in ``uint64`` arithmetic, the
keep rule is ``word >= floor(p * 2**32)``, and kept elements are scaled by one NumPy
multiply in the array's dtype. The functions are those of ``pydropout`` (the same
definitions, arguments, checks and errors) bound to a NumPy backend with its own
arithmetic and its own :class:`Generator`, and return bit-for-bit the same results;
they are how the tests (and users) check the core. Nothing imported from this package
loads the compiled core: it works where the extension is not built.

Both generator types are accepted. ``generator=None`` draws from
``pydropout.default_generator`` once the compiled core is loaded (so
``pydropout.manual_seed(s)`` seeds both APIs alike, call for call), and from this
package's own ``default_generator`` where it is not.
"""

from __future__ import annotations

from .._api import Api
from .._checks import register_generator
from .._state import DropoutState
from ._arith import alpha_constants, gaussian_dropout_noise, keep_mask, normal_from_words
from ._backend import NumpyBackend
from ._dropblock import api as _dropblock_api
from ._generator import Generator, default_generator
from ._philox import philox4x32_10, stream_words

register_generator(Generator)

_api = Api(NumpyBackend(), home=f"{__name__}:_api")

# the functions of pydropout, family by family, bound to the NumPy backend
dropout, dropout_with_mask, dropout_with_state, dropout_backward, dropout_mask = (
    _api.dropout,
    _api.dropout_with_mask,
    _api.dropout_with_state,
    _api.dropout_backward,
    _api.dropout_mask,
)
dropout_block, dropout_block_mask = _api.dropout_block, _api.dropout_block_mask
dropout1d, dropout2d, dropout3d = _api.dropout1d, _api.dropout2d, _api.dropout3d
alpha_dropout, alpha_dropout_with_mask, alpha_dropout_with_state, alpha_dropout_backward = (
    _api.alpha_dropout,
    _api.alpha_dropout_with_mask,
    _api.alpha_dropout_with_state,
    _api.alpha_dropout_backward,
)
feature_alpha_dropout = _api.feature_alpha_dropout
drop_path, zoneout, gaussian_noise, dropout_apply = (
    _api.drop_path,
    _api.zoneout,
    _api.gaussian_noise,
    _api.dropout_apply,
)
drop_block2d, drop_block3d = _dropblock_api.drop_block2d, _dropblock_api.drop_block3d
drop_block2d_with_mask, drop_block3d_with_mask, drop_block_backward = (
    _dropblock_api.drop_block2d_with_mask,
    _dropblock_api.drop_block3d_with_mask,
    _dropblock_api.drop_block_backward,
)
drop_block2d_with_state, drop_block3d_with_state = (
    _dropblock_api.drop_block2d_with_state,
    _dropblock_api.drop_block3d_with_state,
)
gaussian_dropout, gaussian_dropout_with_state, gaussian_dropout_backward = (
    _api.gaussian_dropout,
    _api.gaussian_dropout_with_state,
    _api.gaussian_dropout_backward,
)

__all__ = [
    "Generator",
    "default_generator",
    "philox4x32_10",
    "stream_words",
    "keep_mask",
    "dropout",
    "dropout_with_mask",
    "dropout_backward",
    "dropout_mask",
    "dropout_block",
    "dropout_block_mask",
    # the variants (README section "variants")
    "DropoutState",
    "normal_from_words",
    "gaussian_dropout_noise",
    "alpha_constants",
    "dropout_with_state",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "alpha_dropout_with_mask",
    "alpha_dropout_with_state",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "drop_block2d",
    "drop_block3d",
    "drop_block2d_with_mask",
    "drop_block3d_with_mask",
    "drop_block2d_with_state",
    "drop_block3d_with_state",
    "drop_block_backward",
    "gaussian_dropout",
    "gaussian_dropout_with_state",
    "gaussian_dropout_backward",
    "drop_path",
    "zoneout",
    "gaussian_noise",
    "dropout_apply",
]
