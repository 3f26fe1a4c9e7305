"""The demo's second experiment: a wide network fitted to a few noisy points of a 1-D function.

Part of ``python -m pydropout demo`` (see :mod:`pydropout._demo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

import pydropout

from ._demo_model import _COLORS, MLP, NO_DROPOUT, Adam, Config

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
# the plot's point sets: held-out points faint and behind the curves, training points on top
_HELD_OUT: Dict[str, Any] = dict(s=9, color="0.55", alpha=0.55, lw=0, zorder=2)
_TRAINING: Dict[str, Any] = dict(s=42, color="k", zorder=5)


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

    def drop(k: int, h: np.ndarray) -> np.ndarray:
        layer = net.drops[k]
        if layer is None:
            return h
        return pydropout.dropout(
            h, layer.p, mode=layer.mode, noise_shape=(1, h.shape[1]), generator=generator
        )

    preds = [net.layers(x, drop)[:, 0] for _ in range(samples)]
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
        **_HELD_OUT,
        label=f"{cfg.reg_test} held-out points (test MSE)",
    )
    (true,) = ax.plot(
        x, m["truth"], color="0.2", ls=":", lw=2.0, zorder=3, label=f"true function {TARGET_TEXT}"
    )

    def fit(name: str, color: str, lw: float, label: str) -> Any:
        """The curve of one fitted network (m["curve_" + name]), with its errors."""
        train_mse, test_mse = _fmt_mse(m["train_mse_" + name]), _fmt_mse(m["test_mse_" + name])
        mse = f"train MSE {train_mse}, test MSE {test_mse}"
        (line,) = ax.plot(
            x, m["curve_" + name], color=color, lw=lw, zorder=4, label=f"{label}: {mse}"
        )
        return line

    plain = fit("no_dropout", _COLORS[NO_DROPOUT], 2.0, "no dropout")
    drop = fit("dropout", "#1f77b4", 2.4, f"dropout p={cfg.reg_p}")
    train = ax.scatter(
        data.x[:, 0],
        data.y[:, 0],
        **_TRAINING,
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
