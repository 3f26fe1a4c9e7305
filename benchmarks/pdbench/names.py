"""The operations the harness times, what each row calls, and the size notation."""

from __future__ import annotations

from typing import Dict, Tuple, Union

KI, MI = 1 << 10, 1 << 20
FULL_SIZES = (KI, 4 * KI, 64 * KI, MI, 16 * MI, 64 * MI)
DTYPES = ("float32", "float64", "float16")
OPS = ("forward", "forward_mask", "mask", "backward")  # plain dropout
# the backward from a DropoutState, the variants, and pydropout.torch through autograd
VARIANT_OPS = ("alpha", "alpha_backward", "gaussian", "channel")
EXTRA_OPS = ("backward_state",) + VARIANT_OPS + ("torch_fwd_bwd",)
ALL_OPS = OPS + EXTRA_OPS
EXTRA_SIZES = (MI, 16 * MI)  # the extra ops' sizes and dtypes unless --sizes / --dtypes
EXTRA_DTYPES = ("float32",)
PEERS = ("multiply", "numpy", "torch", "jax")
NO_DTYPE = "-"  # the mask does not depend on x's dtype
CHANNEL_HW = (32, 32)  # spatial shape of the channel op's (N, C, H, W) input

OP_TITLES = {
    "forward": "forward: dropout",
    "forward_mask": "forward + mask: dropout_with_mask",
    "mask": "mask only: dropout_mask",
    "backward": "backward from the mask: dropout_backward",
    "backward_state": "backward from a DropoutState: dropout_backward(grad, state, p)",
    "alpha": "alpha dropout forward: alpha_dropout(training=True)",
    "alpha_backward": "alpha dropout backward from the mask: alpha_dropout_backward",
    "gaussian": "Gaussian dropout forward: gaussian_dropout",
    "channel": "channel dropout: dropout2d on (N, C, 32, 32)",
    "torch_fwd_bwd": "pydropout.torch forward + backward through autograd",
}
OUT_NAMES = {
    "forward": "pydropout.dropout(out=y)",
    "forward_mask": "pydropout.dropout_with_mask(out=y)",
    "backward": "pydropout.dropout_backward(out=y)",
    "backward_state": "pydropout.dropout_backward(state, out=y)",
    "alpha": "pydropout.alpha_dropout(out=y)",
    "alpha_backward": "pydropout.alpha_dropout_backward(out=y)",
    "gaussian": "pydropout.gaussian_dropout(out=y)",
    "channel": "pydropout.dropout2d(out=y)",
}
PUBLIC_NAMES = {
    "forward": "pydropout.dropout",
    "forward_mask": "pydropout.dropout_with_mask",
    "mask": "pydropout.dropout_mask",
    "backward": "pydropout.dropout_backward",
    "backward_state": "pydropout.dropout_backward(state)",
    "alpha": "pydropout.alpha_dropout",
    "alpha_backward": "pydropout.alpha_dropout_backward",
    "gaussian": "pydropout.gaussian_dropout",
    "channel": "pydropout.dropout2d",
    "torch_fwd_bwd": "pydropout.torch.Dropout",
}
KERNEL_NAMES = {
    "forward": "_core.forward (kernel)",
    "forward_mask": "_core.forward (kernel)",
    "mask": "_core.mask (kernel)",
    "backward": "_core.apply (kernel)",
    "backward_state": "_core.forward on the gradient (kernel)",
    "alpha": "_core.mask + _core.alpha_apply (kernels)",
    "alpha_backward": "_core.apply (kernel)",
    "gaussian": "_core.gaussian (kernel)",
}
PEER_TITLES = {"multiply": "np.multiply", "numpy": "NumPy", "torch": "torch", "jax": "JAX"}
# the kinds of rows that compute with pydropout (checked against the reference): the
# public call, the same with out=, the raw kernel, and another pydropout call for
# comparison ("alt": the backward from the mask beside the state backward, the
# functional and save="state" forms beside pydropout.torch.Dropout)
PYDROPOUT_KINDS = ("pydropout", "out", "kernel", "alt")

DTYPE_ALIASES = {
    "f32": "float32",
    "f64": "float64",
    "f16": "float16",
    "float32": "float32",
    "float64": "float64",
    "float16": "float16",
}
OP_ALIASES: Dict[str, Union[str, Tuple[str, ...]]] = {
    "forward": "forward",
    "fwd": "forward",
    "forward_mask": "forward_mask",
    "forward+mask": "forward_mask",
    "mask": "mask",
    "backward": "backward",
    "bwd": "backward",
    "backward_state": "backward_state",
    "state_backward": "backward_state",
    "alpha": "alpha",
    "alpha_backward": "alpha_backward",
    "gaussian": "gaussian",
    "channel": "channel",
    "dropout2d": "channel",
    "torch_fwd_bwd": "torch_fwd_bwd",
    # groups of operations
    "plain": OPS,
    "variants": VARIANT_OPS,
    "extra": EXTRA_OPS,
    "all": ALL_OPS,
}


def parse_size(text: str) -> int:
    """``1Ki``, ``16Mi``, ``2G`` or a plain integer; ValueError otherwise."""
    t = text.strip()
    units = {"ki": KI, "k": KI, "mi": MI, "m": MI, "gi": 1 << 30, "g": 1 << 30}
    low = t.lower()
    for suffix in ("ki", "mi", "gi", "k", "m", "g"):
        if low.endswith(suffix):
            return int(float(low[: -len(suffix)]) * units[suffix])
    return int(t)


def size_label(n: int) -> str:
    if n >= MI and n % MI == 0:
        return f"{n // MI}Mi"
    if n >= KI and n % KI == 0:
        return f"{n // KI}Ki"
    return str(n)


def threads_label(threads: int) -> str:
    return f"{threads} thread{'s' if threads > 1 else ''}"
