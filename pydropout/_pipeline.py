"""The one call pipeline, over a backend (the compiled core or plain NumPy).

Every operator of :mod:`pydropout._api` runs these steps, in this order:

1. **checks** (:mod:`pydropout._checks`): every argument, before anything is allocated,
   drawn or written, so that a failed call changes nothing;
2. **contiguous input**: native byte order, aligned, C-contiguous (element ``i`` is the
   i-th element in logical C order, whatever the strides);
3. **destination**: ``out``, or ``x`` itself with ``inplace``, written directly when the
   kernel can, else a new array in the input's memory layout (the contract's section 5: the stride order
   of a dense input, NumPy's ``order="K"``; C order for gaps, overlaps, broadcasts);
4. **reserve words** from the generator (atomically, after every check and allocation);
5. **backend kernel** on the flat buffers (``_kernel_*`` below choose which);
6. **copy into** ``out`` (or ``x``) when the kernel could not write there directly.

Steps 2 to 6 are :meth:`Pipeline.execute`; the ``*_train``, ``*_backward`` and
``*_eval`` methods are step 1 for each operator followed by it. A backend implements
:class:`Backend`; every array it receives is already checked and contiguous.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Tuple

import numpy as np

from . import _checks as ck
from ._checks import UPSCALE
from ._layout import _direct, _inverse, memory_order
from ._pipeline_backend import Backend, Key, Shape
from ._state import DropoutState, check_state, resolve_noise

__all__ = ["Backend", "Key", "Pipeline", "Shape", "memory_order"]


def _identity(x: Any, xa: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
    """Evaluation without a factor: ``x`` itself (or copied into ``out``)."""
    if out is not None:
        if out is not xa:
            np.copyto(out, xa)
        return out
    return x if isinstance(x, np.ndarray) else xa


def _words(key: Key, state: Optional[DropoutState]) -> Tuple[int, int, int]:
    """The first word of a kernel: the words just reserved, or those of a forward's state."""
    if state is not None:
        return state.seed, state.stream, state.offset
    assert key is not None
    return key


# the kernels that take ``order=`` and run over a permuted layout's memory order
_PERMUTING = frozenset({"_kernel_dropout", "_kernel_apply", "_kernel_alpha"})


class Pipeline:
    """Checks and the one execution path of every operator over ``backend``."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.default_generator = backend.default_generator

    # -- steps 2 to 6 ----------------------------------------------------------------------
    def execute(
        self,
        x: Any,
        xa: np.ndarray,
        out: Optional[np.ndarray],
        inplace: bool,
        gen: Any,
        words: int,
        kernel: Callable[..., None],
        *args: Any,
    ) -> Tuple[np.ndarray, Key]:
        """Run ``kernel(xc, y, key, *args)`` and return ``(result, key)``.

        ``xc`` is the contiguous input, ``y`` the buffer the kernel writes and ``key`` the
        ``(seed, stream, offset)`` of the ``words`` reserved from ``gen`` (None without a
        generator).
        """
        backend = self.backend
        final = out if out is not None else (x if inplace else None)
        order = memory_order(xa)
        perm = order if kernel.__name__ in _PERMUTING else None
        # a permuted layout (channels_last, Fortran order): the kernel runs over memory order
        # (the transposed views), the words and masks staying in logical C order
        src = xa.transpose(perm) if perm is not None else xa
        target = final.transpose(perm) if perm is not None and final is not None else final
        xc = backend.contiguous(src)  # a view of a permuted layout unless unaligned/non-native
        direct = target is not None and _direct(target, xc)
        # a new output starts at the input's offset within a cache line, except a permuted
        # layout's drawing pass, whose rows run across the logical axis: it streams its
        # stores only from a 64-byte aligned output
        like = None if perm is not None and kernel.__name__ == "_kernel_dropout" else xc
        y = target if target is not None and direct else backend.empty(src.shape, xc.dtype, like)
        key = gen._reserve(words) if gen is not None else None
        kernel(xc, y, key, *args, **({"order": perm} if perm is not None else {}))
        if perm is not None:
            # the input's layout
            y = final if final is not None and direct else y.transpose(_inverse(perm))
        elif final is None and order is not None:
            final = np.empty_like(xa, order="K")  # a new array keeps the input's layout
        if final is not None and y is not final:
            np.copyto(final, y)
            y = final
        return y, key

    def _replay(
        self,
        x: Any,
        xa: np.ndarray,
        out: Optional[np.ndarray],
        kernel: Callable[..., None],
        *args: Any,
    ) -> np.ndarray:
        """:meth:`execute` of a kernel that reserves no words (a backward, a block), never
        in place: the result alone."""
        return self.execute(x, xa, out, False, None, 0, kernel, *args)[0]

    def _redraw(self, grad, ga, out, p, s, apply, state) -> np.ndarray:
        """A backward from a :class:`DropoutState`: the forward's keep bits drawn again."""
        t, drop_all = self._keep_rule(p)
        kernel = self._kernel_dropout
        return self._replay(
            grad, ga, out, kernel, None, t, drop_all, s, apply, state.noise_shape, state
        )

    # -- step 5: the kernels -----------------------------------------------------------------
    def _kernel_dropout(
        self,
        xc: np.ndarray,
        y: np.ndarray,
        key: Key,
        mask: Any,
        t: int,
        drop_all: bool,
        s: float,
        apply: bool,
        noise: Optional[Shape],
        state: Any = None,
        order: Optional[Shape] = None,
    ) -> None:
        """y = keep ? x (* s) : +0, the keep bits drawn from ``key`` (or ``state``).

        With ``order``, ``xc`` and ``y`` are the memory-order (transposed) views of a
        permuted layout; ``mask`` and the words stay in logical C order."""
        backend = self.backend
        seed, stream, offset = _words(key, state)
        if noise is None:
            if order is None:
                backend.forward(xc, y, mask, t, drop_all, s, apply, seed, stream, offset)
            else:
                backend.forward_permuted(
                    xc, y, mask, order, t, drop_all, s, apply, seed, stream, offset
                )
            return
        if mask is None:
            mask = np.empty(ck.mask_nbytes(math.prod(noise)), np.uint8)
        backend.mask(mask, math.prod(noise), t, drop_all, seed, stream, offset)
        # the mask of the noise shape, read through it (never a full-size mask)
        mask, noise = self._memory_noise(mask, noise, order)
        backend.apply_noise(xc, y, mask, noise, s, apply and not drop_all)

    def _memory_noise(
        self, mask: np.ndarray, noise: Shape, order: Optional[Shape]
    ) -> Tuple[np.ndarray, Shape]:
        """The mask over ``noise`` and ``noise`` itself in memory order with ``order`` (a
        small re-pack: the noise shape's elements only)."""
        if order is None:
            return mask, noise
        return self.backend.permute_mask(mask, noise, order), tuple(noise[i] for i in order)

    def _kernel_apply(
        self,
        xc: np.ndarray,
        y: np.ndarray,
        key: Key,
        mask: np.ndarray,
        noise: Optional[Shape],
        s: float,
        apply: bool,
        order: Optional[Shape] = None,
    ) -> None:
        """y = bit ? (apply ? x * s : x) : +0, the bits those of ``mask`` over ``noise``."""
        if noise is not None:  # the mask of the noise shape, read through it
            self.backend.apply_noise(xc, y, *self._memory_noise(mask, noise, order), s, apply)
        elif order is not None:
            self.backend.apply_permuted(xc, y, mask, order, s, apply)
        else:
            self.backend.apply(xc, y, mask, s, apply)

    def _kernel_alpha(
        self,
        xc: np.ndarray,
        y: np.ndarray,
        key: Key,
        mask: np.ndarray,
        t: int,
        drop_all: bool,
        p: float,
        noise: Optional[Shape],
        order: Optional[Shape] = None,
    ) -> None:
        assert key is not None
        backend = self.backend
        a, b, c = backend.alpha_constants(p, xc.dtype)
        if order is None and noise is None and p != 0.0:  # the draw and the select in one pass
            backend.alpha_forward(xc, y, mask, t, drop_all, a, b, c, *key)
            return
        nn = math.prod(noise) if noise is not None else xc.size
        backend.mask(mask, nn, t, drop_all, *key)
        if p == 0.0:
            backend.apply(xc, y, None, 1.0, False)  # everything kept: y = x exactly
            return
        if noise is not None:
            backend.alpha_noise(xc, y, *self._memory_noise(mask, noise, order), a, b, c)
            return
        assert order is not None
        logical = tuple(xc.shape[i] for i in _inverse(order))
        backend.alpha_apply(xc, y, backend.permute_mask(mask, logical, order), a, b, c)

    def _kernel_gaussian(
        self, xc: np.ndarray, y: np.ndarray, key: Key, sigma: float, state: Any = None
    ) -> None:
        seed, stream, offset = _words(key, state)
        self.backend.gaussian(xc, y, sigma, seed, stream, offset)

    def _kernel_block(self, xc: np.ndarray, y: np.ndarray, key: Key, *args: Any) -> None:
        self.backend.block_forward(xc, y, *args)

    # -- helpers of step 1 -------------------------------------------------------------------
    def _generator(self, generator: Any) -> Any:
        """``generator``, or the default (``pydropout.default_generator`` once the core has
        loaded, else the backend's own)."""
        return ck.check_generator(generator, ck.default_generator(self.default_generator))

    def _keep_rule(self, p: float) -> Tuple[int, bool]:
        drop_all = p == 1.0
        return (0 if drop_all else self.backend.threshold(p)), drop_all

    def _check_dropout(self, x, p, inplace, mode, noise_shape, generator, out, name="x"):
        """Step 1 of plain dropout: ``(array, p, mode, inplace, noise shape, generator)``."""
        xa = ck.as_float_array(x, name)
        p = ck.check_p(p)
        mode = ck.check_mode(mode)
        inplace = ck.check_inplace(x, inplace, out)
        if out is not None:
            ck.check_out(out, xa.shape, xa.dtype)
        noise = ck.check_noise_shape(noise_shape, xa.shape)
        gen = self._generator(generator)
        return xa, p, mode, inplace, noise, gen

    # -- plain dropout -----------------------------------------------------------------------
    def dropout_eval(
        self, x: Any, p: Any, inplace: Any, mode: Any, noise_shape: Any, generator: Any, out: Any
    ) -> np.ndarray:
        """Evaluation mode: checked exactly as in training, nothing drawn."""
        xa, p, mode, inplace, _, _ = self._check_dropout(
            x, p, inplace, mode, noise_shape, generator, out
        )
        return self._scale_eval(x, xa, p, mode, out, inplace)

    def _scale_eval(
        self, x: Any, xa: np.ndarray, p: float, mode: str, out: Any, inplace: bool = False
    ) -> np.ndarray:
        if mode == UPSCALE:
            return _identity(x, xa, out)
        target = out if out is not None else (x if inplace else None)
        return self.backend.multiply(xa, self.backend.eval_factor(p, xa.dtype), target)

    def dropout_train(
        self,
        x: Any,
        p: Any,
        *,
        inplace: Any,
        mode: Any,
        noise_shape: Any,
        generator: Any,
        out: Any,
        keep: Optional[str],
    ) -> Tuple[np.ndarray, Any]:
        """Training mode: ``(y, token)``, the token the packed mask (``keep="mask"``), a
        :class:`DropoutState` (``keep="state"``) or None."""
        xa, p, mode, inplace, noise, gen = self._check_dropout(
            x, p, inplace, mode, noise_shape, generator, out
        )
        nn = xa.size if noise is None else math.prod(noise)
        ck.check_room(gen, nn)
        mask = np.empty(ck.mask_nbytes(nn), np.uint8) if keep == "mask" else None
        t, drop_all = self._keep_rule(p)
        apply = mode == UPSCALE
        s = self.backend.scale(p, xa.dtype) if apply else 1.0
        y, key = self.execute(
            x, xa, out, inplace, gen, nn, self._kernel_dropout, mask, t, drop_all, s, apply, noise
        )
        if keep == "state":
            assert key is not None
            return y, DropoutState(*key, xa.shape, p, mode, noise, "dropout")
        return y, mask

    def dropout_backward(
        self,
        grad: Any,
        mask: Any,
        p: Any,
        *,
        mode: Any,
        noise_shape: Any,
        out: Any,
        name: str = "grad",
    ) -> np.ndarray:
        ck.reject_generator(mask)
        ga = ck.as_float_array(grad, name)
        p = ck.check_p(p)
        mode = ck.check_mode(mode)
        apply = mode == UPSCALE
        if isinstance(mask, DropoutState):  # the forward's words drawn again
            check_state(mask, "dropout", p, ga.shape)
            if mode != mask.mode:
                raise ValueError(f"mode {mode!r} does not match the forward pass's {mask.mode!r}")
            if noise_shape is not None:
                resolve_noise(ck.check_noise_shape(noise_shape, ga.shape), mask.noise_shape)
            if out is not None:
                ck.check_out(out, ga.shape, ga.dtype)
            s = self.backend.scale(p, ga.dtype) if apply else 1.0
            return self._redraw(grad, ga, out, p, s, apply, mask)
        noise = ck.check_noise_shape(noise_shape, ga.shape)
        mask = ck.check_mask(mask, ga.size if noise is None else math.prod(noise), out)
        if out is not None:
            ck.check_out(out, ga.shape, ga.dtype)
        if apply and p == 1.0:
            mask = np.zeros_like(mask)  # nothing survives p == 1
        s = self.backend.scale(p, ga.dtype) if apply else 1.0
        return self._replay(grad, ga, out, self._kernel_apply, mask, noise, s, apply)

    def dropout_mask(self, shape: Any, p: Any, *, generator: Any) -> np.ndarray:
        dims = ck.check_shape(shape)
        p = ck.check_p(p)
        gen = self._generator(generator)
        n = math.prod(dims)
        ck.check_room(gen, n)
        mask = np.empty(ck.mask_nbytes(n), np.uint8)
        t, drop_all = self._keep_rule(p)
        seed, stream, offset = gen._reserve(n)
        self.backend.mask(mask, n, t, drop_all, seed, stream, offset)
        return mask

    # -- blocks ------------------------------------------------------------------------------
    def _place(self, dims: Shape, place: Any, name: str) -> Tuple[Any, ...]:
        """The checked place of a block: ``(full, origin, seed, stream, offset)`` from
        ``place = (full_shape, origin, seed, stream, offset)``."""
        full_shape, origin, seed, stream, offset = place
        full, org = ck.check_block(dims, full_shape, origin, name)
        return (full, org) + ck.check_block_words(full, math.prod(full), seed, stream, offset)

    def dropout_block(
        self, x_block: Any, p: Any, place: Any, training: Any, mode: Any, out: Any, ret_mask: Any
    ) -> Any:
        """:func:`pydropout.dropout_block`, its place ``(full_shape, origin, seed, stream,
        offset)``."""
        xa = ck.as_float_array(x_block, "x_block")
        p = ck.check_p(p)
        mode = ck.check_mode(mode)
        where = self._place(xa.shape, place, "x_block")
        if out is not None:
            ck.check_out(out, xa.shape, xa.dtype)
        if not training:
            if ret_mask:
                raise ValueError("return_mask=True needs training=True: evaluation draws no mask")
            return self._scale_eval(x_block, xa, p, mode, out)
        mask = np.empty(ck.mask_nbytes(xa.size), np.uint8) if ret_mask else None
        t, drop_all = self._keep_rule(p)
        apply = mode == UPSCALE
        s = self.backend.scale(p, xa.dtype) if apply else 1.0
        kernel = self._kernel_block
        y = self._replay(x_block, xa, out, kernel, mask, t, drop_all, s, apply, *where)
        return (y, mask) if ret_mask else y

    def dropout_block_mask(self, shape: Any, p: Any, place: Any) -> np.ndarray:
        """:func:`pydropout.dropout_block_mask`, its place as :meth:`dropout_block`'s."""
        dims = ck.check_shape(shape)
        p = ck.check_p(p)
        where = self._place(dims, place, "shape")
        mask = np.empty(ck.mask_nbytes(math.prod(dims)), np.uint8)
        t, drop_all = self._keep_rule(p)
        self.backend.block_mask(mask, t, drop_all, dims, *where)
        return mask

    # -- the variants ------------------------------------------------------------------------
    def variant_eval(
        self,
        x: Any,
        p: Any,
        inplace: Any,
        out: Any,
        noise_shape: Any,
        generator: Any,
        check: Callable[[Any], float] = ck.check_p,
    ) -> np.ndarray:
        """Evaluation of alpha and Gaussian dropout: checked, nothing drawn, ``x`` itself."""
        xa = ck.as_float_array(x)
        check(p)
        ck.check_inplace(x, inplace, out)
        if out is not None:
            ck.check_out(out, xa.shape, xa.dtype)
        ck.check_noise_shape(noise_shape, xa.shape)
        self._generator(generator)
        return _identity(x, xa, out)

    def alpha_train(
        self,
        x: Any,
        p: Any,
        *,
        inplace: Any,
        noise_shape: Any,
        generator: Any,
        out: Any,
        keep: Optional[str],
    ) -> Tuple[np.ndarray, Any]:
        xa, p, _, inplace, noise, gen = self._check_dropout(
            x, p, inplace, UPSCALE, noise_shape, generator, out
        )
        nn = xa.size if noise is None else math.prod(noise)
        mask = np.empty(ck.mask_nbytes(nn), np.uint8)
        t, drop_all = self._keep_rule(p)
        y, key = self.execute(
            x, xa, out, inplace, gen, nn, self._kernel_alpha, mask, t, drop_all, p, noise
        )
        if keep == "state":
            assert key is not None
            return y, DropoutState(*key, xa.shape, p, None, noise, "alpha")
        return y, mask

    def alpha_backward(
        self, grad: Any, mask: Any, p: Any, *, noise_shape: Any, out: Any
    ) -> np.ndarray:
        """``grad * a`` where kept, ``+0.0`` where dropped (``a`` of the dtype)."""
        ck.reject_generator(mask)
        ga = ck.as_float_array(grad, "grad")
        p = ck.check_p(p)
        noise = ck.check_noise_shape(noise_shape, ga.shape)
        state = None
        if isinstance(mask, DropoutState):
            state = check_state(mask, "alpha", p, ga.shape, "mask")
            resolve_noise(noise, state.noise_shape)
        else:
            mask = ck.check_mask(mask, ga.size if noise is None else math.prod(noise), out)
        if out is not None:
            ck.check_out(out, ga.shape, ga.dtype)
        a = self.backend.alpha_constants(p, ga.dtype)[0]
        if state is not None:
            return self._redraw(grad, ga, out, p, a, True, state)
        if p == 1.0:
            mask = np.zeros_like(mask)  # nothing survives p == 1
        return self._replay(grad, ga, out, self._kernel_apply, mask, noise, a, True)

    def gaussian_train(
        self, x: Any, p: Any, *, generator: Any, out: Any
    ) -> Tuple[np.ndarray, DropoutState]:
        xa = ck.as_float_array(x)
        p = ck.check_gaussian_p(p)
        if out is not None:
            ck.check_out(out, xa.shape, xa.dtype)
        gen = self._generator(generator)
        y, key = self.execute(
            x, xa, out, False, gen, xa.size, self._kernel_gaussian, self.backend.gaussian_sigma(p)
        )
        assert key is not None
        return y, DropoutState(*key, xa.shape, p, None, None, "gaussian")

    def gaussian_backward(self, grad: Any, state: Any, p: Any, *, out: Any) -> np.ndarray:
        ck.reject_generator(state, "state")
        ga = ck.as_float_array(grad, "grad")
        p = ck.check_gaussian_p(p)
        check_state(state, "gaussian", p, ga.shape)
        if out is not None:
            ck.check_out(out, ga.shape, ga.dtype)
        return self._replay(
            grad,
            ga,
            out,
            self._kernel_gaussian,
            self.backend.gaussian_sigma(p),
            state,
        )
