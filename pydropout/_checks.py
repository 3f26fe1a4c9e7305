"""Argument checks shared by every front end: the compiled API, the reference, the layers
and the torch and dask integrations.

Each check returns the normalised value or raises TypeError/ValueError with the message
users see; nothing here computes a result. Every check of a call happens before the
generator is advanced or any output is written, so a failed call changes nothing.
Generators are duck-typed: each generator class registers itself here
(:func:`register_generator`), so both APIs accept both the compiled
``pydropout.Generator`` and ``pydropout.reference.Generator``.
"""

from __future__ import annotations

import operator
import os
from typing import Any, List, Optional, Tuple

import numpy as np

UPSCALE = "upscale_in_train"
DOWNSCALE = "downscale_in_infer"
MODES = (UPSCALE, DOWNSCALE)
SAVES = ("mask", "state")

U64_END = 1 << 64

Shape = Tuple[int, ...]

# -- arrays ---------------------------------------------------------------------------------


def check_dtype(dt: np.dtype, name: str = "x") -> None:
    """TypeError unless ``dt`` is float16, float32, float64 or bfloat16."""
    if dt.kind == "f":
        if dt.itemsize in (2, 4, 8):
            return
    elif dt.itemsize == 2 and dt.name == "bfloat16":
        return
    raise TypeError(f"{name} must have dtype float16, float32, float64 or bfloat16, got {dt}")


def as_float_array(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as an ndarray of a supported dtype (no copy when it already is one)."""
    if isinstance(x, np.ndarray):
        a = x
    elif type(x).__module__.split(".")[0] == "torch":  # without importing torch
        a = torch_as_array(x, name)
    else:
        try:
            a = np.asarray(x)
        except Exception as exc:  # ragged lists, objects numpy cannot read
            raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    check_dtype(a.dtype, name)
    return a


def torch_as_array(t: Any, name: str = "x") -> np.ndarray:
    """A plain CPU torch tensor as the ndarray view ``np.asarray`` gives; TypeError naming
    ``pydropout.torch`` for any other tensor (one that requires grad, on another device,
    of a dtype NumPy lacks)."""
    why = ""
    if getattr(t, "requires_grad", False):
        why = "it requires grad"
    elif getattr(getattr(t, "device", None), "type", "cpu") != "cpu":
        why = f"it lives on {t.device}"
    else:
        try:
            return np.asarray(t)
        except Exception as exc:  # bfloat16, sparse, meta tensors...
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise TypeError(
        f"{name} is a torch.{type(t).__name__} that NumPy cannot view ({why}): use "
        "pydropout.torch for tensors (autograd, devices, every torch dtype)"
    )


def check_out(out: Any, shape: Shape, dt: np.dtype, name: str = "out") -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dt:
        raise ValueError(f"{name} has dtype {out.dtype}, expected {dt}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


def check_inplace(x: Any, inplace: Any, out: Any) -> bool:
    inplace = bool(inplace)
    if inplace:
        if not isinstance(x, np.ndarray):
            hint = (
                "; for torch tensors use pydropout.torch"
                if type(x).__module__.split(".")[0] == "torch"
                else ""
            )
            raise ValueError(f"inplace=True needs x to be a numpy.ndarray{hint}")
        if not x.flags.writeable:
            raise ValueError("inplace=True needs a writeable x, but x is read-only")
        if out is not None and out is not x:
            raise ValueError("inplace=True and out= name different arrays")
    return inplace


def mask_nbytes(n: int) -> int:
    return (n + 7) // 8


def check_mask(mask: Any, n: int, out: Any = None) -> np.ndarray:
    """A packed mask of n bits, contiguous, and a private copy if it overlaps ``out``."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy.uint8 array, got {type(mask).__name__}")
    if mask.dtype != np.uint8:
        raise ValueError(f"mask must have dtype uint8, got {mask.dtype}")
    if mask.ndim != 1 or mask.size != mask_nbytes(n):
        raise ValueError(
            f"mask must be 1-D with ceil({n} / 8) = {mask_nbytes(n)} bytes, got shape {mask.shape}"
        )
    tail = n % 8
    if tail and int(mask[-1]) >> tail:
        raise ValueError(
            f"mask has bits set past its {n} elements (the padding bits of its last byte, "
            f"{int(mask[-1]):#04x}): it is not the mask of a {n}-element array"
        )
    if isinstance(out, np.ndarray) and np.may_share_memory(mask, out):
        return mask.copy()  # the kernel would read bytes it has already overwritten
    return np.ascontiguousarray(mask)


# -- scalars --------------------------------------------------------------------------------


def check_p(p: Any, name: str = "p") -> float:
    if isinstance(p, (bool, np.bool_)) or isinstance(p, (str, bytes)):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(p).__name__}")
    try:
        value = float(p)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(p).__name__}") from exc
    if not (0.0 <= value <= 1.0):  # NaN fails too
        raise ValueError(f"{name} must be in [0, 1], got {p!r}")
    return value


def check_gaussian_p(p: Any, name: str = "p") -> float:
    """p in [0, 1): Gaussian dropout's variance p / (1 - p) is infinite at p == 1."""
    value = check_p(p, name)
    if value == 1.0:
        raise ValueError("p must be in [0, 1) for Gaussian dropout (variance p / (1 - p)), got 1")
    return value


def check_flag(value: Any, name: str) -> bool:
    """A bool (or the int 0 or 1): ``bool("False")`` would silently be True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def check_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be {UPSCALE!r} or {DOWNSCALE!r}, got {mode!r}")
    return mode


def check_save(save: Any) -> str:
    if not isinstance(save, str) or save not in SAVES:
        raise ValueError(f"save must be 'mask' or 'state', got {save!r}")
    return save


def check_u64(value: Any, name: str, what: str = "an integer in [0, 2**64)") -> int:
    """An integer in [0, 2**64): TypeError if not an integer, ValueError if out of range."""
    if isinstance(value, (bool, np.bool_, float)):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    try:
        v = operator.index(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}") from exc
    if not 0 <= v < U64_END:
        raise ValueError(f"{name} must be in [0, 2**64), got {v}")
    return int(v)


#: the most threads a call may use: max(256, 4 * os.cpu_count())
MAX_THREADS = max(256, 4 * (os.cpu_count() or 1))


def check_num_threads(n: Any) -> int:
    """An int in [1, MAX_THREADS]: more threads than that only cost start-up time."""
    if isinstance(n, (bool, float)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(
            f"n must be in [1, {MAX_THREADS}] (at most max(256, 4 * os.cpu_count()) threads), "
            f"got {n}"
        )
    return int(n)


# -- shapes ---------------------------------------------------------------------------------


def check_shape(
    shape: Any, name: str = "shape", negative: str = "must have non-negative dimensions"
) -> Shape:
    """A tuple of non-negative ints (a shape, or an index such as a block's origin)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError as exc:
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__}") from exc
    out = []
    for d in dims:
        if isinstance(d, (bool, np.bool_, float, np.floating)):
            raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
        try:
            d = operator.index(d)
        except TypeError as exc:
            raise TypeError(f"{name} must be a tuple of ints, got {shape!r}") from exc
        if d < 0:
            raise ValueError(f"{name} {negative}, got {shape!r}")
        out.append(d)
    return tuple(out)


def check_noise_shape(noise_shape: Any, shape: Shape) -> Optional[Shape]:
    """The noise shape padded to ``len(shape)`` dims, None when it is ``shape`` itself (or
    not given); ValueError if not broadcastable.

    ``None`` entries take the dimension of ``x`` (Keras), which then needs equal ranks.
    """
    if noise_shape is None:
        return None
    if isinstance(noise_shape, (int, np.integer)):
        noise_shape = (noise_shape,)
    try:
        dims = list(noise_shape)
    except TypeError as exc:
        raise TypeError(
            f"noise_shape must be a tuple of ints, got {type(noise_shape).__name__}"
        ) from exc
    if len(dims) > len(shape):
        raise ValueError(
            f"noise_shape {tuple(noise_shape)} has more dimensions than x's shape {shape}"
        )
    lead = len(shape) - len(dims)
    resolved = []
    for i, d in enumerate(dims):
        if d is None:
            d = shape[lead + i]
        if isinstance(d, (bool, np.bool_, float, np.floating)):
            raise TypeError(f"noise_shape must be a tuple of ints, got {tuple(noise_shape)!r}")
        try:
            d = operator.index(d)
        except TypeError as exc:
            raise TypeError(
                f"noise_shape must be a tuple of ints, got {tuple(noise_shape)!r}"
            ) from exc
        resolved.append(d)
    padded = (1,) * lead + tuple(resolved)
    for d, s in zip(padded, shape):
        if d != s and d != 1:
            raise ValueError(
                f"noise_shape {tuple(noise_shape)} is not broadcastable to x's shape {shape}"
            )
    return None if padded == tuple(shape) else padded


def channel_noise_shape(
    shape: Shape, spatial: int, channels_last: bool = False, name: str = "dropout"
) -> Shape:
    """The noise shape of channel dropout with ``spatial`` spatial dimensions.

    ``(N, C, *spatial)`` -> ``(N, C, 1, ...)`` and ``(C, *spatial)`` -> ``(C, 1, ...)``;
    with ``channels_last`` ``(N, *spatial, C)`` -> ``(N, 1, ..., C)`` and
    ``(*spatial, C)`` -> ``(1, ..., C)``. Any other rank raises ValueError.
    """
    ndim = len(shape)
    if ndim not in (spatial + 1, spatial + 2):
        layout = "(N, *spatial, C)" if channels_last else "(N, C, *spatial)"
        raise ValueError(
            f"{name}: x must be {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) "
            f"{layout}, got {ndim}-D shape {tuple(shape)}"
        )
    batch = ndim == spatial + 2
    if channels_last:
        lead: Shape = (shape[0],) if batch else ()
        return lead + (1,) * spatial + (shape[-1],)
    lead = tuple(shape[:2]) if batch else (shape[0],)
    return lead + (1,) * spatial


def feature_noise_shape(shape: Shape, channels_last: bool = False) -> Shape:
    """Noise shape of feature alpha dropout, as torch: ``(N, C, 1, ...)`` for ``ndim >= 2``."""
    if len(shape) < 2:
        raise ValueError(
            "feature_alpha_dropout: x must have at least 2 dimensions (N, C, ...), got "
            f"shape {tuple(shape)}"
        )
    if channels_last:
        return (shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],)
    return tuple(shape[:2]) + (1,) * (len(shape) - 2)


def check_block(shape: Shape, full_shape: Any, origin: Any, name: str) -> Tuple[Shape, Shape]:
    """``(full_shape, origin)`` of a block of ``shape`` that must fit inside the full array."""
    full = check_shape(full_shape, "full_shape")
    org = check_shape(origin, "origin", negative="must be non-negative")
    if len(org) != len(full):
        raise ValueError(
            f"origin {org} has {len(org)} dimensions, full_shape {full} has {len(full)}"
        )
    if len(shape) != len(full):
        raise ValueError(
            f"{name} has {len(shape)} dimensions (shape {shape}), full_shape {full} has {len(full)}"
        )
    for axis, (o, b, f) in enumerate(zip(org, shape, full)):
        if o + b > f:
            raise ValueError(
                f"block of shape {shape} at origin {org} does not fit in full_shape {full} "
                f"(axis {axis}: {o} + {b} > {f})"
            )
    return full, org


def check_block_words(
    full: Shape, full_size: int, seed: Any, stream: Any, offset: Any
) -> Tuple[int, int, int]:
    seed = check_u64(seed, "seed")
    stream = check_u64(stream, "stream")
    offset = check_u64(offset, "offset")
    if offset + full_size > U64_END:
        raise ValueError(
            f"offset {offset} + {full_size} words of full_shape {full} "
            "would pass 2**64: the stream never wraps"
        )
    return seed, stream, offset


# -- generators -----------------------------------------------------------------------------

_GENERATORS: Tuple[type, ...] = ()


def register_generator(cls: type) -> type:
    """Accept instances of ``cls`` wherever a ``generator=`` is taken (both APIs).

    A generator has ``seed``/``stream``/``offset``, ``get_state``/``set_state``,
    ``manual_seed`` and ``_reserve(n) -> (seed, stream, offset)``, which advances the
    offset by ``n`` atomically and raises ValueError, changing nothing, past 2**64.
    """
    global _GENERATORS
    if cls not in _GENERATORS:
        _GENERATORS = _GENERATORS + (cls,)
    return cls


_SHARED_DEFAULT: List[Any] = []


def share_default_generator(gen: Any) -> None:
    """Make ``gen`` the generator every API draws from when ``generator=None``.

    The compiled core shares ``pydropout.default_generator`` when it loads, so that
    ``pydropout.manual_seed(s)`` then ``pydropout.reference.dropout(x)`` reproduces
    ``pydropout.dropout(x)``; without it each API uses its backend's own default.
    """
    _SHARED_DEFAULT[:] = [gen]


def default_generator(fallback: Any) -> Any:
    """The shared default generator, else ``fallback`` (a backend's own)."""
    return _SHARED_DEFAULT[0] if _SHARED_DEFAULT else fallback


def is_generator(obj: Any) -> bool:
    return isinstance(obj, _GENERATORS)


def check_generator(generator: Any, default: Any = None) -> Any:
    """``generator`` itself, or ``default`` when it is None; TypeError for anything else."""
    if generator is None:
        return default
    if not isinstance(generator, _GENERATORS):
        raise TypeError(
            f"generator must be a pydropout.Generator or None, got {type(generator).__name__}"
        )
    return generator


def reject_generator(obj: Any, name: str = "mask") -> None:
    """A backward never draws: a live Generator where a mask or state belongs is an error."""
    if isinstance(obj, _GENERATORS):
        raise TypeError(
            f"{name} must be the packed mask or the DropoutState of the forward pass, not a "
            "Generator: a backward never draws fresh randomness"
        )


def check_room(gen: Any, n: int) -> None:
    """ValueError if ``n`` words from the generator's offset would run past 2**64.

    Checked before anything is allocated (a call over more than 2**64 elements would
    otherwise fail to allocate first); the reservation checks again, atomically.
    """
    offset = gen.offset
    if offset + n > U64_END:
        raise ValueError(
            f"generator offset {offset} + {n} words would pass 2**64: the stream never wraps"
        )
