"""PyTorch modules and functions of the variants of modern networks, backed by pydropout.

``pydropout.torch`` re-exports them. With the signatures users know:

* ``drop_path(x, drop_prob=0., training=False, scale_by_keep=True)`` and
  ``DropPath(drop_prob=0., scale_by_keep=True)``: timm's (``timm.layers.drop``);
* ``stochastic_depth(input, p, mode, training=True)`` and ``StochasticDepth(p, mode)``:
  torchvision's (``torchvision.ops.stochastic_depth``);
* ``Zoneout(p)`` (``forward(prev, new)``), ``GaussianNoise(stddev)`` and
  ``WeightDropout(module, p, weights=("weight",), *, generator=None)``: DropConnect on the
  named parameters of ``module``, as AWD-LSTM's ``WeightDrop``.

Each forward runs pydropout's NumPy function on a view of the CPU tensor (no copy) inside a
``torch.autograd.Function``; the masks come from a :class:`pydropout.Generator`
(``generator=``, else ``pydropout.default_generator``), so they are the bits of
``pydropout.drop_path`` & co. on the same state. Every backward applies the forward's mask
(never a fresh draw) and is itself differentiable. A dropped sample is exactly ``+0.0``,
even where the input is NaN or inf (timm and torchvision multiply by zero).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

import pydropout

from . import _pipeline_modern as pm
from ._checks import check_generator, check_p
from ._compiled import api
from ._torch_common import as_numpy

__all__ = [
    "DropPath",
    "GaussianNoise",
    "StochasticDepth",
    "WeightDropout",
    "Zoneout",
    "drop_path",
    "gaussian_noise",
    "stochastic_depth",
    "zoneout",
]


def _as_numpy(t: Any, name: str = "input") -> np.ndarray:
    """A NumPy view (no copy) of the CPU tensor ``t``; a clear error for anything else."""
    return as_numpy(t, name, owner="pydropout", bf16_import_error=True)


def _as_tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.bfloat16:
        return torch.from_numpy(np.ascontiguousarray(a).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.asarray(a))


# -- the linear maps of the backward passes (each its own adjoint) ----------------------------
class _Rows(torch.autograd.Function):
    """``g -> g`` through the kept rows of a drop_path forward (linear, diagonal)."""

    @staticmethod
    def forward(
        ctx: Any, g: torch.Tensor, mask: np.ndarray, p: float, mode: str, scale: bool
    ) -> torch.Tensor:
        ctx.args = (mask, p, mode, scale)
        ga = _as_numpy(g, "grad")
        return _as_tensor(
            pm.drop_path_backward(api.pipeline, ga, mask, p, mode, scale, ga.shape), g.dtype
        )

    @staticmethod
    def backward(ctx: Any, gg: torch.Tensor):
        return (_Rows.apply(gg, *ctx.args),) + (None,) * 4


class _Elements(torch.autograd.Function):
    """``g -> dropout_apply(g, mask, p, mode)``: the keep mask of each element (diagonal)."""

    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, mask: np.ndarray, p: float, mode: str) -> torch.Tensor:
        ctx.args = (mask, p, mode)
        return _as_tensor(
            pydropout.dropout_apply(_as_numpy(g, "grad"), mask, p, mode=mode), g.dtype
        )

    @staticmethod
    def backward(ctx: Any, gg: torch.Tensor):
        return (_Elements.apply(gg, *ctx.args),) + (None,) * 3


# -- drop_path / stochastic_depth --------------------------------------------------------------
class _DropPathFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, p: float, mode: str, scale: bool, generator: Any
    ) -> torch.Tensor:
        y, mask = pm.drop_path_train(api.pipeline, _as_numpy(x), p, mode, scale, generator, None)
        ctx.args = (mask, p, mode, scale)
        return _as_tensor(y, x.dtype)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        return (_Rows.apply(g, *ctx.args),) + (None,) * 4


def _drop_path(
    x: torch.Tensor, p: Any, training: bool, mode: str, scale: bool, generator: Any
) -> torch.Tensor:
    xa = _as_numpy(x)
    p = check_p(p)
    pm.path_rows(xa.shape, pm.check_path_mode(mode))
    check_generator(generator)
    if not training or p == 0.0:
        return x  # the very tensor, as timm and torchvision return it
    return _DropPathFunction.apply(x, p, mode, bool(scale), generator)


def drop_path(
    x: torch.Tensor,
    drop_prob: float = 0.0,
    training: bool = False,
    scale_by_keep: bool = True,
    *,
    generator: Optional[pydropout.Generator] = None,
) -> torch.Tensor:
    """timm's ``drop_path``: zero whole samples (axis 0) with probability ``drop_prob``,
    kept ones times ``dtype(1 / (1 - drop_prob))`` with ``scale_by_keep``. The bits of
    :func:`pydropout.drop_path` (``mode="row"``). ``training`` defaults to False, as timm's."""
    return _drop_path(x, drop_prob, training, "row", scale_by_keep, generator)


def stochastic_depth(
    input: torch.Tensor,
    p: float,
    mode: str,
    training: bool = True,
    *,
    generator: Optional[pydropout.Generator] = None,
) -> torch.Tensor:
    """torchvision's ``ops.stochastic_depth``: ``mode="row"`` drops samples, ``"batch"``
    the whole input, with probability ``p``; survivors times ``dtype(1 / (1 - p))``."""
    if not isinstance(mode, str) or mode not in pm.PATH_MODES:
        raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
    return _drop_path(input, p, training, mode, True, generator)


class DropPath(torch.nn.Module):
    """timm's ``DropPath(drop_prob=0., scale_by_keep=True)`` over :func:`drop_path`."""

    def __init__(
        self,
        drop_prob: float = 0.0,
        scale_by_keep: bool = True,
        *,
        generator: Optional[pydropout.Generator] = None,
    ):
        super().__init__()
        self.drop_prob = check_p(drop_prob, "drop_prob")
        self.scale_by_keep = scale_by_keep
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(
            x, self.drop_prob, self.training, self.scale_by_keep, generator=self.generator
        )

    def extra_repr(self) -> str:
        return f"drop_prob={round(self.drop_prob, 3):0.3f}"


class StochasticDepth(torch.nn.Module):
    """torchvision's ``ops.StochasticDepth(p, mode)`` over :func:`stochastic_depth`."""

    def __init__(
        self, p: float, mode: str, *, generator: Optional[pydropout.Generator] = None
    ) -> None:
        super().__init__()
        self.p = check_p(p)
        self.mode = pm.check_path_mode(mode)
        self.generator = check_generator(generator)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(input, self.p, self.mode, self.training, generator=self.generator)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p}, mode={self.mode})"


# -- zoneout -----------------------------------------------------------------------------------
class _ZoneoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, prev: torch.Tensor, new: torch.Tensor, p: float, training: bool, generator: Any
    ) -> torch.Tensor:
        pa, na = _as_numpy(prev, "prev"), _as_numpy(new, "new")
        if training:
            y, mask = pm.zoneout_train(api.pipeline, pa, na, p, generator, None, "mask")
        else:
            y, mask = pm.zoneout_eval(api.pipeline, pa, na, p, generator, None), None
        ctx.args = (mask, p)
        return _as_tensor(y, prev.dtype)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        mask, p = ctx.args
        if mask is None:  # evaluation: dtype(p) * prev + dtype(1 - p) * new
            ga = _as_numpy(g, "grad")
            dprev = g * _as_tensor(np.array(p).astype(ga.dtype), g.dtype)
            dnew = g * _as_tensor(np.array(1.0 - p).astype(ga.dtype), g.dtype)
            return dprev, dnew, None, None, None
        dnew = _Elements.apply(g, mask, 0.0, "downscale_in_infer")  # g where new was taken
        taken_prev = np.invert(mask)
        tail = g.numel() % 8
        if tail:  # a packed mask keeps its padding bits 0
            taken_prev[-1] &= (1 << tail) - 1
        dprev = _Elements.apply(g, taken_prev, 0.0, "downscale_in_infer")
        return dprev, dnew, None, None, None


def zoneout(
    prev: torch.Tensor,
    new: torch.Tensor,
    p: float,
    training: bool = True,
    *,
    generator: Optional[pydropout.Generator] = None,
) -> torch.Tensor:
    """:func:`pydropout.zoneout` on tensors, differentiable in ``prev`` and ``new``."""
    pm._pair(_as_numpy(prev, "prev"), _as_numpy(new, "new"))
    p = check_p(p)
    check_generator(generator)
    return _ZoneoutFunction.apply(prev, new, p, bool(training), generator)


class Zoneout(torch.nn.Module):
    """Zoneout (Krueger et al. 2017) for recurrent states: ``forward(prev, new)`` keeps each
    element of ``prev`` with probability ``p``, else takes ``new``; evaluation mixes them,
    ``dtype(p) * prev + dtype(1 - p) * new``."""

    def __init__(self, p: float, *, generator: Optional[pydropout.Generator] = None):
        super().__init__()
        self.p = check_p(p)
        self.generator = check_generator(generator)

    def forward(self, prev: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        return zoneout(prev, new, self.p, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# -- Gaussian noise ----------------------------------------------------------------------------
class _NoiseFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, stddev: float, generator: Any) -> torch.Tensor:
        y = pm.gaussian_noise_train(api.pipeline, _as_numpy(x), stddev, generator, None)
        return _as_tensor(y, x.dtype)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        return g, None, None  # the noise does not depend on x


def gaussian_noise(
    x: torch.Tensor,
    stddev: float,
    training: bool = True,
    *,
    generator: Optional[pydropout.Generator] = None,
) -> torch.Tensor:
    """:func:`pydropout.gaussian_noise` on tensors: ``x + dtype(stddev * z)`` in training."""
    _as_numpy(x)
    stddev = pm.check_stddev(stddev)
    check_generator(generator)
    if not training:
        return x
    return _NoiseFunction.apply(x, stddev, generator)


class GaussianNoise(torch.nn.Module):
    """Keras's ``GaussianNoise(stddev)``: additive zero-mean noise in training only."""

    def __init__(self, stddev: float, *, generator: Optional[pydropout.Generator] = None):
        super().__init__()
        self.stddev = pm.check_stddev(stddev)
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian_noise(x, self.stddev, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"


# -- DropConnect -------------------------------------------------------------------------------
class _WeightFunction(torch.autograd.Function):
    """Dropout of a parameter tensor; the gradient flows back to the raw parameter."""

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, p: float, generator: Any) -> torch.Tensor:
        y, mask = pydropout.dropout_with_mask(_as_numpy(w, "weight"), p, generator=generator)
        ctx.args = (mask, p, "upscale_in_train")
        return _as_tensor(y, w.dtype)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        return _Elements.apply(g, *ctx.args), None, None


class WeightDropout(torch.nn.Module):
    """DropConnect (Wan et al. 2013) on the named parameters of ``module``, as AWD-LSTM's
    ``WeightDrop``: each training forward drops the raw parameters with a fresh mask
    (``pydropout.dropout``, upscaled by ``1 / (1 - p)``) and runs ``module`` with the
    dropped tensors in their place (``torch.func.functional_call``); gradients reach the
    raw parameters. Evaluation runs ``module`` with them unchanged. The wrapper owns no
    state of its own: ``state_dict`` holds the module's raw parameters (under
    ``module.``). Works for ``nn.Linear``, ``nn.Conv*d`` and the ``weight_hh_l*`` of
    ``nn.LSTM``/``nn.GRU``.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        p: float,
        weights: Sequence[str] = ("weight",),
        *,
        generator: Optional[pydropout.Generator] = None,
    ):
        super().__init__()
        if isinstance(weights, str):
            weights = (weights,)
        params = dict(module.named_parameters())
        for name in weights:
            if name not in params:
                raise ValueError(
                    f"weights names {name!r}, which is not a parameter of "
                    f"{type(module).__name__} (it has {sorted(params)})"
                )
        self.module = module
        self.p = check_p(p)
        self.weights: Tuple[str, ...] = tuple(weights)
        self.generator = check_generator(generator)

    def dropped_weights(self) -> Dict[str, torch.Tensor]:
        """Fresh dropped copies of the named parameters (differentiable in the raw ones)."""
        params = dict(self.module.named_parameters())
        return {
            name: _WeightFunction.apply(params[name], self.p, self.generator)
            for name in self.weights
        }

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.training or self.p == 0.0:
            return self.module(*args, **kwargs)
        return torch.func.functional_call(self.module, self.dropped_weights(), args, kwargs)

    def extra_repr(self) -> str:
        return f"p={self.p}, weights={self.weights}"
