"""The public functions of the variants of modern networks (docs/CONTRACT.md section 6), each written
once: :class:`ModernApi` is a base of :class:`pydropout._api.Api`, so ``pydropout`` and
``pydropout.reference`` both have them, over their own backend. The checks and the call
pipeline of each are in :mod:`pydropout._pipeline_modern`.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _pipeline_modern as pm
from ._checks import UPSCALE
from ._state import DropoutState

Array = np.ndarray
#: a ``pydropout.Generator`` or a ``pydropout.reference.Generator`` (see ``_checks``)
GeneratorLike = Any


class ModernApi:
    """drop_path, zoneout, gaussian_noise and dropout_apply over ``self.pipeline``."""

    pipeline: Any

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

    def dropout_apply(
        self,
        x: ArrayLike,
        mask_or_state: Union[Array, DropoutState],
        p: float,
        *,
        mode: str = UPSCALE,
        noise_shape: Any = None,
        out: Optional[Array] = None,
    ) -> Array:
        """The dropout forward with a given mask (or :class:`DropoutState`) instead of a draw.

        Bit for bit ``dropout_backward(x, mask_or_state, p, mode=mode,
        noise_shape=noise_shape)``: kept elements ``x * dtype(1 / (1 - p))`` (``x`` in
        ``"downscale_in_infer"``), dropped ones ``+0.0``. Consumes nothing: the same mask
        applied at every time step gives locked (variational) RNN dropout, and a mask keyed
        by a sample's index gives Monte Carlo dropout that does not depend on the batch.
        """
        return self.pipeline.dropout_backward(
            x, mask_or_state, p, mode=mode, noise_shape=noise_shape, out=out, name="x"
        )
