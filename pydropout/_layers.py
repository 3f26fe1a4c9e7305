"""The dropout layers over NumPy arrays, each with a backward pass.

They call the public functions of the compiled API (``inplace`` forwards, which no
``*_with_mask`` function offers, go through the same pipeline directly). ``pydropout``
exports the public ones (its ``__all__`` is the one list of the public names).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np

from . import _checks as ck
from ._checks import UPSCALE
from ._compiled import api

#: what a layer keeps after an evaluation forward (whose backward draws nothing); a
#: string, so that it survives pickling and copying
_EVAL = "eval"


class _Layer:
    """What every dropout layer shares: ``p``, ``training``, ``train``/``eval``, ``repr``."""

    _default_save = "mask"

    def __init__(self, p: float, inplace: bool, generator: Any, save: str):
        self.p = p
        self.inplace = ck.check_flag(inplace, "inplace")
        self.generator = ck.check_generator(generator, None)
        self.save = ck.check_save(save)
        self.training = True
        # the packed mask or the DropoutState of the last forward, _EVAL after an
        # evaluation forward, None before any forward
        self._saved: Any = None
        self._mode_forward = UPSCALE
        self._shape: Optional[Tuple[int, ...]] = None
        self._p_forward: Any = None
        self._noise: Optional[Tuple[int, ...]] = None

    @property
    def p(self) -> float:
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        self._check_p(value)
        self._p = value

    _check_p = staticmethod(ck.check_p)

    @property
    def effective_p(self) -> float:
        """The drop probability actually used: ``t / 2**32`` (see :func:`effective_p`)."""
        return api.effective_p(self.p)

    def train(self, mode: bool = True) -> _Layer:
        self.training = bool(mode)
        return self

    def eval(self) -> _Layer:
        return self.train(False)

    def __call__(self, x: Any) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: Any) -> np.ndarray:  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def _noise_shape(self, x: Any) -> Optional[Tuple[int, ...]]:
        """The shape the mask is drawn over (None: x's shape); channel layers override it."""
        return None

    def _remember(
        self, saved: Any, shape: Tuple[int, ...], p: float, noise: Optional[Tuple[int, ...]] = None
    ) -> None:
        self._saved, self._shape, self._p_forward, self._noise = saved, shape, p, noise

    def _grad_for_backward(self, grad: Any) -> Any:
        if self._saved is None:
            raise ValueError(
                "backward() needs a forward() first: it is the backward of the last forward"
            )
        g = ck.as_float_array(grad, "grad")
        if g.shape != self._shape:
            raise ValueError(f"grad has shape {g.shape}, the last forward had {self._shape}")
        return grad

    def _eval_backward(self, grad: Any) -> np.ndarray:
        """The backward of an evaluation forward: the identity (``grad`` itself)."""
        return ck.as_float_array(grad, "grad")

    def _backward_of_last(self, grad: Any, train: Callable[[Any], np.ndarray]) -> np.ndarray:
        """``train(grad)`` after a training forward, the identity after an evaluation forward
        (the saved mark is a string); the checks of ``_grad_for_backward`` first."""
        grad = self._grad_for_backward(grad)
        if isinstance(self._saved, str):  # an evaluation forward
            return self._eval_backward(grad)
        return train(grad)

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
    ``backward(grad)`` is the backward of the last forward (with its ``p`` and ``mode``),
    in evaluation mode too. ``backward`` before any forward raises ValueError.
    ``effective_p`` is the drop probability actually used.
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        mode: str = UPSCALE,
        generator: Any = None,
        save: str = "mask",
    ):
        super().__init__(p, inplace, generator, save)
        self.mode = ck.check_mode(mode)

    def forward(self, x: Any) -> np.ndarray:
        noise = self._noise_shape(x)
        if not self.training:
            y = api.dropout(x, self.p, False, self.inplace, mode=self.mode, noise_shape=noise)
            self._remember(_EVAL, y.shape, self.p)
            self._mode_forward = self.mode
            return y
        if self.inplace:
            y, token = api._train(
                x, self.p, True, self.mode, noise, self.generator, None, self.save
            )
        else:
            run = api.dropout_with_state if self.save == "state" else api.dropout_with_mask
            y, token = run(x, self.p, mode=self.mode, noise_shape=noise, generator=self.generator)
        self._remember(token, y.shape, self.p, noise)
        self._mode_forward = self.mode
        return y

    def backward(self, grad: Any) -> np.ndarray:
        """Gradient with respect to the input of the last forward, whatever its mode.

        After a training forward: its mask (or state), ``p`` and ``mode``. After an
        evaluation forward: ``grad`` itself with ``mode="upscale_in_train"``, and
        ``grad * dtype(1 - p)`` (a new array) with ``mode="downscale_in_infer"``.
        Before any forward: ValueError.
        """
        grad = self._grad_for_backward(grad)
        if isinstance(self._saved, str):  # an evaluation forward
            return api.dropout(grad, self._p_forward, False, mode=self._mode_forward)
        return api.dropout_backward(
            grad, self._saved, self._p_forward, mode=self._mode_forward, noise_shape=self._noise
        )

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.mode != UPSCALE:
            s += f", mode={self.mode!r}"
        return s


class _ChannelsLast(_Layer):
    """The ``channels_last`` flag of the channel layers: taken by ``__init__``, shown by ``repr``."""

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        channels_last: bool = False,
        generator: Any = None,
        save: str = "mask",
    ):
        super().__init__(p, inplace, generator=generator, save=save)
        self.channels_last = ck.check_flag(channels_last, "channels_last")

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.channels_last:
            s += ", channels_last=True"
        return s


class _ChannelDropout(_ChannelsLast, Dropout):
    _spatial = 0

    def _noise_shape(self, x: Any) -> Optional[Tuple[int, ...]]:
        shape = ck.as_float_array(x).shape
        return ck.channel_noise_shape(shape, self._spatial, self.channels_last, type(self).__name__)


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

    def __init__(
        self, p: float = 0.5, inplace: bool = False, *, generator: Any = None, save: str = "mask"
    ):
        super().__init__(p, inplace, generator, save)

    def forward(self, x: Any) -> np.ndarray:
        noise = self._noise_shape(x)
        if not self.training:
            y = api.alpha_dropout(x, self.p, False, self.inplace, noise_shape=noise)
            self._remember(_EVAL, y.shape, self.p)
            return y
        y, token = api.pipeline.alpha_train(
            x,
            self.p,
            inplace=self.inplace,
            noise_shape=noise,
            generator=self.generator,
            out=None,
            keep=self.save,
        )
        self._remember(token, y.shape, self.p, noise)
        return y

    def backward(self, grad: Any) -> np.ndarray:
        """Gradient with respect to the input of the last forward: ``grad`` itself after an
        evaluation forward (the identity); ValueError before any forward."""
        return self._backward_of_last(
            grad,
            lambda g: api.alpha_dropout_backward(
                g, self._saved, self._p_forward, noise_shape=self._noise
            ),
        )


class FeatureAlphaDropout(_ChannelsLast, AlphaDropout):
    """Alpha dropout of whole channels (torch.nn.FeatureAlphaDropout).

    ``FeatureAlphaDropout(p=0.5, inplace=False, *, channels_last=False, generator=None,
    save="mask")``; inputs ``(N, C, ...)`` with at least two dimensions, see
    :func:`feature_alpha_dropout`.
    """

    def _noise_shape(self, x: Any) -> Optional[Tuple[int, ...]]:
        return ck.feature_noise_shape(ck.as_float_array(x).shape, self.channels_last)


class GaussianDropout(_Layer):
    """Gaussian dropout layer (Keras GaussianDropout); see :func:`gaussian_dropout`.

    ``GaussianDropout(p, *, generator=None)`` with ``p`` in [0, 1). A training forward
    keeps only a :class:`DropoutState`; ``backward(grad)`` multiplies by the same noise,
    drawn again. ``effective_p`` is ``p`` itself (no threshold is involved).
    """

    _default_save = "state"
    _check_p = staticmethod(ck.check_gaussian_p)

    def __init__(self, p: float, *, generator: Any = None):
        super().__init__(p, False, generator, "state")

    @property
    def effective_p(self) -> float:
        return float(self.p)

    def forward(self, x: Any) -> np.ndarray:
        if not self.training:
            y = api.gaussian_dropout(x, self.p, False)
            self._remember(_EVAL, y.shape, self.p)
            return y
        y, state = api.gaussian_dropout_with_state(x, self.p, generator=self.generator)
        self._remember(state, y.shape, self.p)
        return y

    def backward(self, grad: Any) -> np.ndarray:
        """``grad * noise`` with the noise of the last training forward, drawn again;
        ``grad`` itself after an evaluation forward; ValueError before any forward."""
        return self._backward_of_last(
            grad, lambda g: api.gaussian_dropout_backward(g, self._saved, self._p_forward)
        )

    def extra_repr(self) -> str:
        return f"p={self.p}"
