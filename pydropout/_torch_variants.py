"""PyTorch modules and functions of the variants of modern networks, backed by pydropout.

``pydropout.torch`` re-exports them. With the signatures users know:

* ``drop_path(x, drop_prob=0., training=False, scale_by_keep=True)`` and
  ``DropPath(drop_prob=0., scale_by_keep=True)``: timm's (``timm.layers.drop``);
* ``stochastic_depth(input, p, mode, training=True)`` and ``StochasticDepth(p, mode)``:
  torchvision's (``torchvision.ops.stochastic_depth``);
* ``Zoneout(p)`` (``forward(prev, new)``), ``GaussianNoise(stddev)`` and
  ``WeightDropout(module, p, weights=("weight",), *, generator=None)``: DropConnect on the
  named parameters of ``module``, as AWD-LSTM's ``WeightDrop``.

Each is a ``torch.library`` operator with torch's transforms (:mod:`pydropout._torch_ops`):
drop_path and stochastic_depth are dropout with the noise shape ``(N, 1, ..., 1)`` (row
mode; ``(1, ..., 1)`` in batch mode; ``"downscale_in_infer"`` without ``scale_by_keep``),
bit for bit as the contract says, WeightDropout drops the parameters with
:func:`pydropout.torch.dropout`'s operator, and zoneout and Gaussian noise have their own
(:mod:`pydropout._torch_ops_modern`). The masks come from a :class:`pydropout.Generator`
(``generator=``, else ``pydropout.default_generator``), so they are the bits of
``pydropout.drop_path`` & co. on the same state. Every backward applies the forward's mask
(never a fresh draw) and is itself differentiable. A dropped sample is exactly ``+0.0``,
even where the input is NaN or inf (timm and torchvision multiply by zero).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

import pydropout

from . import _pipeline_modern as pm
from . import _torch_ops as ops
from . import _torch_ops_modern as modern
from ._checks import DOWNSCALE, UPSCALE, check_generator, check_p
from ._torch_common import check_tensor

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


def _check(t: Any, name: str = "input") -> torch.Tensor:
    """The checks of a tensor argument (the NumPy functions' messages, torch-level)."""
    return check_tensor(t, name, owner="pydropout", bf16_import_error=True)


def _generator(generator: Any) -> Any:
    return generator if generator is not None else pydropout.default_generator


def _dropout(x: torch.Tensor, p: float, mode: str, noise: Any, generator: Any) -> torch.Tensor:
    """pydropout.torch's dropout operator over ``x``; ``noise`` the mask's shape, or None."""
    words = math.prod(noise) if noise is not None else x.numel()
    return ops.run(
        ops.DROPOUT, _generator(generator), words, (x,), (p, "dropout", mode, noise, False)
    )


# -- drop_path / stochastic_depth --------------------------------------------------------------
def _drop_path(
    x: torch.Tensor, p: Any, training: bool, mode: str, scale: bool, generator: Any
) -> torch.Tensor:
    _check(x)
    p = check_p(p)
    pm.path_rows(tuple(x.shape), pm.check_path_mode(mode))
    check_generator(generator)
    if not training or p == 0.0:
        return x  # the very tensor, as timm and torchvision return it
    # one word a sample (row) or one for all (batch): dropout over that noise shape
    lead = x.shape[0] if mode == "row" else 1
    noise = [lead] + [1] * (x.dim() - 1) if x.dim() else None
    return _dropout(x, p, UPSCALE if scale else DOWNSCALE, noise, generator)


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
def zoneout(
    prev: torch.Tensor,
    new: torch.Tensor,
    p: float,
    training: bool = True,
    *,
    generator: Optional[pydropout.Generator] = None,
) -> torch.Tensor:
    """:func:`pydropout.zoneout` on tensors, differentiable in ``prev`` and ``new``."""
    _pair(_check(prev, "prev"), _check(new, "new"))
    p = check_p(p)
    check_generator(generator)
    if not training:
        return ops.apply(modern.ZONEOUT_EVAL, prev, new, p)
    return ops.run(modern.ZONEOUT, _generator(generator), prev.numel(), (prev, new), (p, 0))


def _pair(prev: torch.Tensor, new: torch.Tensor) -> None:
    """One shape and one dtype, with the messages of :func:`pydropout.zoneout`."""
    if new.shape != prev.shape:
        raise ValueError(
            f"new has shape {tuple(new.shape)}, prev has {tuple(prev.shape)}: they must match"
        )
    if new.dtype != prev.dtype:
        raise ValueError(f"new has dtype {_name(new)}, prev has {_name(prev)}: they must match")


def _name(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


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
def gaussian_noise(
    x: torch.Tensor,
    stddev: float,
    training: bool = True,
    *,
    generator: Optional[pydropout.Generator] = None,
) -> torch.Tensor:
    """:func:`pydropout.gaussian_noise` on tensors: ``x + dtype(stddev * z)`` in training."""
    _check(x)
    stddev = pm.check_stddev(stddev)
    check_generator(generator)
    if not training:
        return x
    return ops.run(modern.NOISE, _generator(generator), x.numel(), (x,), (stddev, None))


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
            name: _dropout(_check(params[name], "weight"), self.p, UPSCALE, None, self.generator)
            for name in self.weights
        }

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.training or self.p == 0.0:
            return self.module(*args, **kwargs)
        return torch.func.functional_call(self.module, self.dropped_weights(), args, kwargs)

    def extra_repr(self) -> str:
        return f"p={self.p}, weights={self.weights}"
