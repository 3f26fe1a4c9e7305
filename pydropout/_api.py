"""The public functions, each written once: signature, annotations, docstring.

:class:`Api` binds them to a backend: ``pydropout`` is ``Api(CompiledBackend())``
(:mod:`pydropout._compiled`, over the C++ core) and ``pydropout.reference`` is
``Api(NumpyBackend())`` (plain NumPy). A method checks nothing itself: it takes the
optional fast hook of its backend for the common case, else runs the one call pipeline
(:mod:`pydropout._pipeline`), which checks, draws and writes.

The runtime signatures keep the plain form docs/CONTRACT.md gives (``help()`` and
``inspect.signature`` show no annotations); the annotations are for type checkers.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Optional, Protocol, Sequence, Tuple, Union

from numpy.typing import ArrayLike

from . import _checks as ck
from ._api_modern import Array, GeneratorLike, ModernApi
from ._api_variants import NoiseShape, VariantsApi
from ._checks import DOWNSCALE, UPSCALE
from ._pipeline import Backend, Pipeline
from ._state import DropoutState

_TWO32 = 4294967296.0

ShapeLike = Union[int, Sequence[int]]

_CHANNEL_DOC = """Channel dropout ({k}-d): zero whole channels with probability ``p``.

    Like ``torch.nn.functional.dropout{k}d``: ``x`` is ``(N, C, {sp})`` or, without a
    batch, ``(C, {sp})``; with ``channels_last=True`` ``(N, {sp}, C)`` or ``({sp}, C)``
    (Keras SpatialDropout, MLX). The mask is drawn over the noise shape ``(N, C, {ones})``
    (``(C, {ones})`` unbatched), consuming ``N * C`` words, so each channel is kept and
    scaled by ``dtype(1 / (1 - p))`` or zeroed as a whole. An unbatched input gives the
    result of the batched one with ``N = 1``. Any other rank raises ValueError (torch
    warns instead, and reads a 3-D input of ``dropout2d`` as ``(N, C, L)``).

    This is ``pydropout.dropout(x, p, training, inplace, noise_shape=...)``; evaluation
    returns ``x`` itself. The backward is ``dropout_backward(grad, mask, p,
    noise_shape=(N, C, {ones}))`` or use :class:`Dropout{k}d`.
    """


def _no_fast(*args: Any) -> None:
    """The fast hook of a backend that has none: every call runs the pipeline."""
    return None


class _ChannelOp(Protocol):
    """The signature of ``Api.dropout1d``, ``dropout2d`` and ``dropout3d`` (bound)."""

    def __call__(
        self,
        x: ArrayLike,
        p: float = 0.5,
        training: bool = True,
        inplace: bool = False,
        *,
        channels_last: bool = False,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Array: ...


def _channel_op(spatial: int, sp: str, ones: str) -> Callable[..., Array]:
    """``Api.dropout{spatial}d``: the channel dropout over ``spatial`` dimensions."""
    name = f"dropout{spatial}d"

    def op(
        self,
        x,
        p=0.5,
        training=True,
        inplace=False,
        *,
        channels_last=False,
        generator=None,
        out=None,
    ):
        return self._channel(x, p, training, inplace, spatial, channels_last, generator, out, name)

    op.__name__ = name
    op.__qualname__ = f"Api.{name}"
    op.__doc__ = _CHANNEL_DOC.format(k=spatial, sp=sp, ones=ones)
    return op


class Api(VariantsApi, ModernApi):
    """The public functions over one backend (see the module docstring); alpha and Gaussian
    dropout come from :class:`~pydropout._api_variants.VariantsApi`, the variants of
    modern networks from :class:`~pydropout._api_modern.ModernApi`."""

    def __init__(self, backend: Backend, home: Optional[str] = None):
        self.home = home  # "module:attribute" where this instance is published
        self.backend = backend
        self.pipeline = Pipeline(backend)
        self.default_generator = backend.default_generator
        # optional fast hooks of the backend for the common case: each returns None when
        # the call is not one it handles, and the pipeline then runs
        self._fast_dropout: Callable[..., Any] = getattr(backend, "dropout_fast", _no_fast)
        self._fast_with_mask: Callable[..., Any] = getattr(
            backend, "dropout_with_mask_fast", _no_fast
        )
        self._fast_backward: Callable[..., Any] = getattr(backend, "backward_fast", _no_fast)
        self._fast_any: Callable[..., Any] = getattr(backend, "dropout_any_fast", _no_fast)
        self._fast_backward_any: Callable[..., Any] = getattr(
            backend, "backward_any_fast", _no_fast
        )

    def __repr__(self) -> str:
        return f"<pydropout API over {type(self.backend).__name__}>"

    def __reduce__(self) -> Any:
        # the published instance, by name (as a pickled function is), never a copy of it
        # with a copy of its default generator
        if self.home is None:
            raise TypeError("an Api that is not published in a module cannot be pickled")
        return (_published, (self.home,))

    # -- dropout ---------------------------------------------------------------------------
    def dropout(
        self,
        x: ArrayLike,
        p: float = 0.5,
        training: bool = True,
        inplace: bool = False,
        *,
        mode: str = UPSCALE,
        noise_shape: NoiseShape = None,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Array:
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
        if not training:
            return self.pipeline.dropout_eval(x, p, inplace, mode, noise_shape, generator, out)
        # the backend's hook of the common case, its general hook, else the pipeline
        if out is None and noise_shape is None and mode == UPSCALE and not inplace:
            fast = self._fast_dropout  # (a local: an attribute load, not a method look-up)
            y = fast(x, p, generator)
        elif mode == UPSCALE or mode == DOWNSCALE:
            fast = self._fast_any  # out=, inplace, downscale, a noise shape
            y = fast(x, p, generator, out, inplace, mode == UPSCALE, noise_shape, False)
        else:
            y = None
        if y is not None:
            return y
        return self._train(x, p, inplace, mode, noise_shape, generator, out, None)[0]

    def dropout_with_mask(
        self,
        x: ArrayLike,
        p: float = 0.5,
        *,
        mode: str = UPSCALE,
        noise_shape: NoiseShape = None,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Tuple[Array, Array]:
        """Training-mode :func:`dropout` that also returns the packed mask.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            The output and a 1-D ``uint8`` mask of ``ceil(n / 8)`` bytes: bit ``i % 8``
            (least significant first) of byte ``i // 8`` is 1 where element ``i`` was kept.
            With a ``noise_shape`` the mask indexes that shape. Unpack it with
            ``numpy.unpackbits(mask, count=n, bitorder="little")``.
        """
        if mode == UPSCALE or mode == DOWNSCALE:  # a hook of the backend, else the pipeline
            if out is None and noise_shape is None:
                fast = self._fast_with_mask
                r = fast(x, p, generator, mode == UPSCALE)
            else:
                fast = self._fast_any  # out=, a noise shape
                r = fast(x, p, generator, out, False, mode == UPSCALE, noise_shape, True)
            if r is not None:
                return r
        return self._train(x, p, False, mode, noise_shape, generator, out, "mask")

    def dropout_with_state(
        self,
        x: ArrayLike,
        p: float = 0.5,
        *,
        mode: str = UPSCALE,
        noise_shape: NoiseShape = None,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Tuple[Array, DropoutState]:
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
        return self._train(x, p, False, mode, noise_shape, generator, out, "state")

    def _train(self, x, p, inplace, mode, shape, gen, out, keep) -> Tuple[Array, Any]:
        """The pipeline's training forward, ``(y, token)`` (the token by ``keep``: None, the
        mask or the state): the calls of :meth:`dropout` and its ``_with_*`` forms that no fast
        hook took, and the in-place forward of the layers."""
        return self.pipeline.dropout_train(
            x, p, inplace=inplace, mode=mode, noise_shape=shape, generator=gen, out=out, keep=keep
        )

    def dropout_backward(
        self,
        grad: ArrayLike,
        mask: Union[Array, DropoutState],
        p: float,
        *,
        mode: str = UPSCALE,
        noise_shape: NoiseShape = None,
        out: Optional[Array] = None,
    ) -> Array:
        """Gradient of dropout: ``grad * dtype(1 / (1 - p))`` where kept, ``+0.0`` where dropped.

        ``mask`` is the packed mask of the forward pass (never a fresh draw), or the
        :class:`DropoutState` returned by :func:`dropout_with_state`, from which the same keep
        decisions are drawn again (same result, bit for bit). With
        ``mode="downscale_in_infer"`` kept gradients pass unscaled. ``mode``, ``p`` and
        ``noise_shape`` must be those of the forward pass; with a state a mismatch raises
        ValueError and ``noise_shape`` may be left out. A :class:`Generator` in place of the
        mask raises TypeError: a backward never draws fresh randomness.
        """
        if mode == UPSCALE or mode == DOWNSCALE:
            if out is None and noise_shape is None:
                fast = self._fast_backward
                dx = fast(grad, mask, p, mode == UPSCALE)
            else:
                fast = self._fast_backward_any  # out=, a noise shape
                dx = fast(grad, mask, p, mode == UPSCALE, out, noise_shape)
            if dx is not None:
                return dx
        return self.pipeline.dropout_backward(
            grad, mask, p, mode=mode, noise_shape=noise_shape, out=out
        )

    def dropout_mask(self, shape: ShapeLike, p: float, *, generator: GeneratorLike = None) -> Array:
        """Only the packed keep mask of ``prod(shape)`` elements (consumes that many words)."""
        return self.pipeline.dropout_mask(shape, p, generator=generator)

    def effective_p(self, p: float) -> float:
        """The drop probability actually used for ``p``: t / 2**32 (1.0 for p == 1)."""
        p = ck.check_p(p)
        if p == 1.0:
            return 1.0
        return self.backend.threshold(p) / _TWO32

    def manual_seed(self, seed: int) -> Any:
        """Reseed ``pydropout.default_generator``: seed ``seed``, stream 0, offset 0."""
        self.default_generator.set_state((seed, 0, 0))
        return self.default_generator

    # -- blocks ----------------------------------------------------------------------------
    def dropout_block(
        self,
        x_block: ArrayLike,
        p: float,
        *,
        full_shape: Sequence[int],
        origin: Sequence[int],
        seed: int,
        stream: int = 0,
        offset: int = 0,
        training: bool = True,
        mode: str = UPSCALE,
        out: Optional[Array] = None,
        return_mask: bool = False,
    ) -> Union[Array, Tuple[Array, Array]]:
        """Dropout of one block of a larger logical array, keyed by its place in the whole.

        Block element ``idx`` draws word ``offset + ravel_multi_index(origin + idx,
        full_shape)`` of the stream ``(seed, stream)``. Cutting an array into blocks in any
        way and dropping each block with this function gives exactly
        ``pydropout.dropout(full, p, generator=Generator(seed, stream=stream, offset=offset))``,
        whichever machine computes which block. The full array never needs to exist.

        Parameters
        ----------
        x_block : array_like of float16, float32, float64 (or ml_dtypes.bfloat16)
            The block, with as many dimensions as ``full_shape``; any memory layout.
        p : float
            Drop probability in [0, 1] (the keep rule of :func:`pydropout.dropout`).
        full_shape : tuple of int
            Shape of the logical array the block belongs to.
        origin : tuple of int
            Index in the full array of the block's first element; the block must fit:
            ``origin[i] + x_block.shape[i] <= full_shape[i]``.
        seed, stream, offset : int
            Generator state of the whole array, each in [0, 2**64); ``offset +
            prod(full_shape)`` must not pass 2**64. Take them from
            ``generator._reserve(prod(full_shape))`` or ``generator.get_state()`` (then
            advance the generator yourself) so that later calls draw fresh words.
        training : bool
            Evaluation mode draws nothing, exactly as :func:`pydropout.dropout`.
        mode : {"upscale_in_train", "downscale_in_infer"}
            Scaling convention (see :func:`pydropout.dropout`).
        out : ndarray, optional
            Destination with the block's shape and dtype.
        return_mask : bool
            Also return the block's packed keep mask (bit ``i`` is block element ``i`` in
            C order), as :func:`pydropout.dropout_with_mask` does for a whole array.

        Returns
        -------
        numpy.ndarray, or (numpy.ndarray, numpy.ndarray) with ``return_mask=True``

        Raises
        ------
        TypeError
            An unsupported dtype; a non-integer seed, stream, offset, origin or full_shape.
        ValueError
            ``p`` outside [0, 1], an unknown mode, a block whose rank differs from
            ``full_shape``'s or that does not fit at ``origin``, a seed/stream/offset outside
            [0, 2**64) or an offset whose words would pass 2**64, a bad ``out``.

        Examples
        --------
        >>> import numpy as np, pydropout
        >>> x = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
        >>> whole = pydropout.dropout(x, 0.5, generator=pydropout.Generator(7))
        >>> right = pydropout.dropout_block(x[:, 2:], 0.5, full_shape=(3, 4), origin=(0, 2), seed=7)
        >>> bool((right == whole[:, 2:]).all())
        True
        """
        # where the block sits in the whole and the stream of the whole
        place = dict(full_shape=full_shape, origin=origin, seed=seed, stream=stream, offset=offset)
        return self.pipeline.dropout_block(
            x_block, p, training=training, mode=mode, out=out, return_mask=return_mask, **place
        )

    def dropout_block_mask(
        self,
        shape: ShapeLike,
        p: float,
        *,
        full_shape: Sequence[int],
        origin: Sequence[int],
        seed: int,
        stream: int = 0,
        offset: int = 0,
    ) -> Array:
        """Only the packed keep mask of a block of ``shape`` at ``origin`` of ``full_shape``.

        The bits :func:`dropout_block` would keep (bit ``i`` is block element ``i`` in C order;
        ``ceil(prod(shape) / 8)`` bytes), as :func:`pydropout.dropout_mask` is for a whole array.
        """
        return self.pipeline.dropout_block_mask(
            shape, p, full_shape=full_shape, origin=origin, seed=seed, stream=stream, offset=offset
        )

    # -- channel dropout -------------------------------------------------------------------
    def _channel(
        self,
        x: ArrayLike,
        p: float,
        training: bool,
        inplace: bool,
        spatial: int,
        channels_last: bool,
        generator: GeneratorLike,
        out: Optional[Array],
        name: str,
    ) -> Array:
        shape = ck.as_float_array(x).shape
        noise = ck.channel_noise_shape(shape, spatial, bool(channels_last), name)
        return self.dropout(
            x, p, training, inplace, noise_shape=noise, generator=generator, out=out
        )

    dropout1d: _ChannelOp = _channel_op(1, "L", "1")
    dropout2d: _ChannelOp = _channel_op(2, "H, W", "1, 1")
    dropout3d: _ChannelOp = _channel_op(3, "D, H, W", "1, 1, 1")


def _published(home: str) -> Api:
    module, _, attr = home.partition(":")
    api = getattr(importlib.import_module(module), attr)
    assert isinstance(api, Api)
    return api


def _plain_signature(f: Callable[..., Any]) -> None:
    """Show ``f``'s signature without annotations at runtime, as docs/CONTRACT.md writes it."""
    sig = inspect.signature(f)
    params = [q.replace(annotation=inspect.Parameter.empty) for q in sig.parameters.values()]
    plain = sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
    setattr(f, "__signature__", plain)  # noqa: B010 (mypy: functions have no such attribute)


for _cls in Api.__mro__:  # every public function of Api and its bases
    for _name, _f in list(vars(_cls).items()):
        if not _name.startswith("_") and inspect.isfunction(_f):
            _plain_signature(_f)
