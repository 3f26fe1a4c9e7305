"""``python -m pydropout demo``: the dropout experiment, in NumPy, with pydropout layers.

Two experiments from the lecture dropout comes from (Hinton et al. 2012, Srivastava et al.
2014):

* **digits**: a multilayer perceptron (64-256-256-10, ReLU) with forward and backward written
  out by hand, trained on a small subset of scikit-learn's 8x8 digits, once without dropout
  and once with :class:`pydropout.Dropout` layers in each scaling mode. Without dropout it
  memorises the training set and the test loss climbs; with dropout the gap between train
  and test stays narrow.
* **regression**: a wide network fitting a few noisy points of a 1-D function, with and
  without dropout, and the spread of Monte Carlo dropout predictions around the dropout fit.

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

NO_DROPOUT = "no dropout"
RUNS = (
    (NO_DROPOUT, None),
    ("dropout, upscale_in_train", "upscale_in_train"),
    ("dropout, downscale_in_infer", "downscale_in_infer"),
)


@dataclass(frozen=True)
class Config:
    """Sizes of one demo run (``QUICK`` for ``--quick`` and the tests, ``FULL`` otherwise)."""

    n_train: int = 150            # digits used for training (the other 1647 are the test set)
    hidden: Tuple[int, ...] = (256, 256)
    epochs: int = 200
    batch: int = 16
    lr: float = 2e-3
    optimizer: str = "adam"       # or "sgd" (momentum 0.9)
    decay: bool = True            # cosine learning-rate decay over the epochs
    p_input: float = 0.2          # dropout on the 64 pixels
    p_hidden: float = 0.5         # dropout after each hidden layer
    reg_points: int = 20          # noisy points in the 1-D regression
    reg_noise: float = 0.4        # their noise's standard deviation
    reg_width: int = 256
    reg_steps: int = 3000
    reg_lr: float = 5e-3
    reg_p: float = 0.2
    mc_samples: int = 100         # Monte Carlo dropout passes for the regression band


FULL = Config()
QUICK = Config(epochs=100, reg_width=128, reg_steps=2000, mc_samples=50)


# ---------------------------------------------------------------------------------------
# the network


class Adam:
    """Adam (Kingma & Ba 2015) over a list of float32 arrays, updated in place."""

    def __init__(self, params: Sequence[np.ndarray], lr: float,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [np.zeros_like(q) for q in self.params]
        self.v = [np.zeros_like(q) for q in self.params]
        self.t = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
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

    def __init__(self, sizes: Sequence[int], rng: np.random.Generator,
                 drops: Sequence[Optional[pydropout.Dropout]]):
        self.W: List[np.ndarray] = []
        self.b: List[np.ndarray] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):  # He initialisation for ReLU
            self.W.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in))
                          .astype(np.float32))
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
                g = drop.backward(g)   # the mask of the forward, never a new draw
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
        m = {key: float(np.mean(getattr(self, key)[-k:]))
             for key in ("train_loss", "test_loss", "train_acc", "test_acc")}
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


def train_digits(cfg: Config, seed: int, mode: Optional[str], name: str = "",
                 data=None, progress: bool = True) -> History:
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
        drops = [pydropout.Dropout(cfg.p_input if k == 0 else cfg.p_hidden, mode=mode,
                                   generator=gen) for k in range(n_layers)]
    rng = np.random.default_rng(seed)
    net = MLP((xtr.shape[1], *cfg.hidden, 10), rng, drops)
    opt = Adam(net.params, cfg.lr) if cfg.optimizer == "adam" else SGD(net.params, cfg.lr)
    hist = History(name or (mode or NO_DROPOUT), mode)
    bar = tqdm(range(cfg.epochs), desc=f"{hist.name:<28}", unit="epoch", leave=False,
               file=sys.stderr, disable=None if progress else True, dynamic_ncols=True)
    for epoch in bar:
        if cfg.decay:  # cosine decay of the learning rate: the curves settle at the end
            opt.lr = 0.5 * cfg.lr * (1.0 + np.cos(np.pi * epoch / cfg.epochs))
        net.train(True)
        order = rng.permutation(len(ytr))
        for i in range(0, len(order), cfg.batch):
            idx = order[i:i + cfg.batch]
            _, dlogits = softmax_xent(net.forward(xtr[idx]), ytr[idx])
            opt.step(net.backward(dlogits))
        net.train(False)
        for xs, ys, loss_list, acc_list in ((xtr, ytr, hist.train_loss, hist.train_acc),
                                            (xte, yte, hist.test_loss, hist.test_acc)):
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
        lines.append(f"  {'epoch':>5}  {'train loss':>10}  {'test loss':>9}  "
                     f"{'train acc':>9}  {'test acc':>8}")
        n = len(h.train_loss)
        for e in range(n):
            if (e + 1) % every and e != n - 1:
                continue
            lines.append(f"  {e + 1:>5}  {h.train_loss[e]:>10.4f}  {h.test_loss[e]:>9.4f}  "
                         f"{h.train_acc[e]:>9.3f}  {h.test_acc[e]:>8.3f}")
    return "\n".join(lines)


def format_summary(hists: Sequence[History]) -> str:
    head = (f"{'run':<28}  {'train loss':>10}  {'test loss':>9}  {'loss gap':>8}  "
            f"{'train acc':>9}  {'test acc':>8}  {'acc gap':>7}")
    lines = [head, "-" * len(head)]
    for h in hists:
        m = h.final()
        lines.append(f"{h.name:<28}  {m['train_loss']:>10.4f}  {m['test_loss']:>9.4f}  "
                     f"{m['loss_gap']:>8.4f}  {m['train_acc']:>9.3f}  {m['test_acc']:>8.3f}  "
                     f"{m['acc_gap']:>7.3f}")
    return "\n".join(lines)


def write_history_csv(path: str, hists: Sequence[History]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "epoch", "train_loss", "test_loss", "train_acc", "test_acc"])
        for h in hists:
            for e in range(len(h.train_loss)):
                w.writerow([h.name, e + 1, f"{h.train_loss[e]:.6f}", f"{h.test_loss[e]:.6f}",
                            f"{h.train_acc[e]:.6f}", f"{h.test_acc[e]:.6f}"])


_COLORS = {NO_DROPOUT: "#d62728", "upscale_in_train": "#1f77b4", "downscale_in_infer": "#2ca02c"}


def plot_digits(path: str, hists: Sequence[History], cfg: Config, n_test: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    for h in hists:
        c = _COLORS[h.mode or NO_DROPOUT]
        ep = np.arange(1, len(h.train_loss) + 1)
        axes[0].plot(ep, h.train_loss, color=c, lw=1.6, ls="--")
        axes[0].plot(ep, h.test_loss, color=c, lw=2.2, label=h.name)
        axes[1].plot(ep, h.train_acc, color=c, lw=1.6, ls="--")
        axes[1].plot(ep, h.test_acc, color=c, lw=2.2, label=h.name)
        axes[2].plot(ep, np.subtract(h.test_loss, h.train_loss), color=c, lw=2.2, label=h.name)
    axes[0].set(title="cross-entropy (solid: test, dashed: train)", xlabel="epoch", ylabel="loss",
                yscale="log")
    axes[1].set(title="accuracy (solid: test, dashed: train)", xlabel="epoch", ylabel="accuracy",
                ylim=(0.8, 1.005))
    axes[2].set(title="generalisation gap: test loss - train loss", xlabel="epoch",
                ylabel="loss gap")
    axes[2].axhline(0.0, color="0.6", lw=0.8)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[2].legend(loc="lower right")
    hid = "-".join(str(k) for k in cfg.hidden)
    fig.suptitle(f"8x8 digits, {cfg.n_train} training / {n_test} test images, MLP 64-{hid}-10, "
                 f"dropout p={cfg.p_input} on pixels, p={cfg.p_hidden} on hidden units",
                 fontsize=12)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# experiment 2: 1-D regression


def _target(x: np.ndarray) -> np.ndarray:
    return np.sin(3.0 * x) + 0.3 * x


def regression_data(cfg: Config, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    x = np.sort(rng.uniform(-2.0, 2.0, cfg.reg_points)).astype(np.float32)
    y = (_target(x) + cfg.reg_noise * rng.standard_normal(cfg.reg_points)).astype(np.float32)
    return x[:, None], y[:, None]


def train_regression(cfg: Config, seed: int, p: Optional[float]) -> MLP:
    """Full-batch Adam on mean squared error; dropout (if ``p``) after both hidden layers."""
    x, y = regression_data(cfg, seed)
    gen = pydropout.Generator(seed, stream=1)
    drops: List[Optional[pydropout.Dropout]] = [None, None, None]
    if p:
        drops = [None, pydropout.Dropout(p, generator=gen), pydropout.Dropout(p, generator=gen)]
    rng = np.random.default_rng(seed + 2)
    net = MLP((1, cfg.reg_width, cfg.reg_width, 1), rng, drops)
    # first-layer kinks spread over the input range (zero biases would put them all at x = 0)
    net.b[0][:] = -net.W[0][0] * rng.uniform(-2.5, 2.5, cfg.reg_width).astype(np.float32)
    opt = Adam(net.params, cfg.reg_lr)
    net.train(True)
    for step in range(cfg.reg_steps):
        opt.lr = cfg.reg_lr * (1.0 - step / cfg.reg_steps)  # linear decay: settle, don't jitter
        out = net.forward(x)
        opt.step(net.backward((2.0 / len(x)) * (out - y)))
    net.train(False)
    return net


def mc_predict(net: MLP, x: np.ndarray, samples: int) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``samples`` training-mode (Monte Carlo) passes."""
    net.train(True)
    preds = np.stack([net.forward(x)[:, 0] for _ in range(samples)])
    net.train(False)
    return preds.mean(axis=0), preds.std(axis=0)


def plot_regression(path: str, cfg: Config, seed: int, plain: MLP,
                    dropped: MLP) -> Dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = regression_data(cfg, seed)
    grid = np.linspace(-2.6, 2.6, 400, dtype=np.float32)[:, None]
    f_plain = plain.forward(grid)[:, 0]
    f_drop = dropped.forward(grid)[:, 0]
    mc_mean, mc_std = mc_predict(dropped, grid, cfg.mc_samples)
    truth = _target(grid[:, 0])

    fig, ax = plt.subplots(figsize=(9, 5.6), constrained_layout=True)
    ax.fill_between(grid[:, 0], mc_mean - 2 * mc_std, mc_mean + 2 * mc_std, color="#1f77b4",
                    alpha=0.18, lw=0, label="Monte Carlo dropout: mean \u00b1 2 sd")
    ax.plot(grid[:, 0], truth, color="0.35", ls=":", lw=1.8, label="true function")
    ax.plot(grid[:, 0], f_plain, color=_COLORS[NO_DROPOUT], lw=2.0, label="no dropout")
    ax.plot(grid[:, 0], f_drop, color="#1f77b4", lw=2.2,
            label=f"dropout p={cfg.reg_p} (evaluation)")
    ax.scatter(x[:, 0], y[:, 0], color="k", s=28, zorder=5, label=f"{cfg.reg_points} noisy points")
    ax.axvspan(-2.6, -2.0, color="0.93", lw=0, zorder=0)
    ax.axvspan(2.0, 2.6, color="0.93", lw=0, zorder=0)
    ax.set(title=f"1-D regression, MLP 1-{cfg.reg_width}-{cfg.reg_width}-1 "
                 f"(grey: outside the training range)",
           xlabel="x", ylabel="y", xlim=(-2.6, 2.6), ylim=(-3, 3))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=3, fontsize=9, frameon=False)
    fig.savefig(path, dpi=110)
    plt.close(fig)

    inside = np.abs(grid[:, 0]) <= 2.0
    fit_plain = float(np.mean((plain.forward(x) - y) ** 2))
    fit_drop = float(np.mean((dropped.forward(x) - y) ** 2))
    return {
        "train_mse_no_dropout": fit_plain,
        "train_mse_dropout": fit_drop,
        "true_mse_no_dropout": float(np.mean((f_plain - truth)[inside] ** 2)),
        "true_mse_dropout": float(np.mean((f_drop - truth)[inside] ** 2)),
    }


# ---------------------------------------------------------------------------------------
# the command


def _single_threaded_blas() -> Any:
    """Small matrices: one BLAS thread is as fast, and sums in a fixed order."""
    try:
        from threadpoolctl import threadpool_limits  # comes with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run(out_dir: str, *, quick: bool = False, seed: int = 0, progress: bool = True,
        every: Optional[int] = None, stream: Any = None) -> Dict[str, Any]:
    """Run both experiments, print the tables, write the figures; return the numbers."""
    with _single_threaded_blas():
        return _run(out_dir, quick=quick, seed=seed, progress=progress, every=every,
                    stream=stream)


def _run(out_dir: str, *, quick: bool, seed: int, progress: bool, every: Optional[int],
         stream: Any) -> Dict[str, Any]:
    stream = stream or sys.stdout
    cfg = QUICK if quick else FULL
    t0 = time.perf_counter()

    def say(text: str = "") -> None:
        print(text, file=stream, flush=True)

    say(f"pydropout {pydropout.__version__} demo ({'quick' if quick else 'full'}, seed {seed}): "
        f"SIMD {pydropout.simd_level()}, {pydropout.get_num_threads()} threads")
    data = load_digits_split(cfg.n_train, seed)
    hid = "-".join(str(k) for k in cfg.hidden)
    say(f"\n[1/2] 8x8 digits: {len(data[1])} training and {len(data[3])} test images, "
        f"MLP 64-{hid}-10, Adam lr {cfg.lr}, batch {cfg.batch}, {cfg.epochs} epochs; dropout "
        f"p={cfg.p_input} on pixels and p={cfg.p_hidden} on hidden units")
    hists = [train_digits(cfg, seed, mode, name, data=data, progress=progress)
             for name, mode in RUNS]
    every = every or max(1, cfg.epochs // 10)
    say()
    say(format_history(hists, every))
    say("\nmeans over the last 5 epochs (loss gap = test - train, acc gap = train - test):")
    say(format_summary(hists))

    os.makedirs(out_dir, exist_ok=True)
    digits_png = os.path.join(out_dir, "digits.png")
    plot_digits(digits_png, hists, cfg, len(data[3]))
    csv_path = os.path.join(out_dir, "digits_history.csv")
    write_history_csv(csv_path, hists)

    say(f"\n[2/2] 1-D regression: {cfg.reg_points} noisy points, MLP 1-{cfg.reg_width}-"
        f"{cfg.reg_width}-1, {cfg.reg_steps} full-batch steps, without and with dropout "
        f"p={cfg.reg_p}")
    plain = train_regression(cfg, seed, None)
    dropped = train_regression(cfg, seed, cfg.reg_p)
    reg_png = os.path.join(out_dir, "regression.png")
    reg = plot_regression(reg_png, cfg, seed, plain, dropped)
    say("  mean squared error  on the noisy points  against the true function")
    for label, key in (("no dropout", "no_dropout"), (f"dropout p={cfg.reg_p}", "dropout")):
        say(f"  {label:<18}{reg['train_mse_' + key]:>21.4f}  {reg['true_mse_' + key]:>23.4f}")

    say(f"\nwrote {digits_png}, {reg_png}, {csv_path} ({time.perf_counter() - t0:.1f} s)")
    return {"histories": hists, "regression": reg,
            "files": [digits_png, reg_png, csv_path]}
