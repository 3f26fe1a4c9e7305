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
    def empty(self, shape: Shape, dtype: np.dtype, like: np.ndarray) -> np.ndarray: ...
    def multiply(
        self, x: np.ndarray, factor: float, out: Optional[np.ndarray]
    ) -> np.ndarray: ...  # x * dtype(factor), out or a new array

    # kernels
    def forward(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mask: Optional[np.ndarray],
        t: int,
        drop_all: bool,
        s: float,
        apply: bool,
        seed: int,
        stream: int,
        offset: int,
    ) -> None: ...
    def mask(
        self, mask: np.ndarray, n: int, t: int, drop_all: bool, seed: int, stream: int, offset: int
    ) -> None: ...
    def apply(
        self, x: np.ndarray, y: np.ndarray, mask: Optional[np.ndarray], s: float, apply: bool
    ) -> None: ...  # y = bit ? (apply ? x * s : x) : +0.0
    def broadcast_mask(self, mask: np.ndarray, noise: Shape, shape: Shape) -> np.ndarray: ...
    def apply_noise(
        self, x: np.ndarray, y: np.ndarray, mask: np.ndarray, noise: Shape, s: float, apply: bool
    ) -> None: ...  # apply, the bit of element i at its noise index
    def alpha_noise(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mask: np.ndarray,
        noise: Shape,
        a: float,
        b: float,
        c: float,
    ) -> None: ...  # alpha_apply, bits at noise indices
    def alpha_forward(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mask: np.ndarray,
        t: int,
        drop_all: bool,
        a: float,
        b: float,
        c: float,
        seed: int,
        stream: int,
        offset: int,
    ) -> None: ...  # mask of x.size words, then alpha_apply
    def alpha_apply(
        self, x: np.ndarray, y: np.ndarray, mask: Optional[np.ndarray], a: float, b: float, c: float
    ) -> None: ...  # y = bit ? x * a + b : c
    def gaussian(
        self, x: np.ndarray, y: np.ndarray, sigma: float, seed: int, stream: int, offset: int
    ) -> None: ...  # y = x * dtype(1 + sigma * z(word offset + i))
    def row_apply(
        self, x: np.ndarray, y: np.ndarray, keep: np.ndarray, rows: int, s: float, apply: bool
    ) -> None: ...  # row r (of rows equal runs) = bit r ? x (* s) : +0
    def zoneout(
        self,
        prev: np.ndarray,
        new: np.ndarray,
        y: np.ndarray,
        mask: Optional[np.ndarray],
        t: int,
        drop_all: bool,
        seed: int,
        stream: int,
        offset: int,
    ) -> None: ...  # y = word >= t ? new : prev; mask gets the bits
    def gaussian_add(
        self, x: np.ndarray, y: np.ndarray, stddev: float, seed: int, stream: int, offset: int
    ) -> None: ...  # y = x + dtype(stddev * z)
    def block_forward(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mask: Optional[np.ndarray],
        t: int,
        drop_all: bool,
        s: float,
        apply: bool,
        full_shape: Shape,
        origin: Shape,
        seed: int,
        stream: int,
        offset: int,
    ) -> None: ...
    def block_mask(
        self,
        mask: np.ndarray,
        t: int,
        drop_all: bool,
        shape: Shape,
        full_shape: Shape,
        origin: Shape,
        seed: int,
        stream: int,
        offset: int,
    ) -> None: ...

    # block element idx draws word offset + ravel_multi_index(origin + idx, full_shape)

    # permuted layouts (the contract's section 5): x and y in memory order, the C order of
    # ``x.transpose(order)`` for the logical array x; the words and masks over logical C order
    def forward_permuted(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mask: Optional[np.ndarray],
        order: Shape,
        t: int,
        drop_all: bool,
        s: float,
        apply: bool,
        seed: int,
        stream: int,
        offset: int,
    ) -> None: ...  # forward, logical element i drawing word offset + i
    def apply_permuted(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mask: Optional[np.ndarray],
        order: Shape,
        s: float,
        apply: bool,
    ) -> None: ...  # apply, the bit of an element at its logical position
    def permute_mask(
        self, mask: np.ndarray, shape: Shape, order: Shape
    ) -> np.ndarray: ...  # the mask over logical ``shape`` re-packed over its axes in ``order``
