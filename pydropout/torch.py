"""PyTorch layers backed by pydropout: ``torch.nn.Dropout`` and friends, reproducible.

``pip install "pydropout[torch]"``. Drop-in replacements with the signatures of
``torch.nn`` / ``torch.nn.functional``::

    import pydropout.torch as pdt
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                pdt.Dropout(0.5), torch.nn.Linear(256, 10))

How it works: a CPU tensor is viewed as a NumPy array without a copy
(``tensor.numpy()``), pydropout's core computes the output and the packed keep mask in one
pass, and the output array becomes the output tensor, again without a copy. The forward
is a ``torch.library`` operator whose autograd saves only the packed mask, one bit per
element: 8 times less memory than the bool mask torch keeps. The backward applies that
mask (never a fresh draw) and is itself differentiable, so higher-order gradients work.
With ``save="state"`` the graph keeps no tensor at all, only the generator state of the
forward pass, and the backward draws the same mask again.

Layers: ``Dropout``, ``Dropout1d``, ``Dropout2d``, ``Dropout3d``, ``AlphaDropout``,
``FeatureAlphaDropout``; functions: ``dropout``, ``dropout1d/2d/3d``, ``alpha_dropout``,
``feature_alpha_dropout``.

Differences from ``torch.nn``:

* The masks come from a :class:`pydropout.Generator` (``generator=``, else
  ``pydropout.default_generator``), not from torch's generator: ``torch.manual_seed``
  does not change them; ``pydropout.manual_seed`` or a ``Generator(seed)`` does. The
  result is the same bits as ``pydropout.dropout`` on the same array and state, on every
  machine, SIMD level and thread count.
* ``mode="downscale_in_infer"`` (Srivastava et al. 2014) is available beside torch's
  ``"upscale_in_train"``.
* A dropped element is exactly ``+0.0``, even where the input is NaN or inf.
* Only CPU tensors of dtype float16, float32, float64 (and bfloat16 when ``ml_dtypes``
  is installed). Other devices and dtypes raise a clear error. Non-contiguous tensors
  work (element ``i`` is the i-th in logical C order); outputs keep the input's memory
  layout when it is dense (``channels_last``, permuted), else are C-contiguous.
* ``Dropout2d`` on a 3-D input does what torch does today, with torch's warning:
  channels along dimension 1 of ``(N, C, L)``. Inputs of other ranks than torch
  documents raise ValueError instead of a deprecation warning.
* The operators are ``torch.library`` custom ops (``pydropout::dropout_fwd``,
  ``pydropout::dropout_bwd``) with fake tensors, autograd, vmap and forward AD:
  ``torch.compile(fullgraph=True)``, ``torch.export`` and ``torch.func`` work, with the
  same bits as eager mode. A compiled or exported graph names its generator by a key of
  this process (``pydropout::gen_read``): an exported program runs in the process that
  exported it, not after ``torch.export.save``/``load`` elsewhere.

Importing ``pydropout`` never imports torch; importing ``pydropout.torch`` does.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np
import torch

import pydropout

from . import _spec
from . import _torch_ops as _ops
from ._checks import (
    UPSCALE,
    check_generator,
    check_mode,
    check_noise_shape,
    check_p,
    check_save,
)
from ._torch_common import check_tensor, public
from ._torch_dropblock import DropBlock2d, DropBlock3d, drop_block2d, drop_block3d
from ._torch_variants import (
    DropPath,
    GaussianNoise,
    StochasticDepth,
    WeightDropout,
    Zoneout,
    drop_path,
    gaussian_noise,
    stochastic_depth,
    zoneout,
)

__all__ = [
    "AlphaDropout",
    "DropBlock2d",
    "DropBlock3d",
    "DropPath",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "GaussianNoise",
    "StochasticDepth",
    "WeightDropout",
    "Zoneout",
    "alpha_dropout",
    "drop_block2d",
    "drop_block3d",
    "drop_path",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
    "gaussian_noise",
    "stochastic_depth",
    "zoneout",
]

_EVAL_DTYPES = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.bfloat16: np.float32,
}
_DEVICE_HINT = " (move it with .cpu(), or use torch.nn.functional.dropout on {type})"


def _check_tensor(t: Any, name: str = "input") -> None:
    """Device, layout and dtype checks (torch-level, so that compiled graphs trace them)."""
    check_tensor(t, name, device_hint=_DEVICE_HINT, bf16_hint=" (pip install ml_dtypes)")


def _check_training_args(p: Any, mode: Any, generator: Any) -> float:
    p = check_p(p)
    check_mode(mode)
    check_generator(generator)
    return p


def _forward(
    input: torch.Tensor,
    p: float,
    kind: str,
    mode: str,
    noise: Optional[list],
    generator: Any,
    keep_state: bool,
    inplace: bool,
) -> torch.Tensor:
    gen = generator if generator is not None else pydropout.default_generator
    words = math.prod(noise) if noise is not None else input.numel()
    y = _ops.run(_ops.DROPOUT, gen, words, (input,), (p, kind, mode, noise, keep_state))
    if inplace:
        return input.copy_(y)
    return y


def _evaluate(input: torch.Tensor, p: float, mode: str, inplace: bool) -> torch.Tensor:
    if mode == UPSCALE:
        return input  # the very tensor, as torch does
    factor = _spec.eval_factor(p, np.dtype(_EVAL_DTYPES[input.dtype]))  # dtype(1 - p)
    return input.mul_(factor) if inplace else input * factor


def _noise(noise_shape: Any, shape: Sequence[int]) -> Optional[list]:
    """``noise_shape`` checked against ``shape`` and padded to its rank (None: no noise)."""
    noise = check_noise_shape(noise_shape, tuple(shape))
    return list(noise) if noise is not None else None


def _run(
    input: torch.Tensor,
    p: Any,
    training: bool,
    inplace: bool,
    mode: Any,
    generator: Any,
    noise: Optional[list],
    save: Any,
) -> torch.Tensor:
    _check_tensor(input)  # device, layout and dtype checks before anything else
    p = _check_training_args(p, mode, generator)
    save = check_save(save)
    if not training:
        return _evaluate(input, p, mode, bool(inplace))
    return _forward(input, p, "dropout", mode, noise, generator, save == "state", bool(inplace))


def dropout(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    mode: str = UPSCALE,
    generator: Optional[pydropout.Generator] = None,
    save: str = "mask",
    noise_shape: Optional[Sequence[Optional[int]]] = None,
) -> torch.Tensor:
    """``torch.nn.functional.dropout`` computed by pydropout (see :func:`pydropout.dropout`).

    Parameters
    ----------
    input : torch.Tensor
        A CPU tensor of float16, bfloat16 (with ml_dtypes), float32 or float64.
    p : float
        Drop probability in [0, 1].
    training : bool
        When False nothing is drawn: ``"upscale_in_train"`` returns ``input`` itself,
        ``"downscale_in_infer"`` returns ``input * (1 - p)``.
    inplace : bool
        Write into ``input`` (autograd rules for in-place operations apply).
    mode : {"upscale_in_train", "downscale_in_infer"}
        Where the ``1 / (1 - p)`` compensation happens (see :func:`pydropout.dropout`).
    generator : pydropout.Generator, optional
        Source of the mask; ``pydropout.default_generator`` when None. A call consumes
        ``input.numel()`` words (``prod(noise_shape)`` with a noise shape), so the result
        equals ``pydropout.dropout`` of ``input.numpy()`` at the same generator state.
    save : {"mask", "state"}
        What the autograd graph keeps for the backward: the packed mask (``ceil(n / 8)``
        bytes), or only the generator state (a few integers; the backward draws the same
        mask again, which costs about as much as the forward's draw).
    noise_shape : sequence of int or None, optional
        The shape of the mask, broadcast against ``input`` (Keras' ``noise_shape``; a
        ``None`` entry takes the input's dimension), as in :func:`pydropout.dropout`.

    Returns
    -------
    torch.Tensor
        Differentiable: the backward applies the saved packed mask. The output has the
        input's memory layout (``channels_last``, permuted) when the input is dense.

    Examples
    --------
    >>> import torch, pydropout, pydropout.torch as pdt
    >>> x = torch.arange(1.0, 9.0)
    >>> pdt.dropout(x, 0.5, generator=pydropout.Generator(0x0123456789ABCDEF))
    tensor([ 2.,  4.,  0.,  0., 10.,  0.,  0., 16.])
    """
    if isinstance(input, torch.Tensor) and noise_shape is not None:
        return _run(
            input, p, training, inplace, mode, generator, _noise(noise_shape, input.shape), save
        )
    return _run(input, p, training, inplace, mode, generator, None, save)


def _channel_noise_shape(shape: Sequence[int], batched: bool) -> list:
    """Mask over (N, C) (or C when unbatched), broadcast over the spatial dimensions."""
    lead = 2 if batched else 1
    return list(shape[:lead]) + [1] * (len(shape) - lead)


_ACCEPTS = {
    "dropout1d": "a 2-D input (C, L) or a 3-D input (N, C, L)",
    "dropout2d": "a 3-D input (N, C, L), read as torch reads it, or a 4-D input (N, C, H, W)",
    "dropout3d": "a 4-D input (C, D, H, W) or a 5-D input (N, C, D, H, W)",
}

_DROPOUT2D_3D_WARNING = (
    "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
    "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
    "is the channel dim. This behavior will change in a future release to interpret the "
    "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
    "channel-wise dropout behavior, please switch to using dropout1d instead."
)


def _channel_function(name: str, ranks: Tuple[int, int], doc: str) -> Callable[..., torch.Tensor]:
    """``dropout1d``/``2d``/``3d``: :func:`dropout`'s signature without ``noise_shape``."""

    def function(
        input, p=0.5, training=True, inplace=False, *, mode=UPSCALE, generator=None, save="mask"
    ):
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
        if input.dim() not in ranks:
            raise ValueError(
                f"{name}: expected {_ACCEPTS[name]}, "
                f"got {input.dim()}-D with shape {tuple(input.shape)}"
            )
        if name == "dropout2d" and input.dim() == 3:
            # torch's dropout2d reads a 3-D input as (N, C, L): channels along dimension 1
            warnings.warn(_DROPOUT2D_3D_WARNING, UserWarning, stacklevel=2)
        batched = input.dim() == ranks[1] or name == "dropout2d"
        noise = _channel_noise_shape(input.shape, batched)
        return _run(input, p, training, inplace, mode, generator, noise, save)

    return public(function, name, doc, dropout, **{"return": "torch.Tensor"})


dropout1d = _channel_function(
    "dropout1d",
    (2, 3),
    """Channel dropout of ``(N, C, L)`` or ``(C, L)`` inputs (``torch.nn.functional.dropout1d``).

    Whole channels are zeroed: the mask is drawn over ``(N, C, 1)`` (``noise_shape``),
    consuming ``N * C`` words, and broadcast along ``L``. Otherwise as :func:`dropout`.
    """,
)
dropout2d = _channel_function(
    "dropout2d",
    (3, 4),
    """Channel dropout of ``(N, C, H, W)`` inputs (``torch.nn.functional.dropout2d``).

    The mask is drawn over ``(N, C, 1, 1)``. A 3-D input is read as ``(N, C, L)``, as
    torch does today, with torch's warning. Otherwise as :func:`dropout`.
    """,
)
dropout3d = _channel_function(
    "dropout3d",
    (4, 5),
    """Channel dropout of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs
    (``torch.nn.functional.dropout3d``): the mask is drawn over ``(N, C, 1, 1, 1)``.""",
)


def _alpha_function(name: str, doc: str) -> Callable[..., torch.Tensor]:
    """``alpha_dropout`` and ``feature_alpha_dropout``: torch's signature."""
    feature = name.startswith("feature")

    def function(input, p=0.5, training=False, inplace=False, *, generator=None):
        noise = None
        if feature and isinstance(input, torch.Tensor):
            if input.dim() < 2 and training:
                raise ValueError(
                    "feature_alpha_dropout: expected an input of 2 or more dimensions "
                    f"(N, C, ...), got shape {tuple(input.shape)}"
                )
            noise = _channel_noise_shape(input.shape, True)
        _check_tensor(input)
        p = _check_training_args(p, UPSCALE, generator)
        if not training:
            return input
        return _forward(input, p, "alpha", UPSCALE, noise, generator, False, bool(inplace))

    return public(function, name, doc, dropout, **{"return": "torch.Tensor"})


alpha_dropout = _alpha_function(
    "alpha_dropout",
    """Alpha dropout for SELU networks (``torch.nn.functional.alpha_dropout``).

    Dropped elements take SELU's negative saturation value and an affine map keeps the mean
    and variance (Klambauer et al. 2017), exactly as :func:`pydropout.alpha_dropout`
    computes it; the backward is ``grad * a`` where kept, ``+0.0`` where dropped. Note
    ``training=False`` by default, as in torch.
    """,
)
feature_alpha_dropout = _alpha_function(
    "feature_alpha_dropout",
    """Alpha dropout of whole channels (``torch.nn.functional.feature_alpha_dropout``).

    For inputs of 2 or more dimensions ``(N, C, ...)``: the mask is drawn over
    ``(N, C, 1, ...)`` and broadcast, as torch does (in evaluation any input is returned
    as it is, as torch does). Otherwise as :func:`alpha_dropout`.
    """,
)


# ---------------------------------------------------------------------------------------
# modules


class _DropoutBase(torch.nn.Module):
    """``p``, ``inplace`` and ``generator``, checked (the alpha layers' arguments)."""

    __constants__ = ["p", "inplace"]

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        generator: Optional[pydropout.Generator] = None,
    ) -> None:
        super().__init__()
        check_p(p)
        self.p = p
        self.inplace = inplace
        self.generator = check_generator(generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class _DropoutNd(_DropoutBase):
    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        mode: str = UPSCALE,
        generator: Optional[pydropout.Generator] = None,
        save: str = "mask",
    ) -> None:
        check_p(p)
        mode = check_mode(mode)  # the checks in the order of the arguments
        super().__init__(p, inplace, generator=generator)
        self.mode = mode
        self.save = check_save(save)

    def _call(self, function: Callable[..., torch.Tensor], input: torch.Tensor) -> torch.Tensor:
        options = {"mode": self.mode, "generator": self.generator, "save": self.save}
        return function(input, self.p, self.training, self.inplace, **options)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.mode != UPSCALE:
            s += f", mode={self.mode!r}"
        if self.save != "mask":
            s += f", save={self.save!r}"
        return s


class Dropout(_DropoutNd):
    """``torch.nn.Dropout`` computed by pydropout: see :func:`dropout`.

    ``p`` is the drop probability in [0, 1], ``inplace`` writes into the input; ``mode``
    (the scaling convention of :func:`pydropout.dropout`), ``generator`` (the source of the
    masks, ``pydropout.default_generator`` when None) and ``save`` (what the backward keeps:
    the packed mask, or only the generator state) are :func:`dropout`'s.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._call(dropout, input)


class Dropout1d(_DropoutNd):
    """``torch.nn.Dropout1d``: zero channels of ``(N, C, L)`` or ``(C, L)``; see
    :func:`dropout1d`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._call(dropout1d, input)


class Dropout2d(_DropoutNd):
    """``torch.nn.Dropout2d``: zero whole channels of ``(N, C, H, W)``; see :func:`dropout2d`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._call(dropout2d, input)


class Dropout3d(_DropoutNd):
    """``torch.nn.Dropout3d``: zero whole channels of ``(N, C, D, H, W)``; see :func:`dropout3d`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._call(dropout3d, input)


class AlphaDropout(_DropoutBase):
    """``torch.nn.AlphaDropout`` computed by pydropout: see :func:`alpha_dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return alpha_dropout(input, self.p, self.training, self.inplace, generator=self.generator)


class FeatureAlphaDropout(_DropoutBase):
    """``torch.nn.FeatureAlphaDropout``: see :func:`feature_alpha_dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return feature_alpha_dropout(
            input, self.p, self.training, self.inplace, generator=self.generator
        )
