"""The compiled backend: the pipeline's kernels and arithmetic over ``pydropout._core``.

``api: Api = Api(CompiledBackend(), home=f"{__name__}:api")`` is what ``pydropout`` exports. The backend adds the C++
fast hooks (``dropout_fast``, ``dropout_with_mask_fast``, ``backward_fast``): for the
common case (no ``out``, no noise shape, a compiled generator) they check and compute a
call in one step, and return None for anything else, which then runs the pipeline.
The block plans of the compiled path are in :mod:`pydropout._blocks`.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from . import _blocks, _checks, _spec
from ._api import Api
from ._load import core as _core

Generator = _core.Generator
Generator.__doc__ = """Generator(seed=None, *, stream=0, offset=0)

The state of a Philox4x32-10 stream: ``(seed, stream, offset)``, integers in [0, 2**64).

Word ``j`` of the stream is lane ``j % 4`` of the Philox block with counter
``(j // 4, stream)`` and key ``seed``. A call over ``n`` elements draws words
``offset .. offset + n - 1`` and advances ``offset`` by ``n``, whatever ``p`` is;
evaluation-mode calls draw nothing. ``seed=None`` seeds from the operating system's
entropy. Streams give independent sequences under one seed (one per layer, per
worker, per sample). A generator may be shared between threads: each call reserves
its words atomically, so concurrent calls draw disjoint words.

Attributes ``seed``, ``stream`` and ``offset`` are readable and writable;
``get_state()`` returns ``(seed, stream, offset)``, ``set_state(state)`` restores it,
``manual_seed(seed)`` sets the seed and rewinds the offset to 0. Generators pickle and
copy. A call whose words would pass 2**64 raises ValueError and changes nothing.

Examples
--------
>>> g = pydropout.Generator(0x0123456789ABCDEF)
>>> y = pydropout.dropout(np.ones(8, np.float32), 0.5, generator=g)
>>> g.offset
8
"""
# A compiled class has no signature that inspect can read; this is the one its
# constructor checks (stream and offset keyword-only).
_SIGNATURE = inspect.Signature(
    [
        inspect.Parameter("seed", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
        inspect.Parameter("stream", inspect.Parameter.KEYWORD_ONLY, default=0),
        inspect.Parameter("offset", inspect.Parameter.KEYWORD_ONLY, default=0),
    ]
)
setattr(Generator, "__signature__", _SIGNATURE)  # noqa: B010 (mypy: not in the stub)
_checks.register_generator(Generator)
default_generator = _core.default_generator
_checks.share_default_generator(default_generator)

# dtype codes of the C++ KernelTable
_F16, _BF16, _F32, _F64 = 0, 1, 2, 3


def _code(dt: np.dtype) -> int:
    if dt.kind == "f":
        return _F16 if dt.itemsize == 2 else (_F32 if dt.itemsize == 4 else _F64)
    return _BF16  # the only other dtype the checks let through


def _coded(kernel: Callable[..., None], at: int) -> Callable[..., None]:
    """``kernel`` with the dtype code of its first argument inserted at position ``at``."""

    def call(*args: Any) -> None:
        kernel(*args[:at], _code(args[0].dtype), *args[at:])

    call.__name__ = call.__qualname__ = kernel.__name__
    return call


class CompiledBackend:
    """The backend protocol (BACKEND.md) over the C++ kernels."""

    default_generator = default_generator
    dropout_fast = staticmethod(_core.dropout_fast)
    dropout_with_mask_fast = staticmethod(_core.dropout_with_mask_fast)
    backward_fast = staticmethod(_core.backward_fast)
    # the calls with out=, inplace, the downscale mode or a noise shape
    dropout_any_fast = staticmethod(_core.dropout_any_fast)
    backward_any_fast = staticmethod(_core.backward_any_fast)
    # a block of few, long runs of words (dropout_block, dropout_block_mask)
    block_fast = staticmethod(_core.block_fast)
    # a backward from a DropoutState; alpha dropout's forward and backward from a mask
    redraw_fast = staticmethod(_core.redraw_fast)
    alpha_any_fast = staticmethod(_core.alpha_any_fast)
    alpha_backward_fast = staticmethod(_core.alpha_backward_fast)
    gaussian_fast = staticmethod(_core.gaussian_fast)
    mask_fast = staticmethod(_core.mask_fast)
    gaussian_backward_fast = staticmethod(_core.gaussian_backward_fast)

    threshold = staticmethod(_spec.threshold)
    scale = staticmethod(_spec.scale)
    eval_factor = staticmethod(_spec.eval_factor)
    alpha_constants = staticmethod(_spec.alpha_constants)
    gaussian_sigma = staticmethod(_spec.gaussian_sigma)

    # -- buffers -------------------------------------------------------------------------------
    @staticmethod
    def contiguous(a: np.ndarray) -> np.ndarray:
        if a.dtype.byteorder not in ("=", "|") and not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        if a.flags.c_contiguous and a.flags.aligned:
            return a
        return np.array(a, order="C", copy=True)

    @staticmethod
    def empty(
        shape: Tuple[int, ...], dtype: np.dtype, like: Optional[np.ndarray] = None
    ) -> np.ndarray:
        # large outputs start at `like`'s offset within a cache line (see pyarrays.hpp)
        return _core.empty(list(shape), np.dtype(dtype), like)

    @staticmethod
    def multiply(x: np.ndarray, factor: float, out: Optional[np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            y = np.multiply(x, np.array(factor, dtype=x.dtype), out=out)
        return y if out is not None else np.asarray(y)  # a 0-d array stays an array

    # -- kernels -------------------------------------------------------------------------------
    # the core's kernels with the dtype code of their first array inserted at ``at``; here
    # as in ``_pipeline_backend.Backend``, the kernels' parameters are named, not annotated
    forward = staticmethod(_coded(_core.forward, 3))
    mask = staticmethod(_core.mask)
    apply = staticmethod(_coded(_core.apply, 3))
    alpha_forward = staticmethod(_coded(_core.alpha_forward, 3))
    alpha_apply = staticmethod(_coded(_core.alpha_apply, 3))
    gaussian = staticmethod(_coded(_core.gaussian, 2))
    row_apply = staticmethod(_coded(_core.row_apply, 3))
    zoneout = staticmethod(_coded(_core.zoneout, 4))
    gaussian_add = staticmethod(_coded(_core.gaussian_add, 2))

    @staticmethod
    def broadcast_mask(mask, noise, shape) -> np.ndarray:
        bits = np.unpackbits(mask, count=math.prod(noise), bitorder="little").reshape(noise)
        return np.packbits(np.broadcast_to(bits, shape), bitorder="little")

    @staticmethod
    def apply_noise(x, y, mask, noise, s, apply) -> None:
        _core.apply_noise(x, y, mask, _code(x.dtype), list(noise), s, apply)

    @staticmethod
    def alpha_noise(x, y, mask, noise, a, b, c) -> None:
        _core.alpha_noise(x, y, mask, _code(x.dtype), list(noise), a, b, c)

    # a block of a larger array, over the compiled path's plans (_blocks)
    @staticmethod
    def block_forward(x, y, mask, t, drop_all, s, apply, full_shape, origin, *key) -> None:
        layout = _blocks.Layout(x.shape, full_shape, origin)
        _blocks.block_forward(x, y, mask, _code(x.dtype), t, drop_all, s, apply, layout, *key)

    @staticmethod
    def block_mask(mask, t, drop_all, shape, full_shape, origin, *key) -> None:
        _blocks.block_mask(mask, t, drop_all, _blocks.Layout(shape, full_shape, origin), *key)

    # -- permuted layouts: x and y in memory order, the words and masks in logical order ---
    forward_permuted = staticmethod(_coded(_core.forward_permuted, 3))
    apply_permuted = staticmethod(_coded(_core.apply_permuted, 3))
    permute_mask = staticmethod(_core.permute_mask)


api: Api = Api(CompiledBackend(), home=f"{__name__}:api")


# -- the machine: facts of the compiled core, not operators ---------------------------------


def simd_level() -> str:
    """The SIMD level in use: ``"avx512"``, ``"avx2"``, ``"neon"`` or ``"scalar"``."""
    return _core.simd_level()


def supported_simd_levels() -> List[str]:
    """Every SIMD level this CPU can run, lowest first."""
    return list(_core.supported_simd_levels())


def set_num_threads(n: int) -> None:
    """Threads used for large arrays (small ones always stay on the calling thread).

    ``n`` is an int in ``[1, max(256, 4 * os.cpu_count())]``; anything else raises
    ValueError (TypeError for a non-int) and changes nothing.
    """
    _core.set_num_threads(_checks.check_num_threads(n))


def get_num_threads() -> int:
    """Threads used for large arrays (``PYDROPOUT_NUM_THREADS``, else OpenMP's default)."""
    return _core.get_num_threads()
