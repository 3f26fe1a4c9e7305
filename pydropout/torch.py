"""PyTorch layers backed by pydropout: ``torch.nn.Dropout`` and friends, reproducible.

``pip install "pydropout[torch]"``. Drop-in replacements with the signatures of
``torch.nn`` / ``torch.nn.functional``::

    import pydropout.torch as pdt
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                pdt.Dropout(0.5), torch.nn.Linear(256, 10))

How it works: a CPU tensor is viewed as a NumPy array without a copy
(``tensor.numpy()``), pydropout's core computes the output and the packed keep mask in one
pass, and the output array becomes the output tensor, again without a copy. The forward
runs inside a ``torch.autograd.Function`` that saves only the packed mask, one bit per
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
  work (element ``i`` is the i-th in logical C order); outputs are C-contiguous.
* ``Dropout2d`` on a 3-D input does what torch does today: channels along dimension 1
  of ``(N, C, L)``. Inputs of other ranks than torch documents raise ValueError instead
  of a deprecation warning.

Importing ``pydropout`` never imports torch; importing ``pydropout.torch`` does.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch

import pydropout

from . import _spec
from ._checks import UPSCALE, check_generator, check_mode, check_p, check_save

__all__ = [
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "alpha_dropout",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
]

_NUMPY_DTYPES = {torch.float16: np.float16, torch.float32: np.float32,
                 torch.float64: np.float64}


def _bfloat16() -> Any:
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes.bfloat16


def _as_numpy(t: torch.Tensor, name: str = "input") -> np.ndarray:
    """A NumPy view (no copy) of the CPU tensor ``t``; a clear error for anything else."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(
            f"{name} is on device {t.device}; pydropout.torch runs on CPU tensors only "
            f"(move it with .cpu(), or use torch.nn.functional.dropout on {t.device.type})"
        )
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}")
    t = t.detach()
    if t.dtype in _NUMPY_DTYPES:
        return t.numpy()
    if t.dtype == torch.bfloat16:
        bf16 = _bfloat16()
        if bf16 is None:
            raise TypeError(f"{name} has dtype torch.bfloat16, which needs ml_dtypes "
                            "(pip install ml_dtypes)")
        return t.view(torch.int16).numpy().view(bf16)
    raise TypeError(f"{name} must have dtype float16, bfloat16, float32 or float64, "
                    f"got {t.dtype}")


def _as_tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """The tensor over the NumPy array ``a`` (no copy)."""
    if dtype == torch.bfloat16:
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _check_training_args(p: Any, mode: Any, generator: Any) -> float:
    p = check_p(p)
    check_mode(mode)
    check_generator(generator)
    return p


class _DropoutFunction(torch.autograd.Function):
    """Forward through pydropout's core; saves the packed mask (1 bit per mask element) or,
    with ``save="state"``, only the generator state (the backward draws the mask again)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float, mode: str, noise_shape: Optional[tuple],
                generator: Any, inplace: bool, save: str) -> torch.Tensor:
        xa = _as_numpy(x)
        run = pydropout.dropout_with_state if save == "state" else pydropout.dropout_with_mask
        if inplace:
            _, token = run(xa, p, mode=mode, noise_shape=noise_shape, generator=generator,
                           out=xa)
            ctx.mark_dirty(x)
            y = x
        else:
            ya, token = run(xa, p, mode=mode, noise_shape=noise_shape, generator=generator)
            y = _as_tensor(ya, x.dtype)
        ctx.state = None
        if save == "state":
            ctx.state = token
        else:
            ctx.save_for_backward(torch.from_numpy(token))
        ctx.p, ctx.mode, ctx.noise_shape = p, mode, noise_shape
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        token = ctx.state if ctx.state is not None else ctx.saved_tensors[0]
        dx = _MaskFunction.apply(grad, token, ctx.p, ctx.mode, ctx.noise_shape)
        return dx, None, None, None, None, None, None


class _MaskFunction(torch.autograd.Function):
    """``grad -> dropout_backward(grad, mask, p)``: linear and diagonal, so its own adjoint.

    ``token`` is the packed mask as a uint8 tensor, or a :class:`pydropout.DropoutState`.
    """

    @staticmethod
    def forward(ctx: Any, grad: torch.Tensor, token: Any, p: float, mode: str,
                noise_shape: Optional[tuple]) -> torch.Tensor:
        ga = _as_numpy(grad, "grad")
        ctx.state = None
        if isinstance(token, torch.Tensor):
            mask: Any = token.numpy()
            ctx.save_for_backward(token)
        else:
            mask = ctx.state = token
        dx = pydropout.dropout_backward(ga, mask, p, mode=mode, noise_shape=noise_shape)
        ctx.p, ctx.mode, ctx.noise_shape = p, mode, noise_shape
        return _as_tensor(dx, grad.dtype)

    @staticmethod
    def backward(ctx: Any, gg: torch.Tensor):
        token = ctx.state if ctx.state is not None else ctx.saved_tensors[0]
        dgrad = _MaskFunction.apply(gg, token, ctx.p, ctx.mode, ctx.noise_shape)
        return dgrad, None, None, None, None


def _evaluate(input: torch.Tensor, p: float, mode: str, inplace: bool) -> torch.Tensor:
    if mode == UPSCALE:
        return input  # the very tensor, as torch does
    np_dtype = _NUMPY_DTYPES.get(input.dtype) or _bfloat16() or np.float32
    factor = _spec.eval_factor(p, np.dtype(np_dtype))  # dtype(1 - p)
    return input.mul_(factor) if inplace else input * factor


def _run(input: torch.Tensor, p: Any, training: bool, inplace: bool, mode: Any,
         generator: Any, noise_shape: Optional[tuple], save: Any) -> torch.Tensor:
    _as_numpy(input)  # device, layout and dtype checks before anything else
    p = _check_training_args(p, mode, generator)
    save = check_save(save)
    if not training:
        return _evaluate(input, p, mode, bool(inplace))
    return _DropoutFunction.apply(input, p, mode, noise_shape, generator, bool(inplace), save)


def dropout(input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            *, mode: str = UPSCALE, generator: Optional[pydropout.Generator] = None,
            save: str = "mask") -> torch.Tensor:
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
        ``input.numel()`` words, so the result equals ``pydropout.dropout`` of
        ``input.numpy()`` at the same generator state.
    save : {"mask", "state"}
        What the autograd graph keeps for the backward: the packed mask (``ceil(n / 8)``
        bytes), or only the generator state (a few integers; the backward draws the same
        mask again, which costs about as much as the forward's draw).

    Returns
    -------
    torch.Tensor
        Differentiable: the backward applies the saved packed mask.

    Examples
    --------
    >>> import torch, pydropout, pydropout.torch as pdt
    >>> x = torch.arange(1.0, 9.0)
    >>> pdt.dropout(x, 0.5, generator=pydropout.Generator(0x0123456789ABCDEF))
    tensor([ 2.,  4.,  0.,  0., 10.,  0.,  0., 16.])
    """
    return _run(input, p, training, inplace, mode, generator, None, save)


def _channel_noise_shape(shape: Sequence[int], batched: bool) -> tuple:
    """Mask over (N, C) (or C when unbatched), broadcast over the spatial dimensions."""
    lead = 2 if batched else 1
    return tuple(shape[:lead]) + (1,) * (len(shape) - lead)


def _dropout_nd(save: Any, name: str, ranks: Tuple[int, int], input: torch.Tensor, p: Any,
                training: bool, inplace: bool, mode: Any, generator: Any) -> torch.Tensor:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if input.dim() not in ranks:
        raise ValueError(f"{name}: expected a {ranks[0]}-D (unbatched) or {ranks[1]}-D input, "
                         f"got {input.dim()}-D with shape {tuple(input.shape)}")
    # torch's dropout2d reads a 3-D input as (N, C, L): channels along dimension 1
    batched = input.dim() == ranks[1] or name == "dropout2d"
    noise = _channel_noise_shape(input.shape, batched)
    return _run(input, p, training, inplace, mode, generator, noise, save)


def dropout1d(input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              *, mode: str = UPSCALE, generator: Optional[pydropout.Generator] = None,
              save: str = "mask") -> torch.Tensor:
    """Channel dropout of ``(N, C, L)`` or ``(C, L)`` inputs (``torch.nn.functional.dropout1d``).

    Whole channels are zeroed: the mask is drawn over ``(N, C, 1)`` (``noise_shape``),
    consuming ``N * C`` words, and broadcast along ``L``. Otherwise as :func:`dropout`.
    """
    return _dropout_nd(save, "dropout1d", (2, 3), input, p, training, inplace, mode, generator)


def dropout2d(input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              *, mode: str = UPSCALE, generator: Optional[pydropout.Generator] = None,
              save: str = "mask") -> torch.Tensor:
    """Channel dropout of ``(N, C, H, W)`` inputs (``torch.nn.functional.dropout2d``).

    The mask is drawn over ``(N, C, 1, 1)``. A 3-D input is read as ``(N, C, L)``, as
    torch does today. Otherwise as :func:`dropout`.
    """
    return _dropout_nd(save, "dropout2d", (3, 4), input, p, training, inplace, mode, generator)


def dropout3d(input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              *, mode: str = UPSCALE, generator: Optional[pydropout.Generator] = None,
              save: str = "mask") -> torch.Tensor:
    """Channel dropout of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs
    (``torch.nn.functional.dropout3d``): the mask is drawn over ``(N, C, 1, 1, 1)``."""
    return _dropout_nd(save, "dropout3d", (4, 5), input, p, training, inplace, mode, generator)


def alpha_dropout(input: torch.Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False, *, generator: Optional[pydropout.Generator] = None
                  ) -> torch.Tensor:
    """Alpha dropout for SELU networks (``torch.nn.functional.alpha_dropout``).

    Dropped elements take SELU's negative saturation value and an affine map keeps the mean
    and variance (Klambauer et al. 2017), exactly as :func:`pydropout.alpha_dropout`
    computes it; the backward is ``grad * a`` where kept, ``+0.0`` where dropped. Note
    ``training=False`` by default, as in torch.
    """
    return _alpha(input, p, training, inplace, generator, None)


def feature_alpha_dropout(input: torch.Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False, *,
                          generator: Optional[pydropout.Generator] = None) -> torch.Tensor:
    """Alpha dropout of whole channels (``torch.nn.functional.feature_alpha_dropout``).

    For inputs of 2 or more dimensions ``(N, C, ...)``: the mask is drawn over
    ``(N, C, 1, ...)`` and broadcast, as torch does. Otherwise as :func:`alpha_dropout`.
    """
    if isinstance(input, torch.Tensor) and input.dim() < 2:
        raise ValueError("feature_alpha_dropout: expected an input of 2 or more dimensions "
                         f"(N, C, ...), got shape {tuple(input.shape)}")
    noise = _channel_noise_shape(input.shape, True) if isinstance(input, torch.Tensor) else None
    return _alpha(input, p, training, inplace, generator, noise)


def _alpha(input: torch.Tensor, p: Any, training: bool, inplace: bool, generator: Any,
           noise_shape: Optional[tuple]) -> torch.Tensor:
    _as_numpy(input)
    p = _check_training_args(p, UPSCALE, generator)
    if not training:
        return input
    return _AlphaDropoutFunction.apply(input, p, noise_shape, generator, bool(inplace))


class _AlphaDropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float, noise_shape: Optional[tuple],
                generator: Any, inplace: bool) -> torch.Tensor:
        xa = _as_numpy(x)
        if inplace:
            _, mask = pydropout.alpha_dropout_with_mask(xa, p, noise_shape=noise_shape,
                                                        generator=generator, out=xa)
            ctx.mark_dirty(x)
            y = x
        else:
            ya, mask = pydropout.alpha_dropout_with_mask(xa, p, noise_shape=noise_shape,
                                                         generator=generator)
            y = _as_tensor(ya, x.dtype)
        ctx.save_for_backward(torch.from_numpy(mask))
        ctx.p, ctx.noise_shape = p, noise_shape
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return _AlphaMaskFunction.apply(grad, mask, ctx.p, ctx.noise_shape), None, None, None, None


class _AlphaMaskFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, grad: torch.Tensor, mask: torch.Tensor, p: float,
                noise_shape: Optional[tuple]) -> torch.Tensor:
        dx = pydropout.alpha_dropout_backward(_as_numpy(grad, "grad"), mask.numpy(), p,
                                              noise_shape=noise_shape)
        ctx.save_for_backward(mask)
        ctx.p, ctx.noise_shape = p, noise_shape
        return _as_tensor(dx, grad.dtype)

    @staticmethod
    def backward(ctx: Any, gg: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return _AlphaMaskFunction.apply(gg, mask, ctx.p, ctx.noise_shape), None, None, None


# ---------------------------------------------------------------------------------------
# modules


class _DropoutNd(torch.nn.Module):
    __constants__ = ["p", "inplace"]

    def __init__(self, p: float = 0.5, inplace: bool = False, *, mode: str = UPSCALE,
                 generator: Optional[pydropout.Generator] = None, save: str = "mask") -> None:
        super().__init__()
        check_p(p)
        self.p = p
        self.inplace = inplace
        self.mode = check_mode(mode)
        self.generator = check_generator(generator)
        self.save = check_save(save)

    def extra_repr(self) -> str:
        s = f"p={self.p}, inplace={self.inplace}"
        if self.mode != UPSCALE:
            s += f", mode={self.mode!r}"
        if self.save != "mask":
            s += f", save={self.save!r}"
        return s


class Dropout(_DropoutNd):
    """``torch.nn.Dropout`` computed by pydropout: see :func:`dropout`.

    Parameters
    ----------
    p : float
        Drop probability in [0, 1].
    inplace : bool
        Write into the input.
    mode : {"upscale_in_train", "downscale_in_infer"}
        Scaling convention (see :func:`pydropout.dropout`).
    generator : pydropout.Generator, optional
        Source of the masks; ``pydropout.default_generator`` when None.
    save : {"mask", "state"}
        Keep the packed mask for the backward, or only the generator state.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout(input, self.p, self.training, self.inplace, mode=self.mode,
                       generator=self.generator, save=self.save)


class Dropout1d(_DropoutNd):
    """``torch.nn.Dropout1d``: zero channels of ``(N, C, L)`` or ``(C, L)``; see
    :func:`dropout1d`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout1d(input, self.p, self.training, self.inplace, mode=self.mode,
                         generator=self.generator, save=self.save)


class Dropout2d(_DropoutNd):
    """``torch.nn.Dropout2d``: zero whole channels of ``(N, C, H, W)``; see :func:`dropout2d`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout2d(input, self.p, self.training, self.inplace, mode=self.mode,
                         generator=self.generator, save=self.save)


class Dropout3d(_DropoutNd):
    """``torch.nn.Dropout3d``: zero whole channels of ``(N, C, D, H, W)``; see :func:`dropout3d`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout3d(input, self.p, self.training, self.inplace, mode=self.mode,
                         generator=self.generator, save=self.save)


class _AlphaDropoutBase(torch.nn.Module):
    __constants__ = ["p", "inplace"]

    def __init__(self, p: float = 0.5, inplace: bool = False, *,
                 generator: Optional[pydropout.Generator] = None) -> None:
        super().__init__()
        check_p(p)
        self.p = p
        self.inplace = inplace
        self.generator = check_generator(generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class AlphaDropout(_AlphaDropoutBase):
    """``torch.nn.AlphaDropout`` computed by pydropout: see :func:`alpha_dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return alpha_dropout(input, self.p, self.training, self.inplace, generator=self.generator)


class FeatureAlphaDropout(_AlphaDropoutBase):
    """``torch.nn.FeatureAlphaDropout``: see :func:`feature_alpha_dropout`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return feature_alpha_dropout(input, self.p, self.training, self.inplace,
                                     generator=self.generator)
