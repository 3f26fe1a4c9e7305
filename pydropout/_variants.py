"""The dropout variants: channel (1d/2d/3d), alpha, feature alpha and Gaussian dropout.

Every variant draws from the same Philox stream as plain dropout (SPEC.md): element (or
noise-shape element) ``i`` uses word ``offset + i``, kept iff ``word >= floor(p * 2**32)``.
:class:`VariantFrontend` holds the checks and the layout handling, shared by the compiled
functions here and their NumPy twins in :mod:`pydropout.reference`; a backend does the
arithmetic on flat C-contiguous buffers (``alpha_apply`` and ``gaussian`` on top of the
core's ``forward``/``mask``/``apply``).
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from . import _core
from ._api import Dropout, Generator, _CoreBackend, _Layer, default_generator
from ._common import (
    Frontend,
    alpha_constants,
    as_float_array,
    check_gaussian_p,
    check_mask,
    check_noise_shape,
    check_out,
    check_p,
    dtype_code,
    expand_mask,
    flat_contiguous,
    gaussian_sigma,
    mask_nbytes,
    threshold,
)
from ._state import DropoutState, check_state, reject_generator, resolve_noise

# -- shapes -----------------------------------------------------------------------------------


def channel_noise_shape(shape: Tuple[int, ...], spatial: int, channels_last: bool = False,
                        name: str = "dropout") -> Tuple[int, ...]:
    """The noise shape of channel dropout with ``spatial`` spatial dimensions.

    ``(N, C, *spatial)`` -> ``(N, C, 1, ...)`` and ``(C, *spatial)`` -> ``(C, 1, ...)``;
    with ``channels_last`` ``(N, *spatial, C)`` -> ``(N, 1, ..., C)`` and
    ``(*spatial, C)`` -> ``(1, ..., C)``. Any other rank raises ValueError.
    """
    ndim = len(shape)
    if ndim not in (spatial + 1, spatial + 2):
        layout = "(N, *spatial, C)" if channels_last else "(N, C, *spatial)"
        raise ValueError(
            f"{name}: x must be {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) "
            f"{layout}, got {ndim}-D shape {tuple(shape)}"
        )
    batch = ndim == spatial + 2
    if channels_last:
        lead: Tuple[int, ...] = (shape[0],) if batch else ()
        return lead + (1,) * spatial + (shape[-1],)
    lead = tuple(shape[:2]) if batch else (shape[0],)
    return lead + (1,) * spatial


def feature_noise_shape(shape: Tuple[int, ...], channels_last: bool = False) -> Tuple[int, ...]:
    """Noise shape of feature alpha dropout, as torch: ``(N, C, 1, ...)`` for ``ndim >= 2``."""
    if len(shape) < 2:
        raise ValueError(
            "feature_alpha_dropout: x must have at least 2 dimensions (N, C, ...), got "
            f"shape {tuple(shape)}"
        )
    if channels_last:
        return (shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],)
    return tuple(shape[:2]) + (1,) * (len(shape) - 2)


# -- the frontend -----------------------------------------------------------------------------


class VariantFrontend(Frontend):
    """The variants over one backend: the compiled core or NumPy."""

    # -- helpers ----------------------------------------------------------------------------
    def _noise(self, noise_shape, shape):
        if noise_shape is None:
            return None
        noise = check_noise_shape(noise_shape, shape)
        return None if noise == shape else noise

    def _identity(self, x, xa, inplace, out):
        """Evaluation mode of the variants: x itself (or copied into ``out``)."""
        if out is not None:
            if out is not xa:
                np.copyto(out, xa)
            return out
        return x if isinstance(x, np.ndarray) else xa

    def _checked_eval(self, x, p, inplace, out, noise_shape, generator, check=check_p):
        xa = as_float_array(x)
        check(p)
        self._check_inplace(x, inplace, out)
        if out is not None:
            check_out(out, xa.shape, xa.dtype)
        self._noise(noise_shape, xa.shape)
        self._generator(generator)
        return self._identity(x, xa, inplace, out)

    def _finish(self, y, final):
        if final is not None and y is not final:
            np.copyto(final, y)
            return final
        return y

    # -- channel dropout ----------------------------------------------------------------------
    def channel_dropout(self, x, p, training, inplace, *, spatial, channels_last, generator,
                        out, name):
        xa = as_float_array(x)
        noise = channel_noise_shape(xa.shape, spatial, bool(channels_last), name)
        return self.dropout(x, p, training, inplace, noise_shape=noise, generator=generator,
                            out=out)

    # -- alpha dropout ------------------------------------------------------------------------
    def _alpha_run(self, x, p, *, inplace, noise_shape, generator, out, want_state=False):
        xa = as_float_array(x)
        p = check_p(p)
        code = dtype_code(xa.dtype)
        inplace = self._check_inplace(x, inplace, out)
        if out is not None:
            check_out(out, xa.shape, xa.dtype)
        noise = self._noise(noise_shape, xa.shape)
        gen = self._generator(generator)

        xc = flat_contiguous(xa)
        final = self._destination(xa, x, out, inplace)
        y = final if final is not None and self._direct(final, xc) else self._output(xa.shape, xc)
        nn = xa.size if noise is None else math.prod(noise)
        mask = np.empty(mask_nbytes(nn), np.uint8)
        drop_all = p == 1.0
        t = 0 if drop_all else threshold(p)
        a, b, c = alpha_constants(p, xc.dtype)

        seed, stream, offset = gen._reserve(nn)  # after every check and allocation
        self.backend.mask(mask, nn, t, drop_all, seed, stream, offset)
        if p == 0.0:
            self.backend.apply(xc, y, None, code, 1.0, False)  # everything kept: y = x exactly
        else:
            full = mask if noise is None else expand_mask(mask, noise, xa.shape)
            self.backend.alpha_apply(xc, y, full, code, a, b, c)
        y = self._finish(y, final)
        state = None
        if want_state:
            state = DropoutState(seed, stream, offset, xa.shape, p, None, noise, "alpha")
        return y, mask, state

    def alpha_dropout(self, x, p=0.5, training=False, inplace=False, *, noise_shape=None,
                      generator=None, out=None):
        if not training:
            return self._checked_eval(x, p, inplace, out, noise_shape, generator)
        return self._alpha_run(x, p, inplace=inplace, noise_shape=noise_shape,
                               generator=generator, out=out)[0]

    def feature_alpha_dropout(self, x, p=0.5, training=False, inplace=False, *,
                              channels_last=False, generator=None, out=None):
        xa = as_float_array(x)
        noise = feature_noise_shape(xa.shape, bool(channels_last))
        return self.alpha_dropout(x, p, training, inplace, noise_shape=noise,
                                  generator=generator, out=out)

    def alpha_dropout_with_mask(self, x, p=0.5, *, noise_shape=None, generator=None, out=None):
        y, mask, _ = self._alpha_run(x, p, inplace=False, noise_shape=noise_shape,
                                     generator=generator, out=out)
        return y, mask

    def alpha_dropout_with_state(self, x, p=0.5, *, noise_shape=None, generator=None, out=None):
        y, _, state = self._alpha_run(x, p, inplace=False, noise_shape=noise_shape,
                                      generator=generator, out=out, want_state=True)
        return y, state

    def alpha_dropout_backward(self, grad, mask, p, *, noise_shape=None, out=None):
        """``grad * a`` where kept, ``+0.0`` where dropped (a of the dtype, see alpha_constants)."""
        reject_generator(mask, self.generator_cls)
        ga = as_float_array(grad, "grad")
        p = check_p(p)
        code = dtype_code(ga.dtype, "grad")
        noise = self._noise(noise_shape, ga.shape)
        state = None
        if isinstance(mask, DropoutState):
            state = check_state(mask, "alpha", p, ga.shape, "mask")
            resolve_noise(noise, state.noise_shape)
            noise = state.noise_shape
        else:
            mask = check_mask(mask, ga.size if noise is None else math.prod(noise), out)
        if out is not None:
            check_out(out, ga.shape, ga.dtype)
        gc = flat_contiguous(ga)
        y = out if out is not None and self._direct(out, gc) else self._output(ga.shape, gc)
        a = alpha_constants(p, gc.dtype)[0]
        drop_all = p == 1.0
        if state is not None:
            self._redraw_apply(gc, y, code, state, 0 if drop_all else threshold(p), drop_all,
                               a, True)
        else:
            full = mask if noise is None else expand_mask(mask, noise, ga.shape)
            if drop_all:
                full = np.zeros_like(full)  # nothing survives p == 1
            self.backend.apply(gc, y, full, code, a, True)
        return self._finish(y, out)

    # -- Gaussian dropout ---------------------------------------------------------------------
    def _gaussian_run(self, x, p, *, generator, out, want_state=False):
        xa = as_float_array(x)
        p = check_gaussian_p(p)
        code = dtype_code(xa.dtype)
        if out is not None:
            check_out(out, xa.shape, xa.dtype)
        gen = self._generator(generator)
        xc = flat_contiguous(xa)
        y = out if out is not None and self._direct(out, xc) else self._output(xa.shape, xc)
        sigma = gaussian_sigma(p)
        seed, stream, offset = gen._reserve(xa.size)  # after every check and allocation
        self.backend.gaussian(xc, y, code, sigma, seed, stream, offset)
        y = self._finish(y, out)
        state = None
        if want_state:
            state = DropoutState(seed, stream, offset, xa.shape, p, None, None, "gaussian")
        return y, state

    def gaussian_dropout(self, x, p, training=True, *, generator=None, out=None):
        if not training:
            return self._checked_eval(x, p, False, out, None, generator, check_gaussian_p)
        return self._gaussian_run(x, p, generator=generator, out=out)[0]

    def gaussian_dropout_with_state(self, x, p, *, generator=None, out=None):
        return self._gaussian_run(x, p, generator=generator, out=out, want_state=True)

    def gaussian_dropout_backward(self, grad, state, p, *, out=None):
        reject_generator(state, self.generator_cls, "state")
        ga = as_float_array(grad, "grad")
        p = check_gaussian_p(p)
        code = dtype_code(ga.dtype, "grad")
        check_state(state, "gaussian", p, ga.shape)
        if out is not None:
            check_out(out, ga.shape, ga.dtype)
        gc = flat_contiguous(ga)
        y = out if out is not None and self._direct(out, gc) else self._output(ga.shape, gc)
        self.backend.gaussian(gc, y, code, gaussian_sigma(p), state.seed, state.stream,
                              state.offset)
        return self._finish(y, out)


# -- the compiled backend ---------------------------------------------------------------------


class _CoreVariantBackend(_CoreBackend):
    alpha_apply = staticmethod(_core.alpha_apply)
    gaussian = staticmethod(_core.gaussian)


_vfront = VariantFrontend(_CoreVariantBackend(), Generator, default_generator)


# -- public functions -------------------------------------------------------------------------

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


def dropout1d(x, p=0.5, training=True, inplace=False, *, channels_last=False, generator=None,
              out=None):
    return _vfront.channel_dropout(x, p, training, inplace, spatial=1,
                                   channels_last=channels_last, generator=generator, out=out,
                                   name="dropout1d")


def dropout2d(x, p=0.5, training=True, inplace=False, *, channels_last=False, generator=None,
              out=None):
    return _vfront.channel_dropout(x, p, training, inplace, spatial=2,
                                   channels_last=channels_last, generator=generator, out=out,
                                   name="dropout2d")


def dropout3d(x, p=0.5, training=True, inplace=False, *, channels_last=False, generator=None,
              out=None):
    return _vfront.channel_dropout(x, p, training, inplace, spatial=3,
                                   channels_last=channels_last, generator=generator, out=out,
                                   name="dropout3d")


dropout1d.__doc__ = _CHANNEL_DOC.format(k=1, sp="L", ones="1")
dropout2d.__doc__ = _CHANNEL_DOC.format(k=2, sp="H, W", ones="1, 1")
dropout3d.__doc__ = _CHANNEL_DOC.format(k=3, sp="D, H, W", ones="1, 1, 1")


def alpha_dropout(x, p=0.5, training=False, inplace=False, *, noise_shape=None, generator=None,
                  out=None):
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
    return _vfront.alpha_dropout(x, p, training, inplace, noise_shape=noise_shape,
                                 generator=generator, out=out)


def feature_alpha_dropout(x, p=0.5, training=False, inplace=False, *, channels_last=False,
                          generator=None, out=None):
    """Alpha dropout of whole channels, as ``torch.nn.functional.feature_alpha_dropout``.

    ``x`` is ``(N, C, ...)`` with at least two dimensions (``(N, ..., C)`` with
    ``channels_last``); the mask is drawn over ``(N, C, 1, ...)`` and every element of a
    dropped channel becomes the constant ``c`` of :func:`alpha_dropout`.
    """
    return _vfront.feature_alpha_dropout(x, p, training, inplace, channels_last=channels_last,
                                         generator=generator, out=out)


def alpha_dropout_with_mask(x, p=0.5, *, noise_shape=None, generator=None, out=None):
    """Training-mode :func:`alpha_dropout` that also returns the packed keep mask."""
    return _vfront.alpha_dropout_with_mask(x, p, noise_shape=noise_shape, generator=generator,
                                           out=out)


def alpha_dropout_with_state(x, p=0.5, *, noise_shape=None, generator=None, out=None):
    """Training-mode :func:`alpha_dropout` that returns a :class:`DropoutState` for the backward."""
    return _vfront.alpha_dropout_with_state(x, p, noise_shape=noise_shape, generator=generator,
                                            out=out)


def alpha_dropout_backward(grad, mask, p, *, noise_shape=None, out=None):
    """Gradient of alpha dropout: ``grad * a`` where kept, ``+0.0`` where dropped.

    ``mask`` is the packed mask of the forward pass or its :class:`DropoutState`
    (the keep decisions are drawn again; bit-identical). ``a`` is the dtype's
    constant of :func:`alpha_dropout`.
    """
    return _vfront.alpha_dropout_backward(grad, mask, p, noise_shape=noise_shape, out=out)


def gaussian_dropout(x, p, training=True, *, generator=None, out=None):
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
    return _vfront.gaussian_dropout(x, p, training, generator=generator, out=out)


def gaussian_dropout_with_state(x, p, *, generator=None, out=None):
    """Training-mode :func:`gaussian_dropout` that returns ``(y, DropoutState)``."""
    return _vfront.gaussian_dropout_with_state(x, p, generator=generator, out=out)


def gaussian_dropout_backward(grad, state, p, *, out=None):
    """Gradient of Gaussian dropout: ``grad * noise``, the noise drawn again from ``state``."""
    return _vfront.gaussian_dropout_backward(grad, state, p, out=out)


# -- layers -----------------------------------------------------------------------------------


class _ChannelDropout(Dropout):
    _spatial = 0

    def __init__(self, p=0.5, inplace=False, *, channels_last=False, generator=None,
                 save="mask"):
        super().__init__(p, inplace, generator=generator, save=save)
        self.channels_last = bool(channels_last)

    def _noise_shape(self, x):
        xa = as_float_array(x)
        return channel_noise_shape(xa.shape, self._spatial, self.channels_last,
                                   type(self).__name__)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.channels_last:
            s += ", channels_last=True"
        return s


class Dropout1d(_ChannelDropout):
    """Channel dropout layer for ``(N, C, L)`` / ``(C, L)`` inputs (torch.nn.Dropout1d).

    ``Dropout1d(p=0.5, inplace=False, *, channels_last=False, generator=None, save="mask")``;
    see :func:`dropout1d`. ``backward(grad)`` uses the mask (or state) of the last
    training forward.
    """

    _spatial = 1


class Dropout2d(_ChannelDropout):
    """Channel dropout layer for ``(N, C, H, W)`` / ``(C, H, W)`` inputs (torch.nn.Dropout2d).

    See :class:`Dropout1d` and :func:`dropout2d`.
    """

    _spatial = 2


class Dropout3d(_ChannelDropout):
    """Channel dropout layer for ``(N, C, D, H, W)`` / ``(C, D, H, W)`` inputs (torch.nn.Dropout3d).

    See :class:`Dropout1d` and :func:`dropout3d`.
    """

    _spatial = 3


class AlphaDropout(_Layer):
    """Alpha dropout layer (torch.nn.AlphaDropout); see :func:`alpha_dropout`.

    ``AlphaDropout(p=0.5, inplace=False, *, generator=None, save="mask")``. Training
    forward keeps the packed mask or a :class:`DropoutState` (``save``); ``backward(grad)``
    returns ``grad * a`` where kept, ``+0.0`` where dropped.
    """

    def __init__(self, p=0.5, inplace=False, *, generator=None, save="mask"):
        super().__init__(p, inplace, generator, save)
        self._noise = None

    def _noise_shape(self, x):
        return None

    def forward(self, x):
        noise = self._noise_shape(x)
        if not self.training:
            return _vfront.alpha_dropout(x, self.p, False, self.inplace, noise_shape=noise)
        y, mask, state = _vfront._alpha_run(x, self.p, inplace=self.inplace, noise_shape=noise,
                                            generator=self.generator, out=None,
                                            want_state=self.save == "state")
        self._remember(state if self.save == "state" else mask, y.shape, self.p)
        self._noise = noise
        return y

    def backward(self, grad):
        """Gradient with respect to the input of the last training forward."""
        grad = self._grad_for_backward(grad)
        return _vfront.alpha_dropout_backward(grad, self._saved, self._p_forward,
                                              noise_shape=self._noise)


class FeatureAlphaDropout(AlphaDropout):
    """Alpha dropout of whole channels (torch.nn.FeatureAlphaDropout).

    ``FeatureAlphaDropout(p=0.5, inplace=False, *, channels_last=False, generator=None,
    save="mask")``; inputs ``(N, C, ...)`` with at least two dimensions, see
    :func:`feature_alpha_dropout`.
    """

    def __init__(self, p=0.5, inplace=False, *, channels_last=False, generator=None,
                 save="mask"):
        super().__init__(p, inplace, generator=generator, save=save)
        self.channels_last = bool(channels_last)

    def _noise_shape(self, x):
        return feature_noise_shape(as_float_array(x).shape, self.channels_last)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.channels_last:
            s += ", channels_last=True"
        return s


class GaussianDropout(_Layer):
    """Gaussian dropout layer (Keras GaussianDropout); see :func:`gaussian_dropout`.

    ``GaussianDropout(p, *, generator=None)`` with ``p`` in [0, 1). A training forward
    keeps only a :class:`DropoutState`; ``backward(grad)`` multiplies by the same noise,
    drawn again. ``effective_p`` is ``p`` itself (no threshold is involved).
    """

    _default_save = "state"
    _check_p = staticmethod(check_gaussian_p)

    def __init__(self, p, *, generator=None):
        super().__init__(p, False, generator, "state")

    @property
    def effective_p(self) -> float:
        return float(self.p)

    def forward(self, x):
        if not self.training:
            return _vfront.gaussian_dropout(x, self.p, False)
        y, state = _vfront._gaussian_run(x, self.p, generator=self.generator, out=None,
                                         want_state=True)
        self._remember(state, y.shape, self.p)
        return y

    def backward(self, grad):
        """``grad * noise`` with the noise of the last training forward, drawn again."""
        grad = self._grad_for_backward(grad)
        return _vfront.gaussian_dropout_backward(grad, self._saved, self._p_forward)

    def extra_repr(self) -> str:
        return f"p={self.p}"


__all__ = [
    "AlphaDropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "VariantFrontend",
    "alpha_dropout",
    "alpha_dropout_backward",
    "alpha_dropout_with_mask",
    "alpha_dropout_with_state",
    "channel_noise_shape",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
    "feature_noise_shape",
    "gaussian_dropout",
    "gaussian_dropout_backward",
    "gaussian_dropout_with_state",
]
