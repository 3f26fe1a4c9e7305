"""The optional peers, torch and JAX: imported once, left out without a word when missing.

torch and JAX keep worker threads of their own; the timing loop sleeps after each of their
samples (``Candidate.foreign_pool``) so those threads go idle before the next row."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .affinity import process_cpus


class Peers:
    def __init__(self, wanted: Sequence[str], need_torch: bool = False):
        self.torch: Any = None
        self.F: Any = None
        self.jax: Any = None
        self.jnp: Any = None
        self.torch_threads: Optional[int] = None
        self.jax_x64: Optional[bool] = None
        if "torch" in wanted or need_torch:  # torch_fwd_bwd runs torch with --peers none
            try:
                import torch
                import torch.nn.functional as F
            except ImportError:
                pass
            else:
                self.torch, self.F = torch, F
                self.torch_threads = torch.get_num_threads()
        self.jax_started = False
        if "jax" in wanted:
            try:  # starts no threads: its CPU client starts in start_jax()
                import jax  # type: ignore[import-not-found, unused-ignore]
                import jax.numpy as jnp  # type: ignore[import-not-found, unused-ignore]
            except ImportError:
                pass
            else:
                self.jax, self.jnp = jax, jnp
                self.jax_x64 = bool(jax.config.read("jax_enable_x64"))
                jax.config.update("jax_enable_x64", True)  # float64 stays float64
        self._jit: Dict[Tuple[str, float], Any] = {}

    def start_jax(self) -> None:
        """Start JAX's CPU client (and its worker threads) before its first row.

        Its workers are started from this thread and inherit its CPUs: under OMP_PROC_BIND
        that is the one CPU OpenMP bound it to, which ran JAX's "all threads" rows on one
        CPU (about 1.5x slower). Started inside `process_cpus()`, they get every CPU. Not
        at import: a started client makes a later os.fork() warn of deadlocks.
        """
        if self.jax is not None and not self.jax_started:
            with process_cpus():
                self.jax.block_until_ready(self.jax.jit(lambda v: v + 1)(self.jnp.zeros(8)))
            self.jax_started = True

    def restore(self) -> None:
        if self.torch is not None and self.torch_threads is not None:
            self.torch.set_num_threads(self.torch_threads)
        if self.jax is not None and self.jax_x64 is not None:
            self.jax.config.update("jax_enable_x64", self.jax_x64)

    def versions(self) -> Dict[str, str]:
        return {
            "torch": getattr(self.torch, "__version__", "not used"),
            "jax": getattr(self.jax, "__version__", "not used"),
        }

    def jit(self, op: str, p: float) -> Any:
        """A jitted JAX dropout: forward, forward_mask or backward."""
        key = (op, p)
        if key not in self._jit:
            jax, jnp = self.jax, self.jnp
            keep_p = jnp.float32(1.0 - p)

            def forward(k: Any, x: Any) -> Any:
                keep = jax.random.bernoulli(k, keep_p, x.shape)
                return jnp.where(keep, x / (1 - p), 0)

            def forward_mask(k: Any, x: Any) -> Any:
                keep = jax.random.bernoulli(k, keep_p, x.shape)
                return jnp.where(keep, x / (1 - p), 0), keep

            def backward(g: Any, keep: Any) -> Any:
                return jnp.where(keep, g / (1 - p), 0)

            fns: Dict[str, Callable[..., Any]] = {
                "forward": forward,
                "forward_mask": forward_mask,
                "backward": backward,
            }
            self._jit[key] = jax.jit(fns[op])
        return self._jit[key]

    def jax_call(self, fn: Any, *args: Any) -> Any:
        """Call ``fn`` and wait for its result: JAX dispatches asynchronously."""
        return self.jax.block_until_ready(fn(*args))


def unpacked(mask: np.ndarray, n: int) -> np.ndarray:
    """The packed mask as n bools (what NumPy, torch and JAX keep)."""
    return np.unpackbits(mask, count=n, bitorder="little").view(bool)
