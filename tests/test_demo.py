"""python -m pydropout demo: runs, writes readable figures, shows dropout narrowing the gap."""

import csv
import subprocess
import sys

import numpy as np
import pytest

import pydropout

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
pytest.importorskip("tqdm")

from pydropout import _demo  # noqa: E402  (after the skips: it needs the demo extra)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    r = subprocess.run([sys.executable, "-m", "pydropout", "demo", "--quick", "--seed", "0",
                        "--out", str(out)], capture_output=True, text=True, timeout=300,
                       cwd=out)  # outside the source tree: the installed package is under test
    return r, out


@pytest.mark.slow  # trains the demo's models
def test_quick_demo_runs_and_writes_figures(quick_run):
    r, out = quick_run
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    for name in ("digits.png", "regression.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    text = r.stdout
    for run_name, _ in _demo.RUNS:
        assert run_name in text
    assert "train loss" in text and "test acc" in text and "loss gap" in text
    assert "1-D regression" in text


def _final_means(path):
    """Per run: means over the last 5 epochs of train/test loss and accuracy."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    means = {}
    for name, _ in _demo.RUNS:
        mine = [r for r in rows if r["run"] == name]
        assert [int(r["epoch"]) for r in mine] == list(range(1, _demo.QUICK.epochs + 1))
        means[name] = {k: np.mean([float(r[k]) for r in mine[-5:]])
                       for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    return means


@pytest.mark.slow  # trains the demo's models
def test_dropout_narrows_the_train_test_gap(quick_run):
    _, out = quick_run
    m = _final_means(out / "digits_history.csv")
    plain = m[_demo.NO_DROPOUT]
    plain_gap = plain["test_loss"] - plain["train_loss"]
    assert plain["train_acc"] == 1.0 and plain["train_loss"] < 1e-3  # it has memorised
    for name, _ in _demo.RUNS[1:]:
        ours = m[name]
        assert ours["test_loss"] - ours["train_loss"] < 0.85 * plain_gap, (name, m)
        assert ours["test_loss"] < plain["test_loss"], (name, m)
        assert ours["test_acc"] >= plain["test_acc"] - 0.01, (name, m)
        assert ours["train_loss"] > 20 * plain["train_loss"], (name, m)  # not memorised


def test_seed_repeats_exactly():
    cfg = _demo.Config(n_train=60, hidden=(16,), epochs=2, batch=16)
    data = _demo.load_digits_split(cfg.n_train, 5)
    a = _demo.train_digits(cfg, 5, "upscale_in_train", data=data, progress=False)
    b = _demo.train_digits(cfg, 5, "upscale_in_train", data=data, progress=False)
    c = _demo.train_digits(cfg, 6, "upscale_in_train", data=data, progress=False)
    assert a.test_loss == b.test_loss and a.train_acc == b.train_acc
    assert a.test_loss != c.test_loss


def test_hand_written_backward_matches_finite_differences():
    """The MLP's backward (through pydropout.Dropout layers) is the gradient of its forward."""
    rng = np.random.default_rng(0)
    drops = [pydropout.Dropout(0.3, generator=pydropout.Generator(1)), None,
             pydropout.Dropout(0.5, mode="downscale_in_infer", generator=pydropout.Generator(2))]
    net = _demo.MLP((5, 7, 6, 3), rng, drops)
    net.W = [w.astype(np.float64) for w in net.W]
    net.b = [b.astype(np.float64) + 0.1 for b in net.b]
    x = rng.standard_normal((4, 5))
    y = np.array([0, 2, 1, 2])

    def loss():
        for d, g in zip(drops, (pydropout.Generator(1), None, pydropout.Generator(2))):
            if d is not None:
                d.generator.set_state(g.get_state())  # the same masks on every call
        value, dlogits = _demo.softmax_xent(net.forward(x), y)
        return value, dlogits.astype(np.float64)

    _, dlogits = loss()
    grads = net.backward(dlogits)
    eps = 1e-6
    for param, grad in zip(net.params, grads):
        for idx in list(np.ndindex(param.shape))[:12]:
            old = param[idx]
            param[idx] = old + eps
            up, _ = loss()
            param[idx] = old - eps
            down, _ = loss()
            param[idx] = old
            assert abs((up - down) / (2 * eps) - grad[idx]) < 1e-6
