"""``python -m pydropout demo``: the dropout experiment, in NumPy, with pydropout layers.

Two experiments from the lecture dropout comes from (Hinton et al. 2012, Srivastava et al.
2014):

* **digits**: a multilayer perceptron (64-256-256-10, ReLU) with forward and backward written
  out by hand, trained on a small subset of scikit-learn's 8x8 digits, once without dropout
  and once with :class:`pydropout.Dropout` layers in each scaling mode. Without dropout it
  memorises the training set and the test loss climbs; with dropout the gap between train
  and test stays narrow.
* **regression**: a wide network (1-1024-1) fitted to 20 noisy points of a 1-D function.
  Without dropout it passes through every point (training error ~0) and zigzags between
  them; with dropout on its hidden units the curve is smoother and its error on held-out
  points is lower. Monte Carlo dropout (one mask per pass, 100 passes) gives a band that is
  narrow on the data and widens away from it.

Everything random is drawn from explicit seeds (NumPy's ``default_rng`` for weights and
batches, :class:`pydropout.Generator` for masks), so ``--seed`` repeats a run exactly.
matplotlib, scikit-learn and tqdm are imported here only, when the demo runs.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

import pydropout

# what the demo imports beyond NumPy: module name -> the PyPI package that installs it
REQUIREMENTS = {"matplotlib": "matplotlib", "sklearn": "scikit-learn", "tqdm": "tqdm"}


def requirements_hint(missing: Sequence[str]) -> str:
    """One line: what is missing (PyPI names) and the commands that install it."""
    return (
        f"demo needs {', '.join(missing)}: pip install {' '.join(REQUIREMENTS.values())} "
        f'(or, in a clone of pydropout, pip install ".[demo]")'
    )


NO_DROPOUT = "no dropout"
RUNS = (
    (NO_DROPOUT, None),
    ("dropout, upscale_in_train", "upscale_in_train"),
    ("dropout, downscale_in_infer", "downscale_in_infer"),
)


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

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._inputs = []
        h = x
        for k, (W, b) in enumerate(zip(self.W, self.b)):
            if k > 0:
                h = np.maximum(h, 0.0)
            drop = self.drops[k]
            if drop is not None:
                h = drop(h)
            self._inputs.append(h)
            h = h @ W + b
        return h

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


# ---------------------------------------------------------------------------------------
# experiment 1: digits


@dataclass
class History:
    name: str
    mode: Optional[str]
    train_loss: List[float] = field(default_factory=list)
    test_loss: List[float] = field(default_factory=list)
    train_acc: List[float] = field(default_factory=list)
    test_acc: List[float] = field(default_factory=list)

    def final(self, last: int = 5) -> Dict[str, float]:
        """Means over the last ``last`` epochs (smooths epoch-to-epoch jitter)."""
        k = min(last, len(self.train_loss))
        m = {
            key: float(np.mean(getattr(self, key)[-k:]))
            for key in ("train_loss", "test_loss", "train_acc", "test_acc")
        }
        m["loss_gap"] = m["test_loss"] - m["train_loss"]
        m["acc_gap"] = m["train_acc"] - m["test_acc"]
        return m


Split = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_digits_split(n_train: int, seed: int) -> Split:
    from sklearn.datasets import load_digits  # ships with scikit-learn: no download

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    tr, te = order[:n_train], order[n_train:]
    return x[tr], y[tr], x[te], y[te]


def _evaluate(net: MLP, x: np.ndarray, y: np.ndarray) -> Tuple[float, float]:
    logits = net.forward(x)
    loss, _ = softmax_xent(logits, y)
    return loss, float((logits.argmax(axis=1) == y).mean())


def train_digits(
    cfg: Config, seed: int, mode: Optional[str], name: str = "", data=None, progress: bool = True
) -> History:
    """Train one network (``mode`` None: no dropout) and record per-epoch metrics.

    Every run with the same ``seed`` starts from the same weights and sees the same batches;
    the dropout masks come from ``pydropout.Generator(seed)``.
    """
    from tqdm.auto import tqdm

    xtr, ytr, xte, yte = data if data is not None else load_digits_split(cfg.n_train, seed)
    gen = pydropout.Generator(seed)
    n_layers = len(cfg.hidden) + 1
    if mode is None:
        drops: List[Optional[pydropout.Dropout]] = [None] * n_layers
    else:
        drops = [
            pydropout.Dropout(cfg.p_input if k == 0 else cfg.p_hidden, mode=mode, generator=gen)
            for k in range(n_layers)
        ]
    rng = np.random.default_rng(seed)
    net = MLP((xtr.shape[1], *cfg.hidden, 10), rng, drops)
    opt = Adam(net.params, cfg.lr) if cfg.optimizer == "adam" else SGD(net.params, cfg.lr)
    hist = History(name or (mode or NO_DROPOUT), mode)
    bar = tqdm(
        range(cfg.epochs),
        desc=f"{hist.name:<28}",
        unit="epoch",
        leave=False,
        file=sys.stderr,
        disable=None if progress else True,
        dynamic_ncols=True,
    )
    for epoch in bar:
        if cfg.decay:  # cosine decay of the learning rate: the curves settle at the end
            opt.lr = 0.5 * cfg.lr * (1.0 + np.cos(np.pi * epoch / cfg.epochs))
        net.train(True)
        order = rng.permutation(len(ytr))
        for i in range(0, len(order), cfg.batch):
            idx = order[i : i + cfg.batch]
            _, dlogits = softmax_xent(net.forward(xtr[idx]), ytr[idx])
            opt.step(net.backward(dlogits))
        net.train(False)
        for xs, ys, loss_list, acc_list in (
            (xtr, ytr, hist.train_loss, hist.train_acc),
            (xte, yte, hist.test_loss, hist.test_acc),
        ):
            loss, acc = _evaluate(net, xs, ys)
            loss_list.append(loss)
            acc_list.append(acc)
        bar.set_postfix(train_acc=f"{hist.train_acc[-1]:.3f}", test_acc=f"{hist.test_acc[-1]:.3f}")
    bar.close()
    return hist


def format_history(hists: Sequence[History], every: int) -> str:
    """Per-epoch table (every ``every``-th epoch and the last) of each run."""
    lines = []
    for h in hists:
        lines.append(f"{h.name}")
        lines.append(
            f"  {'epoch':>5}  {'train loss':>10}  {'test loss':>9}  "
            f"{'train acc':>9}  {'test acc':>8}"
        )
        n = len(h.train_loss)
        for e in range(n):
            if (e + 1) % every and e != n - 1:
                continue
            lines.append(
                f"  {e + 1:>5}  {h.train_loss[e]:>10.4f}  {h.test_loss[e]:>9.4f}  "
                f"{h.train_acc[e]:>9.3f}  {h.test_acc[e]:>8.3f}"
            )
    return "\n".join(lines)


def format_summary(hists: Sequence[History]) -> str:
    head = (
        f"{'run':<28}  {'train loss':>10}  {'test loss':>9}  {'loss gap':>8}  "
        f"{'train acc':>9}  {'test acc':>8}  {'acc gap':>7}"
    )
    lines = [head, "-" * len(head)]
    for h in hists:
        m = h.final()
        lines.append(
            f"{h.name:<28}  {m['train_loss']:>10.4f}  {m['test_loss']:>9.4f}  "
            f"{m['loss_gap']:>8.4f}  {m['train_acc']:>9.3f}  {m['test_acc']:>8.3f}  "
            f"{m['acc_gap']:>7.3f}"
        )
    return "\n".join(lines)


def digits_settings(cfg: Config, seed: int, quick: bool, n_test: int) -> Dict[str, Any]:
    """What a digits run depends on, as written into every row of the CSV."""
    return {
        "seed": seed,
        "quick": int(quick),
        "n_train": cfg.n_train,
        "n_test": n_test,
        "hidden": "-".join(str(k) for k in cfg.hidden),
        "epochs": cfg.epochs,
        "batch": cfg.batch,
        "optimizer": cfg.optimizer,
        "lr": cfg.lr,
        "lr_decay": "cosine" if cfg.decay else "none",
    }


def write_history_csv(
    path: str,
    hists: Sequence[History],
    cfg: Optional[Config] = None,
    settings: Optional[Dict[str, Any]] = None,
) -> None:
    """One row per run and epoch: the metrics, then the run's settings (its mode and dropout
    rates, and ``settings``: the seed, sizes and optimiser), so that each row stands alone."""
    settings = settings or {}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "run",
                "epoch",
                "train_loss",
                "test_loss",
                "train_acc",
                "test_acc",
                "mode",
                "p_input",
                "p_hidden",
                *settings,
            ]
        )
        for h in hists:
            p_in = cfg.p_input if (cfg is not None and h.mode) else 0.0
            p_hid = cfg.p_hidden if (cfg is not None and h.mode) else 0.0
            for e in range(len(h.train_loss)):
                w.writerow(
                    [
                        h.name,
                        e + 1,
                        f"{h.train_loss[e]:.6f}",
                        f"{h.test_loss[e]:.6f}",
                        f"{h.train_acc[e]:.6f}",
                        f"{h.test_acc[e]:.6f}",
                        h.mode or "none",
                        p_in,
                        p_hid,
                        *settings.values(),
                    ]
                )


_COLORS = {NO_DROPOUT: "#d62728", "upscale_in_train": "#1f77b4", "downscale_in_infer": "#2ca02c"}


def digits_title(cfg: Config, n_test: int, seed: int, quick: bool) -> str:
    hid = "-".join(str(k) for k in cfg.hidden)
    run = f"{'quick' if quick else 'full'} run ({cfg.epochs} epochs)"
    return (
        f"8x8 digits, seed {seed}, {run}: no dropout against dropout in both scaling "
        f"modes, upscale_in_train and downscale_in_infer\n"
        f"{cfg.n_train} training / {n_test} test images, MLP 64-{hid}-10, dropout "
        f"p={cfg.p_input} on pixels and p={cfg.p_hidden} on hidden units"
    )


def plot_digits(
    path: str,
    hists: Sequence[History],
    cfg: Config,
    n_test: int,
    *,
    seed: int = 0,
    quick: bool = False,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.9), constrained_layout=True)
    for h in hists:
        c = _COLORS[h.mode or NO_DROPOUT]
        ep = np.arange(1, len(h.train_loss) + 1)
        axes[0].plot(ep, h.train_loss, color=c, lw=1.6, ls="--")
        axes[0].plot(ep, h.test_loss, color=c, lw=2.2, label=h.name)
        axes[1].plot(ep, h.train_acc, color=c, lw=1.6, ls="--")
        axes[1].plot(ep, h.test_acc, color=c, lw=2.2, label=h.name)
        axes[2].plot(ep, np.subtract(h.test_loss, h.train_loss), color=c, lw=2.2, label=h.name)
    axes[0].set(
        title="cross-entropy (solid: test, dashed: train)",
        xlabel="epoch",
        ylabel="loss",
        yscale="log",
    )
    axes[1].set(
        title="accuracy (solid: test, dashed: train)",
        xlabel="epoch",
        ylabel="accuracy",
        ylim=(0.8, 1.005),
    )
    axes[2].set(
        title="generalisation gap: test loss - train loss", xlabel="epoch", ylabel="loss gap"
    )
    axes[2].axhline(0.0, color="0.6", lw=0.8)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[2].legend(loc="lower right")
    fig.suptitle(digits_title(cfg, n_test, seed, quick), fontsize=12)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# experiment 2: 1-D regression
#
# 20 noisy points of a smooth function, a network wide enough to pass through all of them
# (1-1024-1, ReLU), full-batch Adam until it does. Without dropout it fits the noise: the
# training error goes to ~0 and the curve zigzags from point to point. With dropout on the
# hidden units it cannot rely on any one unit to bend the curve towards a single point: the
# fit is smoother, its training error stays near the noise level and its error on held-out
# points of the same function is lower. Monte Carlo dropout (training-mode passes, one mask
# per pass for the whole curve) gives a band that is narrow on the data and widens outside it.

REG_RANGE = (-2.0, 2.0)  # the training inputs
REG_VIEW = (-2.6, 2.6)  # the plotted range (outside REG_RANGE: extrapolation)
TARGET_TEXT = "sin(3x) + 0.3x"


def _target(x: np.ndarray) -> np.ndarray:
    return np.sin(3.0 * x) + 0.3 * x


@dataclass
class RegressionData:
    x: np.ndarray  # (reg_points, 1) training inputs, float32, sorted
    y: np.ndarray  # (reg_points, 1) their noisy targets
    x_test: np.ndarray  # (reg_test, 1) held-out inputs in the same range
    y_test: np.ndarray  # (reg_test, 1) their noisy targets


def regression_data(cfg: Config, seed: int) -> RegressionData:
    """Training points on a jittered grid over REG_RANGE (no two nearly on top of each other),
    held-out points uniform over it; both with Gaussian noise of sd ``cfg.reg_noise``."""
    lo, hi = REG_RANGE
    rng = np.random.default_rng(seed + 1)
    n = cfg.reg_points
    step = (hi - lo) / n
    x = lo + step * (np.arange(n) + 0.5 + 0.35 * rng.uniform(-1.0, 1.0, n))
    y = _target(x) + cfg.reg_noise * rng.standard_normal(n)
    rt = np.random.default_rng(seed + 3)
    xt = rt.uniform(lo, hi, cfg.reg_test)
    yt = _target(xt) + cfg.reg_noise * rt.standard_normal(cfg.reg_test)
    col = lambda a: a.astype(np.float32)[:, None]  # noqa: E731
    return RegressionData(col(x), col(y), col(xt), col(yt))


def train_regression(
    cfg: Config, seed: int, p: Optional[float], data: Optional[RegressionData] = None
) -> MLP:
    """Full-batch Adam on mean squared error; dropout (if ``p``) on the hidden units.

    Both networks (with and without dropout) start from the same weights.
    """
    d = data if data is not None else regression_data(cfg, seed)
    drops: List[Optional[pydropout.Dropout]] = [None, None]
    if p:
        drops[1] = pydropout.Dropout(p, generator=pydropout.Generator(seed, stream=1))
    rng = np.random.default_rng(seed + 2)
    net = MLP((1, cfg.reg_width, 1), rng, drops)
    # the units' kinks spread over a little more than the plotted range (zero biases would
    # put them all at x = 0, and the curve could bend nowhere else)
    net.b[0][:] = -net.W[0][0] * rng.uniform(-2.75, 2.75, cfg.reg_width).astype(np.float32)
    opt = Adam(net.params, cfg.reg_lr)
    net.train(True)
    for step in range(cfg.reg_steps):
        opt.lr = cfg.reg_lr * (1.0 - step / cfg.reg_steps)  # linear decay: settle, don't jitter
        out = net.forward(d.x)
        opt.step(net.backward((2.0 / len(d.x)) * (out - d.y)))
    net.train(False)
    return net


def mc_predict(
    net: MLP, x: np.ndarray, samples: int, generator: pydropout.Generator
) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over ``samples`` Monte Carlo dropout passes.

    Each pass draws one mask per dropout layer and shares it over all rows of ``x``
    (``noise_shape=(1, width)``): a pass is one sub-network, one whole curve.
    """
    preds = []
    for _ in range(samples):
        h = x
        for k, (W, b) in enumerate(zip(net.W, net.b)):
            if k > 0:
                h = np.maximum(h, 0.0)
            drop = net.drops[k]
            if drop is not None:
                h = pydropout.dropout(
                    h, drop.p, mode=drop.mode, noise_shape=(1, h.shape[1]), generator=generator
                )
            h = h @ W + b
        preds.append(h[:, 0])
    stack = np.stack(preds)
    return stack.mean(axis=0), stack.std(axis=0)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def regression_metrics(
    cfg: Config, seed: int, data: RegressionData, plain: MLP, dropped: MLP
) -> Dict[str, Any]:
    """Errors of both fits and the Monte Carlo band, with the curves the figure draws."""
    lo, hi = REG_RANGE
    grid = np.linspace(REG_VIEW[0], REG_VIEW[1], 521, dtype=np.float32)[:, None]
    inside = (grid[:, 0] >= lo) & (grid[:, 0] <= hi)
    truth = _target(grid[:, 0].astype(np.float64))
    gen = pydropout.Generator(seed, stream=2)
    mc_mean, mc_std = mc_predict(dropped, np.concatenate([grid, data.x]), cfg.mc_samples, gen)
    g = len(grid)
    far = np.abs(grid[:, 0]) >= hi + 0.3
    m: Dict[str, Any] = {
        "grid": grid[:, 0],
        "truth": truth,
        "mc_mean": mc_mean[:g],
        "mc_std": mc_std[:g],
    }
    for key, net in (("no_dropout", plain), ("dropout", dropped)):
        curve = net.forward(grid)[:, 0]
        m["curve_" + key] = curve
        m["train_mse_" + key] = _mse(net.forward(data.x), data.y)
        m["test_mse_" + key] = _mse(net.forward(data.x_test), data.y_test)
        m["true_mse_" + key] = _mse(curve[inside], truth[inside])
    # how far each curve goes up and down over the training range (its total variation):
    # the true function's, or much more for a curve that swings to reach every noisy point
    m["variation_truth"] = float(np.abs(np.diff(truth[inside])).sum())
    for key in ("no_dropout", "dropout"):
        m["variation_" + key] = float(np.abs(np.diff(m["curve_" + key][inside])).sum())
    m["band_on_data"] = float(2.0 * mc_std[g:].mean())  # half-width (2 sd) at the points
    m["band_outside"] = float(2.0 * mc_std[:g][far].mean())  # ... 0.3 or more outside the range
    return m


def _fmt_mse(v: float) -> str:
    return f"{v:.3f}" if v >= 5e-4 else f"{v:.0e}".replace("e-0", "e-")


def format_regression(cfg: Config, m: Dict[str, Any]) -> str:
    head = (
        f"  {'run':<16}  {'train MSE':>9}  {'test MSE':>8}  {'MSE against the true function':>29}"
    )
    lines = [head]
    for label, key in (("no dropout", "no_dropout"), (f"dropout p={cfg.reg_p}", "dropout")):
        lines.append(
            f"  {label:<16}  {m['train_mse_' + key]:>9.4g}  {m['test_mse_' + key]:>8.4f}"
            f"  {m['true_mse_' + key]:>29.4f}"
        )
    lines.append(f"  (noise variance {cfg.reg_noise**2:.2f}: the least test MSE a fit can have)")
    lo, hi = REG_RANGE
    lines.append(
        f"  up-and-down length (total variation) over [{lo:g}, {hi:g}]: no dropout "
        f"{m['variation_no_dropout']:.1f}, dropout {m['variation_dropout']:.1f}, "
        f"true function {m['variation_truth']:.1f}"
    )
    lines.append(
        f"  Monte Carlo dropout ({cfg.mc_samples} masks), 2 sd: {m['band_on_data']:.3f} "
        f"at the training points, {m['band_outside']:.3f} beyond their range (|x| >= "
        f"{REG_RANGE[1] + 0.3:g})"
    )
    return "\n".join(lines)


def plot_regression(path: str, cfg: Config, data: RegressionData, m: Dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = REG_RANGE
    x = m["grid"]
    fig, ax = plt.subplots(figsize=(10, 6.2), constrained_layout=True)
    ax.axvspan(REG_VIEW[0], lo, color="0.93", lw=0, zorder=0)
    ax.axvspan(hi, REG_VIEW[1], color="0.93", lw=0, zorder=0)
    band = ax.fill_between(
        x,
        m["mc_mean"] - 2 * m["mc_std"],
        m["mc_mean"] + 2 * m["mc_std"],
        color="#1f77b4",
        alpha=0.16,
        lw=0,
        zorder=1,
        label=f"Monte Carlo dropout, {cfg.mc_samples} masks: mean \u00b1 2 sd",
    )
    held = ax.scatter(
        data.x_test[:, 0],
        data.y_test[:, 0],
        s=9,
        color="0.55",
        alpha=0.55,
        lw=0,
        zorder=2,
        label=f"{cfg.reg_test} held-out points (test MSE)",
    )
    (true,) = ax.plot(
        x, m["truth"], color="0.2", ls=":", lw=2.0, zorder=3, label=f"true function {TARGET_TEXT}"
    )
    (plain,) = ax.plot(
        x,
        m["curve_no_dropout"],
        color=_COLORS[NO_DROPOUT],
        lw=2.0,
        zorder=4,
        label=f"no dropout: train MSE {_fmt_mse(m['train_mse_no_dropout'])}, "
        f"test MSE {_fmt_mse(m['test_mse_no_dropout'])}",
    )
    (drop,) = ax.plot(
        x,
        m["curve_dropout"],
        color="#1f77b4",
        lw=2.4,
        zorder=4,
        label=f"dropout p={cfg.reg_p}: train MSE {_fmt_mse(m['train_mse_dropout'])}"
        f", test MSE {_fmt_mse(m['test_mse_dropout'])}",
    )
    train = ax.scatter(
        data.x[:, 0],
        data.y[:, 0],
        s=42,
        color="k",
        zorder=5,
        label=f"{cfg.reg_points} training points (noise sd {cfg.reg_noise})",
    )
    ax.set_title(
        f"1-D regression: MLP 1-{cfg.reg_width}-1 (ReLU), {cfg.reg_steps} full-batch "
        f"Adam steps; grey: outside the training range",
        fontsize=12,
    )
    ax.set(xlabel="x", ylabel="y", xlim=REG_VIEW, ylim=(-3.2, 3.2))
    ax.xaxis.label.set_size(12)
    ax.yaxis.label.set_size(12)
    ax.tick_params(labelsize=11)
    ax.grid(alpha=0.3)
    # column-wise: the two fits and the band, then what they are measured against
    ax.legend(
        handles=[plain, drop, band, train, held, true],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=2,
        fontsize=10.5,
        frameon=False,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# the command


def _single_threaded_blas() -> Any:
    """Small matrices: one BLAS thread is as fast, and sums in a fixed order."""
    try:
        from threadpoolctl import threadpool_limits  # comes with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run(
    out_dir: str,
    *,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    every: Optional[int] = None,
    stream: Any = None,
) -> Dict[str, Any]:
    """Run both experiments, print the tables, write the figures; return the numbers."""
    with _single_threaded_blas():
        return _run(out_dir, quick=quick, seed=seed, progress=progress, every=every, stream=stream)


def _run(
    out_dir: str, *, quick: bool, seed: int, progress: bool, every: Optional[int], stream: Any
) -> Dict[str, Any]:
    stream = stream or sys.stdout
    cfg = QUICK if quick else FULL
    t0 = time.perf_counter()

    def say(text: str = "") -> None:
        print(text, file=stream, flush=True)

    say(
        f"pydropout {pydropout.__version__} demo ({'quick' if quick else 'full'}, seed {seed}): "
        f"SIMD {pydropout.simd_level()}, {pydropout.get_num_threads()} threads"
    )
    data = load_digits_split(cfg.n_train, seed)
    hid = "-".join(str(k) for k in cfg.hidden)
    say(
        f"\n[1/2] 8x8 digits: {len(data[1])} training and {len(data[3])} test images, "
        f"MLP 64-{hid}-10, Adam lr {cfg.lr}, batch {cfg.batch}, {cfg.epochs} epochs; dropout "
        f"p={cfg.p_input} on pixels and p={cfg.p_hidden} on hidden units"
    )
    hists = [
        train_digits(cfg, seed, mode, name, data=data, progress=progress) for name, mode in RUNS
    ]
    every = every or max(1, cfg.epochs // 10)
    say()
    say(format_history(hists, every))
    say("\nmeans over the last 5 epochs (loss gap = test - train, acc gap = train - test):")
    say(format_summary(hists))

    os.makedirs(out_dir, exist_ok=True)
    digits_png = os.path.join(out_dir, "digits.png")
    plot_digits(digits_png, hists, cfg, len(data[3]), seed=seed, quick=quick)
    csv_path = os.path.join(out_dir, "digits_history.csv")
    write_history_csv(csv_path, hists, cfg, digits_settings(cfg, seed, quick, len(data[3])))

    say(
        f"\n[2/2] 1-D regression: {cfg.reg_points} points of {TARGET_TEXT} with noise sd "
        f"{cfg.reg_noise}, MLP 1-{cfg.reg_width}-1 (ReLU), {cfg.reg_steps} full-batch Adam "
        f"steps (lr {cfg.reg_lr}), without and with dropout p={cfg.reg_p}; test error on "
        f"{cfg.reg_test} held-out points"
    )
    rdata = regression_data(cfg, seed)
    plain = train_regression(cfg, seed, None, rdata)
    dropped = train_regression(cfg, seed, cfg.reg_p, rdata)
    reg = regression_metrics(cfg, seed, rdata, plain, dropped)
    reg_png = os.path.join(out_dir, "regression.png")
    plot_regression(reg_png, cfg, rdata, reg)
    say(format_regression(cfg, reg))
    reg = {k: v for k, v in reg.items() if not isinstance(v, np.ndarray)}  # the numbers

    say(f"\nwrote {digits_png}, {reg_png}, {csv_path} ({time.perf_counter() - t0:.1f} s)")
    return {"histories": hists, "regression": reg, "files": [digits_png, reg_png, csv_path]}
