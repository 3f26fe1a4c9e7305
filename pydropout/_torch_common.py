"""What the torch modules share: the tensor checks, NumPy views of CPU tensors and back,
and the bfloat16 dtype.

Used by :mod:`pydropout._torch_ops` and :mod:`pydropout._torch_ops_modern` (the
operators), and by :mod:`pydropout.torch`, :mod:`pydropout._torch_variants` and
:mod:`pydropout._torch_dropblock` (the functions and modules).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import torch

NUMPY_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def bfloat16() -> Any:
    """ml_dtypes' bfloat16, or None where ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes.bfloat16


def check_tensor(
    t: Any,
    name: str = "input",
    *,
    owner: str = "pydropout.torch",
    device_hint: str = "",
    bf16_hint: str = "",
    bf16_import_error: bool = False,
) -> torch.Tensor:
    """``t`` if it is a dense CPU tensor of a floating dtype; a clear error for anything else.

    Torch-level checks only, so that compiled graphs trace them. ``owner`` names the library
    in the error for a tensor on another device, ``device_hint`` (formatted with the device
    ``type``) and ``bf16_hint`` end those errors. Without ml_dtypes a bfloat16 tensor raises
    TypeError, or (``bf16_import_error``) ImportError; a compiled graph never needs it.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(
            f"{name} is on device {t.device}; {owner} runs on CPU tensors only"
            + device_hint.format(type=t.device.type)
        )
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}")
    if t.dtype not in FLOATS:
        raise TypeError(
            f"{name} must have dtype float16, bfloat16, float32 or float64, got {t.dtype}"
        )
    if t.dtype == torch.bfloat16 and not torch.compiler.is_compiling() and bfloat16() is None:
        if bf16_import_error:
            import ml_dtypes  # noqa: F401  (raises the ImportError)
        raise TypeError(f"{name} has dtype torch.bfloat16, which needs ml_dtypes{bf16_hint}")
    return t


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view (no copy) of a checked CPU tensor (bfloat16 as ml_dtypes.bfloat16)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(bfloat16())
    return t.numpy()


def as_numpy(
    t: Any, name: str = "input", *, owner: str = "pydropout.torch", bf16_import_error: bool = False
) -> np.ndarray:
    """A NumPy view (no copy) of the CPU tensor ``t``, after :func:`check_tensor`."""
    check_tensor(t, name, owner=owner, bf16_import_error=bf16_import_error)
    return to_numpy(t)


def as_tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """The tensor over the array ``a`` (no copy; bfloat16 through its int16 view)."""
    if dtype == torch.bfloat16:
        return torch.from_numpy(np.asarray(a).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.asarray(a))


def public(
    function: Callable[..., Any], name: str, doc: str, like: Callable[..., Any], **annotations: str
) -> Callable[..., torch.Tensor]:
    """``function`` named ``name`` with the docstring ``doc``; its annotations are those of the
    parameters of the same names in ``like``, then ``annotations`` (``return`` among them)."""
    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    known = {k: v for k, v in like.__annotations__.items() if k != "return"}
    params = inspect.signature(function).parameters
    function.__annotations__ = {**{k: known[k] for k in params if k in known}, **annotations}
    return function
