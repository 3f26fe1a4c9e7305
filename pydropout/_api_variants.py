"""The public functions of alpha and Gaussian dropout, each written once:
:class:`VariantsApi` is a base of :class:`pydropout._api.Api`, so ``pydropout`` and
``pydropout.reference`` both have them, over their own backend. The checks and the call
pipeline of each are :meth:`pydropout._pipeline.Pipeline.alpha_train` and its neighbours.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

from numpy.typing import ArrayLike

from . import _checks as ck
from ._api_modern import Array, GeneratorLike
from ._state import DropoutState

NoiseShape = Optional[Sequence[Optional[int]]]


class VariantsApi:
    """alpha_dropout, feature_alpha_dropout, gaussian_dropout and their ``_with_*`` and
    backward functions over ``self.pipeline``."""

    pipeline: Any

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
        noise = ck.feature_noise_shape(ck.as_float_array(x).shape, bool(channels_last))
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
        return self.pipeline.alpha_train(
            x, p, inplace=False, noise_shape=noise_shape, generator=generator, out=out, keep="mask"
        )

    def alpha_dropout_with_state(
        self,
        x: ArrayLike,
        p: float = 0.5,
        *,
        noise_shape: NoiseShape = None,
        generator: GeneratorLike = None,
        out: Optional[Array] = None,
    ) -> Tuple[Array, DropoutState]:
        """Training-mode :func:`alpha_dropout` that returns a :class:`DropoutState` for the backward."""
        return self.pipeline.alpha_train(
            x, p, inplace=False, noise_shape=noise_shape, generator=generator, out=out, keep="state"
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
        return self.pipeline.gaussian_train(x, p, generator=generator, out=out)

    def gaussian_dropout_backward(
        self, grad: ArrayLike, state: DropoutState, p: float, *, out: Optional[Array] = None
    ) -> Array:
        """Gradient of Gaussian dropout: ``grad * noise``, the noise drawn again from ``state``."""
        return self.pipeline.gaussian_backward(grad, state, p, out=out)
