"""The demo's network and its sizes: :class:`Config`, a hand-written :class:`MLP`, Adam and SGD.

Part of ``python -m pydropout demo`` (see :mod:`pydropout._demo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

import pydropout

NO_DROPOUT = "no dropout"
RUNS = (
    (NO_DROPOUT, None),
    ("dropout, upscale_in_train", "upscale_in_train"),
    ("dropout, downscale_in_infer", "downscale_in_infer"),
)

_COLORS = {NO_DROPOUT: "#d62728", "upscale_in_train": "#1f77b4", "downscale_in_infer": "#2ca02c"}


@dataclass(frozen=True)
class Config:
    """Sizes of one demo run (``QUICK`` for ``--quick`` and the tests, ``FULL`` otherwise)."""

    n_train: int = 150  # digits used for training (the other 1647 are the test set)
    hidden: Tuple[int, ...] = (256, 256)
    epochs: int = 200
    batch: int = 16
    lr: float = 2e-3
    optimizer: str = "adam"  # or "sgd" (momentum 0.9)
    decay: bool = True  # cosine learning-rate decay over the epochs
    p_input: float = 0.2  # dropout on the 64 pixels
    p_hidden: float = 0.5  # dropout after each hidden layer
    reg_points: int = 20  # noisy training points in the 1-D regression
    reg_test: int = 200  # held-out noisy points (the test error)
    reg_noise: float = 0.4  # the noise's standard deviation
    reg_width: int = 1024  # one wide hidden layer: 1-1024-1
    reg_steps: int = 10000  # full-batch Adam steps (enough to interpolate without dropout)
    reg_lr: float = 5e-3
    reg_p: float = 0.5  # dropout on the hidden units
    mc_samples: int = 100  # Monte Carlo dropout passes for the regression band


FULL = Config()
QUICK = Config(epochs=100)  # the regression is cheap: the same in both


# ---------------------------------------------------------------------------------------
# the network


class Adam:
    """Adam (Kingma & Ba 2015) over a list of float32 arrays, updated in place."""

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [np.zeros_like(q) for q in self.params]
        self.v = [np.zeros_like(q) for q in self.params]
        self.t = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        for q, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            q -= (self.lr / c1) * m / (np.sqrt(v / c2) + self.eps)


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum, updated in place."""

    def __init__(self, params: Sequence[np.ndarray], lr: float, momentum: float = 0.9):
        self.params = list(params)
        self.lr, self.momentum = lr, momentum
        self.vel = [np.zeros_like(q) for q in self.params]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        for q, g, v in zip(self.params, grads, self.vel):
            v *= self.momentum
            v -= self.lr * g
            q += v


class MLP:
    """Linear layers with ReLU between them and optional dropout before each layer.

    ``drops[k]`` (a :class:`pydropout.Dropout` or None) acts on the input of layer ``k``:
    the pixels for ``k == 0``, the ``k``-th hidden activation otherwise.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        rng: np.random.Generator,
        drops: Sequence[Optional[pydropout.Dropout]],
    ):
        self.W: List[np.ndarray] = []
        self.b: List[np.ndarray] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):  # He initialisation for ReLU
            self.W.append(
                (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
            )
            self.b.append(np.zeros(fan_out, np.float32))
        self.drops = list(drops)
        self._inputs: List[np.ndarray] = []

    @property
    def params(self) -> List[np.ndarray]:
        return self.W + self.b

    def train(self, mode: bool = True) -> None:
        for d in self.drops:
            if d is not None:
                d.train(mode)

    def layers(self, x: np.ndarray, drop: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
        """One pass over the layers: ``drop(k, h)`` gives the input of layer ``k``."""
        h = x
        for k, (W, b) in enumerate(zip(self.W, self.b)):
            if k > 0:
                h = np.maximum(h, 0.0)
            h = drop(k, h)
            h = h @ W + b
        return h

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._inputs = []

        def drop(k: int, h: np.ndarray) -> np.ndarray:
            layer = self.drops[k]
            if layer is not None:
                h = layer(h)
            self._inputs.append(h)
            return h

        return self.layers(x, drop)

    def backward(self, dout: np.ndarray) -> List[np.ndarray]:
        """Gradients (dW..., db...) of the last forward, given d(loss)/d(output)."""
        dW: List[np.ndarray] = [np.empty(0, np.float32)] * len(self.W)
        db: List[np.ndarray] = [np.empty(0, np.float32)] * len(self.W)
        g = dout
        for k in range(len(self.W) - 1, -1, -1):
            h = self._inputs[k]
            dW[k] = h.T @ g
            db[k] = g.sum(axis=0)
            if k == 0:
                break
            g = g @ self.W[k].T
            drop = self.drops[k]
            if drop is not None:
                g = drop.backward(g)  # the mask of the forward, never a new draw
            # ReLU: h is its output after dropout, positive exactly where the ReLU passed
            # and dropout kept (dropped elements already have zero gradient)
            g = g * (h > 0)
        return dW + db


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
    """Mean cross-entropy of integer labels ``y`` and its gradient w.r.t. ``logits``."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(y)
    loss = -float(logp[np.arange(n), y].mean())
    grad = np.exp(logp)
    grad[np.arange(n), y] -= 1.0
    return loss, (grad / n).astype(logits.dtype)
