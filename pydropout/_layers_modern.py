"""Layers of the variants of modern networks over NumPy arrays, each with a backward pass:
:class:`DropPath`, :class:`Zoneout` and :class:`GaussianNoise` (docs/CONTRACT.md section 6).

They run the compiled API's pipeline (:mod:`pydropout._pipeline_modern`) and keep what the
backward needs: DropPath one bit per sample, Zoneout one bit per element (or a
:class:`DropoutState`), GaussianNoise nothing (its gradient is the identity).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import _checks as ck
from . import _pipeline_modern as pm
from ._compiled import api
from ._layers import _Layer

_EVAL = "eval"  # what an evaluation forward leaves for backward


class DropPath(_Layer):
    """Stochastic depth layer (timm's ``DropPath``); see :func:`pydropout.drop_path`.

    ``DropPath(p=0.5, *, mode="row", scale_by_keep=True, generator=None)``. A training
    forward keeps one bit per sample (row mode) or one bit (batch mode); ``backward(grad)``
    passes the gradient of kept samples (times ``dtype(1 / (1 - p))`` with
    ``scale_by_keep``) and ``+0.0`` for dropped ones.
    """

    def __init__(
        self,
        p: float = 0.5,
        *,
        mode: str = "row",
        scale_by_keep: bool = True,
        generator: Any = None,
    ):
        super().__init__(p, False, generator, "mask")
        self.mode = pm.check_path_mode(mode)
        self.scale_by_keep = bool(scale_by_keep)
        self._forward: Optional[Tuple[str, bool]] = None

    def forward(self, x: Any) -> np.ndarray:
        if not self.training:
            y = api.drop_path(x, self.p, False, mode=self.mode)
            self._remember(_EVAL, y.shape, self.p)
            return y
        y, mask = pm.drop_path_train(
            api.pipeline, x, self.p, self.mode, self.scale_by_keep, self.generator, None
        )
        self._remember(mask, y.shape, self.p)
        self._forward = (self.mode, self.scale_by_keep)
        return y

    def backward(self, grad: Any) -> np.ndarray:
        """Gradient with respect to the input of the last forward (``grad`` itself after an
        evaluation forward); ValueError before any forward."""
        return self._backward_of_last(grad, self._train_backward)

    def _train_backward(self, grad: Any) -> np.ndarray:
        assert self._forward is not None and self._shape is not None
        mode, scale = self._forward
        return pm.drop_path_backward(
            api.pipeline, grad, self._saved, self._p_forward, mode, scale, self._shape
        )

    def extra_repr(self) -> str:
        s = f"p={self.p}"
        if self.mode != "row":
            s += f", mode={self.mode!r}"
        if not self.scale_by_keep:
            s += ", scale_by_keep=False"
        return s


class Zoneout(_Layer):
    """Zoneout layer for recurrent states (Krueger et al. 2017); see :func:`pydropout.zoneout`.

    ``Zoneout(p, *, generator=None, save="mask")``. ``forward(prev, new)`` keeps each
    element's previous value with probability ``p``; ``backward(grad)`` returns
    ``(dprev, dnew)``: ``grad`` where that input was taken, ``+0.0`` elsewhere (after an
    evaluation forward: ``grad * dtype(p)`` and ``grad * dtype(1 - p)``). ``save="state"``
    keeps a :class:`DropoutState` instead of the bits and draws them again.
    """

    def __init__(self, p: float, *, generator: Any = None, save: str = "mask"):
        super().__init__(p, False, generator, save)
        self._evaluated = False

    def __call__(self, prev: Any, new: Any) -> np.ndarray:  # type: ignore[override]
        return self.forward(prev, new)

    def forward(self, prev: Any, new: Any) -> np.ndarray:  # type: ignore[override]
        if not self.training:
            y = api.zoneout(prev, new, self.p, False)
            self._remember(None, y.shape, self.p)
            self._evaluated = True
            return y
        y, token = pm.zoneout_train(
            api.pipeline, prev, new, self.p, self.generator, None, self.save
        )
        self._remember(token, y.shape, self.p)
        self._evaluated = False
        return y

    def backward(self, grad: Any) -> Tuple[np.ndarray, np.ndarray]:
        """``(dprev, dnew)`` for the last forward."""
        if self._shape is None:
            self._grad_for_backward(grad)  # ValueError: no forward yet
        if not self._evaluated:
            grad = self._grad_for_backward(grad)
        assert self._shape is not None
        return pm.zoneout_backward(api.pipeline, grad, self._saved, self._p_forward, self._shape)

    def extra_repr(self) -> str:
        s = f"p={self.p}"
        if self.save != self._default_save:
            s += f", save={self.save!r}"
        return s


class GaussianNoise(_Layer):
    """Additive Gaussian noise layer (Keras ``GaussianNoise``); see
    :func:`pydropout.gaussian_noise`.

    ``GaussianNoise(stddev, *, generator=None)``: training adds ``dtype(stddev * z)``,
    evaluation returns the input itself. ``backward(grad)`` returns ``grad`` (the noise does
    not depend on the input).
    """

    def __init__(self, stddev: float, *, generator: Any = None):
        super().__init__(0.0, False, generator, "mask")
        self.stddev = stddev

    @property
    def stddev(self) -> float:
        return self._stddev

    @stddev.setter
    def stddev(self, value: float) -> None:
        pm.check_stddev(value)
        self._stddev = value

    def forward(self, x: Any) -> np.ndarray:
        if not self.training:
            return api.gaussian_noise(x, self.stddev, False)
        y = pm.gaussian_noise_train(api.pipeline, x, self.stddev, self.generator, None)
        self._remember(True, y.shape, 0.0)
        return y

    def backward(self, grad: Any) -> np.ndarray:
        """The gradient with respect to the input: ``grad`` itself."""
        return ck.as_float_array(self._grad_for_backward(grad), "grad")

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"


__all__ = ["DropPath", "GaussianNoise", "Zoneout"]
