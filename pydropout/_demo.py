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

from ._demo_model import (
    _COLORS,
    FULL,
    MLP,
    NO_DROPOUT,
    QUICK,
    RUNS,
    SGD,
    Adam,
    Config,
    softmax_xent,
)
from ._demo_regression import (  # noqa: F401
    REG_RANGE,
    REG_VIEW,
    TARGET_TEXT,
    RegressionData,
    _fmt_mse,
    _mse,
    _target,
    format_regression,
    mc_predict,
    plot_regression,
    regression_data,
    regression_metrics,
    train_regression,
)

# what the demo imports beyond NumPy: module name -> the PyPI package that installs it
REQUIREMENTS = {"matplotlib": "matplotlib", "sklearn": "scikit-learn", "tqdm": "tqdm"}


def requirements_hint(missing: Sequence[str]) -> str:
    """One line: what is missing (PyPI names) and the commands that install it."""
    return (
        f"demo needs {', '.join(missing)}: pip install {' '.join(REQUIREMENTS.values())} "
        f'(or, in a clone of pydropout, pip install ".[demo]")'
    )


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
