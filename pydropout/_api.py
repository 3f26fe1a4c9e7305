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
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _checks as ck
from . import _pipeline_modern as pm
from ._api_blocks import Array, BlocksApi, GeneratorLike, NoiseShape, ShapeLike
from ._api_channels import channel_op
from ._checks import DOWNSCALE, UPSCALE
from ._pipeline import Backend, Pipeline
from ._state import DropoutState
from ._twins import twin

_TWO32 = 4294967296.0


def _no_fast(*args: Any) -> None:
    """The fast hook of a backend that has none: every call runs the pipeline."""
    return None


class Api(BlocksApi):
    """The public functions over one backend (see the module docstring); the blocks' come
    from :class:`~pydropout._api_blocks.BlocksApi` and DropBlock's from
    :class:`~pydropout._dropblock.DropBlockApi` (bound beside it)."""

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
        self._fast_block = getattr(backend, "block_fast", _no_fast)
        self._fast_redraw: Callable[..., Any] = getattr(backend, "redraw_fast", _no_fast)
        self._fast_alpha: Callable[..., Any] = getattr(backend, "alpha_any_fast", _no_fast)
        self._fast_gaussian: Callable[..., Any] = getattr(backend, "gaussian_fast", _no_fast)
        self._fast_mask: Callable[..., Any] = getattr(backend, "mask_fast", _no_fast)
        self._fast_gaussian_backward: Callable[..., Any] = getattr(
            backend, "gaussian_backward_fast", _no_fast
        )
        self._fast_alpha_backward: Callable[..., Any] = getattr(
            backend, "alpha_backward_fast", _no_fast
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
            y = fast(x, p, generator, out, inplace, mode == UPSCALE, noise_shape, 0)
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
                r = fast(x, p, generator, out, False, mode == UPSCALE, noise_shape, 1)
            if r is not None:
                return r
        return self._train(x, p, False, mode, noise_shape, generator, out, "mask")

    def _state_train(self, x, p, mode, noise_shape, generator, out) -> Tuple[Array, Any]:
        """:func:`dropout_with_state`: the backend's hook (then the state is built here), else
        the pipeline."""
        if mode == UPSCALE or mode == DOWNSCALE:
            r = self._fast_any(x, p, generator, out, False, mode == UPSCALE, noise_shape, 2)
            if r is not None:
                y, seed, stream, offset = r
                return y, DropoutState._trusted(
                    seed, stream, offset, y.shape, float(p), mode, None, "dropout"
                )
        return self._train(x, p, False, mode, noise_shape, generator, out, "state")

    dropout_with_state: Callable[..., Tuple[Array, DropoutState]] = twin(
        dropout_with_mask,
        lambda self, x, p=0.5, *, mode=UPSCALE, noise_shape=None, generator=None, out=None: (
            self._state_train(x, p, mode, noise_shape, generator, out)
        ),
        "dropout_with_state",
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
        """,
        "Tuple[Array, DropoutState]",
    )

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
        if type(mask) is not DropoutState and (mode == UPSCALE or mode == DOWNSCALE):
            if out is None and noise_shape is None:  # the common case's own hook
                fast = self._fast_backward
                dx = fast(grad, mask, p, mode == UPSCALE)
            else:
                fast = self._fast_backward_any  # out=, a noise shape
                dx = fast(grad, mask, p, mode == UPSCALE, out, noise_shape)
            if dx is not None:
                return dx
        return self._apply_mask(grad, mask, p, mode, noise_shape, out, "grad")

    def _apply_mask(self, x, mask, p, mode, noise_shape, out, name):
        """A mask (or a state's words drawn again) applied to ``x``: the general hooks, else
        the pipeline, whose errors name the array ``name``."""
        if mode == UPSCALE or mode == DOWNSCALE:
            if type(mask) is DropoutState:  # the forward's words drawn again
                dx = None
                if out is None and noise_shape is None:
                    dx = self._fast_redraw(x, mask._fields, p, mode == UPSCALE, False)
            else:  # out=, a noise shape
                dx = self._fast_backward_any(x, mask, p, mode == UPSCALE, out, noise_shape)
            if dx is not None:
                return dx
        return self.pipeline.dropout_backward(
            x, mask, p, mode=mode, noise_shape=noise_shape, out=out, name=name
        )

    dropout_apply: Callable[..., Array] = twin(
        dropout_backward,
        lambda self, x, mask_or_state, p, *, mode=UPSCALE, noise_shape=None, out=None: (
            self._apply_mask(x, mask_or_state, p, mode, noise_shape, out, "x")
        ),
        "dropout_apply",
        """The dropout forward with a given mask (or :class:`DropoutState`) instead of a draw.

        Bit for bit ``dropout_backward(x, mask_or_state, p, mode=mode,
        noise_shape=noise_shape)``: kept elements ``x * dtype(1 / (1 - p))`` (``x`` in
        ``"downscale_in_infer"``), dropped ones ``+0.0``. Consumes nothing: the same mask
        applied at every time step gives locked (variational) RNN dropout, and a mask keyed
        by a sample's index gives Monte Carlo dropout that does not depend on the batch.
        """,
    )

    def dropout_mask(self, shape: ShapeLike, p: float, *, generator: GeneratorLike = None) -> Array:
        """Only the packed keep mask of ``prod(shape)`` elements (consumes that many words)."""
        mask = self._fast_mask(shape, p, generator)
        if mask is not None:
            return mask
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

    dropout1d: Callable[..., Array] = channel_op(1, "L", "1")
    dropout2d: Callable[..., Array] = channel_op(2, "H, W", "1, 1")
    dropout3d: Callable[..., Array] = channel_op(3, "D, H, W", "1, 1, 1")

    # -- alpha dropout ---------------------------------------------------------------------
    def alpha_dropout(
        self,
        x: ArrayLike,
        p: float = 0.5,
        training: bool = False,
        inplace: bool = False,
        *,
        noise_shape: NoiseShape = None,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Array:
        """Alpha dropout (Klambauer et al. 2017), for SELU networks: keeps mean and variance.

        Element ``i`` is kept when its word is ``>= floor(p * 2**32)``, as in :func:`dropout`.
        With torch's constants (``ALPHA = 1.7580993408473766``, alpha' = -ALPHA), computed in
        float64 and rounded to the dtype (16-bit types via float32)::

            a = 1 / sqrt((ALPHA**2 * p + 1) * (1 - p))
            b = ALPHA * a * p
            kept:    (x * a) + b        two correctly rounded operations in the dtype
            dropped: c = b - ALPHA * a  (= a * alpha' + b), whatever x holds (a select)

        ``training`` defaults to False, as in torch; evaluation returns ``x`` itself.
        ``p == 0`` returns a copy of ``x``, ``p == 1`` all ``+0.0``; both still consume
        ``x.size`` words (``prod(noise_shape)`` with a noise shape). Backward:
        :func:`alpha_dropout_backward`.
        """
        if not training:
            return self.pipeline.variant_eval(x, p, inplace, out, noise_shape, generator)
        fast = self._fast_alpha
        y = fast(x, p, generator, out, inplace, noise_shape, 0)
        if y is not None:
            return y
        return self.pipeline.alpha_train(
            x, p, inplace=inplace, noise_shape=noise_shape, generator=generator, out=out, keep=None
        )[0]

    def feature_alpha_dropout(
        self,
        x: ArrayLike,
        p: float = 0.5,
        training: bool = False,
        inplace: bool = False,
        *,
        channels_last: bool = False,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Array:
        """Alpha dropout of whole channels, as ``torch.nn.functional.feature_alpha_dropout``.

        ``x`` is ``(N, C, ...)`` with at least two dimensions (``(N, ..., C)`` with
        ``channels_last``); the mask is drawn over ``(N, C, 1, ...)`` and every element of a
        dropped channel becomes the constant ``c`` of :func:`alpha_dropout`.
        """
        xa = x if type(x) is np.ndarray else ck.as_float_array(x)  # (its shape)
        noise = ck.feature_noise_shape(xa.shape, bool(channels_last))
        return self.alpha_dropout(
            x, p, training, inplace, noise_shape=noise, generator=generator, out=out
        )

    def alpha_dropout_with_mask(
        self,
        x: ArrayLike,
        p: float = 0.5,
        *,
        noise_shape: NoiseShape = None,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Tuple[Array, Array]:
        """Training-mode :func:`alpha_dropout` that also returns the packed keep mask."""
        return self._alpha(x, p, noise_shape, generator, out, "mask")

    def _alpha(self, x, p, shape, gen, out, keep) -> Tuple[Array, Any]:
        """The training forward of the ``_with_*`` forms: ``(y, mask or state)``."""
        r = self._fast_alpha(x, p, gen, out, False, shape, 1 if keep == "mask" else 2)
        if r is not None:
            if keep == "mask":
                return r[0], r[1]
            y, seed, stream, offset = r
            return y, DropoutState._trusted(
                seed, stream, offset, y.shape, float(p), None, None, "alpha"
            )
        return self.pipeline.alpha_train(
            x, p, inplace=False, noise_shape=shape, generator=gen, out=out, keep=keep
        )

    alpha_dropout_with_state: Callable[..., Tuple[Array, DropoutState]] = twin(
        alpha_dropout_with_mask,
        lambda self, x, p=0.5, *, noise_shape=None, generator=None, out=None: self._alpha(
            x, p, noise_shape, generator, out, "state"
        ),
        "alpha_dropout_with_state",
        """Training-mode :func:`alpha_dropout` that returns a :class:`DropoutState` for the backward.""",
        "Tuple[Array, DropoutState]",
    )

    def alpha_dropout_backward(
        self,
        grad: ArrayLike,
        mask: Union[Array, DropoutState],
        p: float,
        *,
        noise_shape: NoiseShape = None,
        out: Optional[Array] = None,
    ) -> Array:
        """Gradient of alpha dropout: ``grad * a`` where kept, ``+0.0`` where dropped.

        ``mask`` is the packed mask of the forward pass or its :class:`DropoutState`
        (the keep decisions are drawn again; bit-identical). ``a`` is the dtype's
        constant of :func:`alpha_dropout`.
        """
        if type(mask) is DropoutState:
            if out is None and noise_shape is None:
                dx = self._fast_redraw(grad, mask._fields, p, True, True)
                if dx is not None:
                    return dx
        else:
            dx = self._fast_alpha_backward(grad, mask, p, out, noise_shape)
            if dx is not None:
                return dx
        return self.pipeline.alpha_backward(grad, mask, p, noise_shape=noise_shape, out=out)

    # -- Gaussian dropout ------------------------------------------------------------------
    def gaussian_dropout(
        self,
        x: ArrayLike,
        p: float,
        training: bool = True,
        *,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Array:
        """Gaussian dropout (Srivastava et al. 2014, section 10; Keras GaussianDropout).

        Multiplies every element by noise from N(1, p / (1 - p)): element ``i`` draws word
        ``w = word(seed, stream, offset + i)`` (so a call consumes ``x.size`` words, as
        :func:`dropout` does), ``z`` is the standard normal quantile of
        ``u = (w + 0.5) / 2**32`` (:func:`pydropout.reference.normal_from_words`: Wichura's
        AS241 with a logarithm made of + - * /, ``|z| <= 6.338``), the noise is
        ``dtype(1 + sigma * z)`` with ``sigma = sqrt(p / (1 - p))`` (float64, then rounded to
        the dtype; 16-bit types via float32) and ``y = x * noise`` in the dtype. The compiled
        core and the reference agree bit for bit.

        ``p`` must be in [0, 1): at ``p == 1`` the variance is infinite (ValueError).
        ``p == 0`` gives noise 1 (``y == x``). Evaluation returns ``x`` itself. The backward,
        :func:`gaussian_dropout_backward`, redraws the same noise from the state of
        :func:`gaussian_dropout_with_state`; nothing is stored.
        """
        if not training:
            return self.pipeline.variant_eval(
                x, p, False, out, None, generator, ck.check_gaussian_p
            )
        y = self._fast_gaussian(x, p, generator, out, False)
        if y is not None:
            return y
        return self.pipeline.gaussian_train(x, p, generator=generator, out=out)[0]

    def gaussian_dropout_with_state(
        self,
        x: ArrayLike,
        p: float,
        *,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Tuple[Array, DropoutState]:
        """Training-mode :func:`gaussian_dropout` that returns ``(y, DropoutState)``."""
        r = self._fast_gaussian(x, p, generator, out, True)
        if r is not None:
            y, seed, stream, offset = r
            return y, DropoutState._trusted(
                seed, stream, offset, y.shape, float(p), None, None, "gaussian"
            )
        return self.pipeline.gaussian_train(x, p, generator=generator, out=out)

    def gaussian_dropout_backward(
        self, grad: ArrayLike, state: DropoutState, p: float, *, out: Optional[Array] = None
    ) -> Array:
        """Gradient of Gaussian dropout: ``grad * noise``, the noise drawn again from ``state``."""
        if type(state) is DropoutState:
            dx = self._fast_gaussian_backward(grad, state._fields, p, out)
            if dx is not None:
                return dx
        return self.pipeline.gaussian_backward(grad, state, p, out=out)

    # -- the variants of modern networks (docs/CONTRACT.md section 6) -------------------
    def drop_path(
        self,
        x: ArrayLike,
        p: float = 0.5,
        training: bool = True,
        *,
        mode: str = "row",
        scale_by_keep: bool = True,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Array:
        """Stochastic depth (DropPath): drop whole samples of a residual branch.

        ``mode="row"``: sample ``j`` (index on axis 0) draws word ``offset + j``, so a call
        consumes ``x.shape[0]`` words (``x`` needs at least one dimension);
        ``mode="batch"``: one word for the whole array. A sample is kept iff its word is
        ``>= floor(p * 2**32)`` (``p == 1`` drops all); kept samples are
        ``x * dtype(1 / (1 - p))`` with ``scale_by_keep=True`` and ``x`` unchanged with
        ``False``; dropped ones are ``+0.0``. With ``scale_by_keep=True`` and
        ``mode="row"`` this is bit for bit ``dropout(x, p, noise_shape=(N, 1, ..., 1))``.
        Evaluation returns ``x`` itself. timm's ``drop_path`` and torchvision's
        ``stochastic_depth`` compute this; no per-element mask is ever made.
        """
        if not training:
            return pm.drop_path_eval(self.pipeline, x, p, mode, generator, out)
        return pm.drop_path_train(self.pipeline, x, p, mode, scale_by_keep, generator, out)[0]

    def zoneout(
        self,
        prev: ArrayLike,
        new: ArrayLike,
        p: float,
        training: bool = True,
        *,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Array:
        """Zoneout (Krueger et al. 2017): each element keeps its previous value with
        probability ``p``.

        ``prev`` and ``new`` have one shape and dtype. Element ``i`` draws word
        ``offset + i`` and is ``prev[i]`` iff that word is ``< floor(p * 2**32)``
        (``p == 1``: every element), else ``new[i]``; a call consumes ``prev.size`` words.
        Evaluation gives ``dtype(p) * prev + dtype(1 - p) * new``, three correctly rounded
        operations in the dtype, as a new array. The layer :class:`pydropout.Zoneout` has
        the backward.
        """
        if not training:
            return pm.zoneout_eval(self.pipeline, prev, new, p, generator, out)
        return pm.zoneout_train(self.pipeline, prev, new, p, generator, out, None)[0]

    def gaussian_noise(
        self,
        x: ArrayLike,
        stddev: float,
        training: bool = True,
        *,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Array:
        """Additive Gaussian noise (Keras ``GaussianNoise``): ``y = x + dtype(stddev * z)``.

        Element ``i`` draws word ``offset + i``; ``z`` is its standard normal deviate
        (:func:`pydropout.reference.normal_from_words`, Gaussian dropout's), the product is
        computed in float64 and rounded once to the dtype (16-bit types via float32) and
        the sum is one operation in the dtype. ``stddev`` is a finite real ``>= 0``
        (ValueError otherwise). A call consumes ``x.size`` words; evaluation returns ``x``
        itself. The gradient with respect to ``x`` is ``grad`` itself.
        """
        if not training:
            return pm.gaussian_noise_eval(self.pipeline, x, stddev, generator, out)
        return pm.gaussian_noise_train(self.pipeline, x, stddev, generator, out)


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
