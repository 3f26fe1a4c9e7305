"""What the torch modules share: NumPy views of CPU tensors and the bfloat16 dtype.

Used by :mod:`pydropout._torch_ops` (so :mod:`pydropout.torch`),
:mod:`pydropout._torch_dropblock` and :mod:`pydropout._torch_variants`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

NUMPY_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def bfloat16() -> Any:
    """ml_dtypes' bfloat16, or None where ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes.bfloat16


def as_numpy(
    t: Any, name: str = "input", *, owner: str = "pydropout.torch", bf16_import_error: bool = False
) -> np.ndarray:
    """A NumPy view (no copy) of the CPU tensor ``t``; a clear error for anything else.

    ``owner`` names the library in the error for a tensor on another device. Without
    ml_dtypes a bfloat16 tensor raises TypeError, or (``bf16_import_error``) ImportError.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name} is on device {t.device}; {owner} runs on CPU tensors only")
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}")
    t = t.detach()
    if t.dtype in NUMPY_DTYPES:
        return t.numpy()
    if t.dtype == torch.bfloat16:
        bf16 = bfloat16()
        if bf16 is None:
            if bf16_import_error:
                import ml_dtypes  # noqa: F401  (raises the ImportError)
            raise TypeError(f"{name} has dtype torch.bfloat16, which needs ml_dtypes")
        return t.view(torch.int16).numpy().view(bf16)
    raise TypeError(f"{name} must have dtype float16, bfloat16, float32 or float64, got {t.dtype}")
