"""The public functions over the compiled core: validation, defaults, docstrings."""

from __future__ import annotations

import inspect

import numpy as np

from . import _common, _core
from ._common import DOWNSCALE, UPSCALE
from ._state import DropoutState

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
setattr(Generator, "__signature__", inspect.Signature([
    inspect.Parameter("seed", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
    inspect.Parameter("stream", inspect.Parameter.KEYWORD_ONLY, default=0),
    inspect.Parameter("offset", inspect.Parameter.KEYWORD_ONLY, default=0),
]))
default_generator = _core.default_generator
_fast = _core.dropout_fast
_fast_with_mask = _core.dropout_with_mask_fast
_fast_backward = _core.backward_fast


class _CoreBackend:
    forward = staticmethod(_core.forward)
    mask = staticmethod(_core.mask)
    apply = staticmethod(_core.apply)

    @staticmethod
    def empty(shape, dtype, like=None):
        # large outputs start at `like`'s offset within a cache line (see pyarrays.hpp)
        return _core.empty(list(shape), np.dtype(dtype), like)


_front = _common.Frontend(_CoreBackend(), Generator, default_generator)


def dropout(x, p=0.5, training=True, inplace=False, *, mode=UPSCALE, noise_shape=None,
            generator=None, out=None):
    """Randomly zero elements of ``x`` with probability ``p``.

    Parameters
    ----------
    x : array_like of float16, float32, float64 (or ml_dtypes.bfloat16)
        Input of any shape and memory layout. Element ``i`` is the i-th element in
        logical C order, whatever the strides.
    p : float
        Drop probability in [0, 1]. An element is kept when its 32-bit Philox word is
        ``>= floor(p * 2**32)``; ``p == 1`` drops everything.
    training : bool
        In evaluation mode nothing is drawn: ``"upscale_in_train"`` returns ``x``
        itself, ``"downscale_in_infer"`` returns ``x * dtype(1 - p)``.
    inplace : bool
        Write the result into ``x`` (which must be a writeable ndarray) and return it.
    mode : {"upscale_in_train", "downscale_in_infer"}
        ``"upscale_in_train"`` (torch.nn.Dropout) multiplies kept elements by
        ``dtype(1 / (1 - p))``; ``"downscale_in_infer"`` (Srivastava et al. 2014) keeps
        them as they are and scales by ``1 - p`` at evaluation.
    noise_shape : tuple of int, optional
        Draw the mask over this shape (broadcastable to ``x.shape``; ``None`` entries
        take x's dimension) and broadcast it, as Keras does.
    generator : pydropout.Generator, optional
        Source of the words; ``pydropout.default_generator`` when None. The call
        consumes ``x.size`` words (``prod(noise_shape)`` with a noise shape).
    out : ndarray, optional
        Destination with x's shape and dtype; may be a strided view.

    Returns
    -------
    numpy.ndarray
        Dropped elements are exactly ``+0.0`` (also where ``x`` is NaN or inf).

    Raises
    ------
    TypeError
        ``x`` is not array-like or has another dtype; ``generator`` is not a Generator.
    ValueError
        ``p`` outside [0, 1] or NaN, an unknown ``mode``, ``out`` of another shape or
        dtype or read-only, ``inplace=True`` on a read-only array, a ``noise_shape``
        that does not broadcast. Nothing is changed when a call fails.

    Examples
    --------
    >>> import numpy as np, pydropout
    >>> x = np.arange(1, 9, dtype=np.float32)
    >>> pydropout.dropout(x, 0.5, generator=pydropout.Generator(0x0123456789ABCDEF))
    array([ 2.,  4.,  0.,  0., 10.,  0.,  0., 16.], dtype=float32)
    """
    if training and out is None and noise_shape is None and mode == UPSCALE and not inplace:
        y = _fast(x, p, generator)
        if y is not None:
            return y
    return _front.dropout(x, p, training, inplace, mode=mode, noise_shape=noise_shape,
                          generator=generator, out=out)


def dropout_with_mask(x, p=0.5, *, mode=UPSCALE, noise_shape=None, generator=None, out=None):
    """Training-mode :func:`dropout` that also returns the packed mask.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The output and a 1-D ``uint8`` mask of ``ceil(n / 8)`` bytes: bit ``i % 8``
        (least significant first) of byte ``i // 8`` is 1 where element ``i`` was kept.
        With a ``noise_shape`` the mask indexes that shape. Unpack it with
        ``numpy.unpackbits(mask, count=n, bitorder="little")``.
    """
    if out is None and noise_shape is None and (mode == UPSCALE or mode == DOWNSCALE):
        r = _fast_with_mask(x, p, generator, mode == UPSCALE)
        if r is not None:
            return r
    return _front.dropout_with_mask(x, p, mode=mode, noise_shape=noise_shape,
                                    generator=generator, out=out)


def dropout_with_state(x, p=0.5, *, mode=UPSCALE, noise_shape=None, generator=None, out=None):
    """Training-mode :func:`dropout` that returns a :class:`DropoutState` instead of a mask.

    The state is the generator state the call started from plus its shape, ``p``, mode and
    noise shape: a few bytes, immutable and hashable. :func:`dropout_backward` accepts it
    in place of the mask and draws the same words again (one fused pass over the
    gradient), giving bit for bit the gradient the mask would give.

    Returns
    -------
    (numpy.ndarray, DropoutState)

    Examples
    --------
    >>> import numpy as np, pydropout
    >>> x = np.arange(1, 9, dtype=np.float32)
    >>> y, state = pydropout.dropout_with_state(x, 0.5, generator=pydropout.Generator(7))
    >>> dx = pydropout.dropout_backward(np.ones_like(x), state, 0.5)
    >>> bool(np.array_equal(dx != 0, y != 0))
    True
    """
    return _front.dropout_with_state(x, p, mode=mode, noise_shape=noise_shape,
                                     generator=generator, out=out)


def dropout_backward(grad, mask, p, *, mode=UPSCALE, noise_shape=None, out=None):
    """Gradient of dropout: ``grad * dtype(1 / (1 - p))`` where kept, ``+0.0`` where dropped.

    ``mask`` is the packed mask of the forward pass (never a fresh draw), or the
    :class:`DropoutState` returned by :func:`dropout_with_state`, from which the same keep
    decisions are drawn again (same result, bit for bit). With
    ``mode="downscale_in_infer"`` kept gradients pass unscaled. ``mode``, ``p`` and
    ``noise_shape`` must be those of the forward pass; with a state a mismatch raises
    ValueError and ``noise_shape`` may be left out. A :class:`Generator` in place of the
    mask raises TypeError: a backward never draws fresh randomness.
    """
    if out is None and noise_shape is None and (mode == UPSCALE or mode == DOWNSCALE):
        dx = _fast_backward(grad, mask, p, mode == UPSCALE)
        if dx is not None:
            return dx
    return _front.dropout_backward(grad, mask, p, mode=mode, noise_shape=noise_shape, out=out)


def dropout_mask(shape, p, *, generator=None):
    """Only the packed keep mask of ``prod(shape)`` elements (consumes that many words)."""
    return _front.dropout_mask(shape, p, generator=generator)


def manual_seed(seed):
    """Reseed ``pydropout.default_generator``: seed ``seed``, stream 0, offset 0."""
    default_generator.set_state((seed, 0, 0))
    return default_generator


def simd_level() -> str:
    """The SIMD level in use: ``"avx512"``, ``"avx2"``, ``"neon"`` or ``"scalar"``."""
    return _core.simd_level()


def supported_simd_levels() -> list:
    """Every SIMD level this CPU can run, lowest first."""
    return list(_core.supported_simd_levels())


def set_num_threads(n) -> None:
    """Threads used for large arrays (small ones always stay on the calling thread)."""
    if isinstance(n, (bool, float)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if not 1 <= n < 2**31:
        raise ValueError(f"n must be in [1, 2**31), got {n}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads used for large arrays (``PYDROPOUT_NUM_THREADS``, else OpenMP's default)."""
    return _core.get_num_threads()


class _Layer:
    """What every dropout layer shares: ``p``, ``training``, ``train``/``eval``, ``repr``."""

    _default_save = "mask"

    def __init__(self, p, inplace, generator, save):
        self.p = p
        self.inplace = bool(inplace)
        self.generator = _common.check_generator(generator, None, Generator)
        self.save = _common.check_save(save)
        self.training = True
        self._saved = None  # the packed mask or the DropoutState of the last training forward
        self._shape = None
        self._p_forward = None

    @property
    def p(self) -> float:
        return self._p

    @p.setter
    def p(self, value) -> None:
        self._check_p(value)
        self._p = value

    _check_p = staticmethod(_common.check_p)

    @property
    def effective_p(self) -> float:
        """The drop probability actually used: ``t / 2**32`` (see :func:`effective_p`)."""
        return _common.effective_p(self.p)

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        return self.forward(x)

    def _remember(self, saved, shape, p) -> None:
        self._saved, self._shape, self._p_forward = saved, shape, p

    def _grad_for_backward(self, grad):
        if self._saved is None:
            raise RuntimeError("backward() needs a forward() in training mode first")
        g = _common.as_float_array(grad, "grad")
        if g.shape != self._shape:
            raise ValueError(f"grad has shape {g.shape}, the last forward had {self._shape}")
        return grad

    def extra_repr(self) -> str:
        s = f"p={self.p}, inplace={self.inplace}"
        if self.save != self._default_save:
            s += f", save={self.save!r}"
        return s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Dropout(_Layer):
    """Dropout layer, like ``torch.nn.Dropout``, over NumPy arrays, with a backward pass.

    Parameters
    ----------
    p : float
        Drop probability in [0, 1].
    inplace : bool
        Forward writes into its input.
    mode : {"upscale_in_train", "downscale_in_infer"}
        Scaling convention (see :func:`dropout`).
    generator : pydropout.Generator, optional
        Source of randomness; the default generator when None.
    save : {"mask", "state"}
        What a training forward keeps for ``backward``: the packed mask (``n / 8``
        bytes), or a :class:`DropoutState` (a few bytes) from which ``backward`` draws
        the same keep decisions again. Both give the same gradient, bit for bit.

    ``forward`` (or calling the layer) in training mode keeps the mask or state;
    ``backward(grad)`` applies the one of the last training forward (with its ``p``).
    ``effective_p`` is the drop probability actually used.
    """

    def __init__(self, p=0.5, inplace=False, *, mode=UPSCALE, generator=None, save="mask"):
        super().__init__(p, inplace, generator, save)
        self.mode = _common.check_mode(mode)
        self._noise = None

    def _noise_shape(self, x):
        """The shape the mask is drawn over (None: x's shape); channel dropout overrides it."""
        return None

    def forward(self, x):
        noise = self._noise_shape(x)
        if not self.training:
            return dropout(x, self.p, False, self.inplace, mode=self.mode, noise_shape=noise)
        state = self.save == "state"
        if noise is None and not state and not self.inplace:
            fast = _fast_with_mask(x, self.p, self.generator, self.mode == UPSCALE)
            if fast is not None:
                self._remember(fast[1], fast[0].shape, self.p)
                self._noise = None
                return fast[0]
        r = _front._run(x, self.p, inplace=self.inplace, mode=self.mode, noise_shape=noise,
                        generator=self.generator, out=None, want_mask=not state,
                        want_state=state)
        y = r[0]
        self._remember(r[2] if state else r[1], y.shape, self.p)
        self._noise = noise
        return y

    def backward(self, grad):
        """Gradient with respect to the input of the last training forward."""
        grad = self._grad_for_backward(grad)
        return dropout_backward(grad, self._saved, self._p_forward, mode=self.mode,
                                noise_shape=self._noise)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.mode != UPSCALE:
            s += f", mode={self.mode!r}"
        return s


__all__ = [
    "DOWNSCALE",
    "UPSCALE",
    "Dropout",
    "DropoutState",
    "Generator",
    "default_generator",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "dropout_with_mask",
    "dropout_with_state",
    "get_num_threads",
    "manual_seed",
    "set_num_threads",
    "simd_level",
    "supported_simd_levels",
]
