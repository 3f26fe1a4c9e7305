"""What :class:`pydropout._pipeline.Pipeline` needs of a backend: the :class:`Backend`
protocol and the type aliases of the pipeline."""

from __future__ import annotations

from typing import Any, Optional, Protocol, Tuple

import numpy as np

Key = Optional[Tuple[int, int, int]]
Shape = Tuple[int, ...]


class Backend(Protocol):
    """What the pipeline needs of a backend (``_compiled.CompiledBackend``, over the C++
    core, and ``reference._backend.NumpyBackend``, plain NumPy).

    Arrays are native, aligned and C-contiguous, ``x``/``y`` of one shape and dtype (``y``
    may be ``x`` itself); flat element ``i`` is the i-th in C order. ``mask`` is a packed
    uint8 mask (bit ``i % 8`` of byte ``i // 8``), ``t = floor(p * 2**32)`` the keep
    threshold (element kept iff its word ``>= t``), ``drop_all`` is ``p == 1`` (no word
    compared), ``apply`` whether kept elements are multiplied by ``s``. Element ``i`` of a
    kernel that draws uses word ``offset + i`` of the stream ``(seed, stream)``.

    The kernels' parameters are named, not annotated, and each name has one type:
    ``x``, ``y``, ``prev``, ``new``: arrays; ``mask``, ``keep``: packed masks (a kernel's
    ``mask`` may be None: no bits written, or every element kept); ``noise``, ``shape``,
    ``full_shape``, ``origin``, ``order``: tuples of ints; ``t``, ``n``, ``rows``, ``seed``,
    ``stream``, ``offset``: ints; ``drop_all``, ``apply``: bools; ``s``, ``a``, ``b``,
    ``c``, ``sigma``, ``stddev``: floats. The implementations state them the same way.
    """

    default_generator: Any

    # the contract's arithmetic
    def threshold(self, p: float) -> int: ...
    def scale(self, p: float, dtype: np.dtype) -> float: ...  # dtype(1/(1-p)); 0 at p == 1
    def eval_factor(self, p: float, dtype: np.dtype) -> float: ...  # dtype(1 - p)
    def alpha_constants(self, p: float, dtype: np.dtype) -> Tuple[float, float, float]: ...
    def gaussian_sigma(self, p: float) -> float: ...  # sqrt(p / (1 - p))

    # buffers
    def contiguous(self, a: np.ndarray) -> np.ndarray: ...
    def empty(self, shape: Shape, dtype: np.dtype, like: Optional[np.ndarray]) -> np.ndarray: ...
    def multiply(
        self, x: np.ndarray, factor: float, out: Optional[np.ndarray]
    ) -> np.ndarray: ...  # x * dtype(factor), out or a new array

    # kernels: called positionally, the names keeping the convention of the docstring
    def forward(self, x, y, mask, t, drop_all, s, apply, seed, stream, offset, /) -> None: ...
    def mask(self, mask, n, t, drop_all, seed, stream, offset, /) -> None: ...
    def apply(self, x, y, mask, s, apply, /) -> None: ...  # y = bit ? (apply ? x * s : x) : +0.0
    def broadcast_mask(self, mask, noise, shape, /) -> np.ndarray: ...
    def apply_noise(self, x, y, mask, noise, s, apply, /) -> None: ...  # bits at noise indices
    def alpha_noise(self, x, y, mask, noise, a, b, c, /) -> None: ...  # alpha_apply, likewise
    # the keep bits of x.size words into mask, then alpha_apply
    def alpha_forward(self, x, y, mask, t, drop_all, a, b, c, seed, stream, offset, /) -> None: ...
    def alpha_apply(self, x, y, mask, a, b, c, /) -> None: ...  # y = bit ? x * a + b : c
    # y = x * dtype(1 + sigma * z), z the normal deviate of element i's word
    def gaussian(self, x, y, sigma, seed, stream, offset, /) -> None: ...
    def row_apply(self, x, y, keep, rows, s, apply, /) -> None: ...  # row r: bit r ? x (* s) : +0
    # y = word >= t ? new : prev; mask (or None) gets the bits
    def zoneout(self, prev, new, y, mask, t, drop_all, seed, stream, offset, /) -> None: ...
    # y = x + dtype(stddev * z)
    def gaussian_add(self, x, y, stddev, seed, stream, offset, /) -> None: ...
    # a block of a larger array: block element idx draws word
    # offset + ravel_multi_index(origin + idx, full_shape)
    def block_forward(
        self, x, y, mask, t, drop_all, s, apply, full_shape, origin, seed, stream, offset, /
    ) -> None: ...
    def block_mask(
        self, mask, t, drop_all, shape, full_shape, origin, seed, stream, offset, /
    ) -> None: ...

    # permuted layouts (the contract's section 5): x and y in memory order, the C order of
    # ``x.transpose(order)`` for the logical array x; the words and masks over logical C order
    # forward, logical element i drawing word offset + i
    def forward_permuted(
        self, x, y, mask, order, t, drop_all, s, apply, seed, stream, offset, /
    ) -> None: ...
    # apply, the bit of an element at its logical position
    def apply_permuted(self, x, y, mask, order, s, apply, /) -> None: ...
    # the mask over logical ``shape`` re-packed over its axes in ``order``
    def permute_mask(self, mask, shape, order, /) -> np.ndarray: ...
