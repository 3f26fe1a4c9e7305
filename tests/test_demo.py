"""python -m pydropout demo: runs, writes readable figures, and its figures show their claims.

The digits runs: dropout narrows the train/test gap. The regression: without dropout the
wide network passes through every training point; with dropout it is smoother and closer to
held-out points; the Monte Carlo band widens away from the data. All on the quick run, seed 0.
"""

import argparse
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import pydropout

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
pytest.importorskip("tqdm")

from pydropout import _cli, _demo  # after the skips: _demo needs the demo extra

# the pydropout this file imported (a checkout or the installed package), for subprocesses
# that run outside the source tree
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pydropout.__file__)))


def _env():
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=_ROOT + (os.pathsep + path if path else ""))


def _children_cpu_s():
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    cpu0 = _children_cpu_s()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pydropout",
            "demo",
            "--quick",
            "--seed",
            "0",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=out,
        env=_env(),
    )
    r.cpu_s = _children_cpu_s() - cpu0
    return r, out


@pytest.fixture(scope="module")
def regression():
    """The quick run's regression (the same settings as the full run's), seed 0."""
    cfg, seed = _demo.QUICK, 0
    data = _demo.regression_data(cfg, seed)
    plain = _demo.train_regression(cfg, seed, None, data)
    dropped = _demo.train_regression(cfg, seed, cfg.reg_p, data)
    return _demo.regression_metrics(cfg, seed, data, plain, dropped)


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
    assert "1-D regression" in text and "test MSE" in text


@pytest.mark.slow  # runs the demo
def test_quick_demo_is_quick(quick_run):
    """--quick is the README's first command: well under a minute (it takes ~8 s of CPU)."""
    r, _ = quick_run
    assert r.returncode == 0, r.stderr
    if r.cpu_s == r.cpu_s:  # CPU time, not wall time: other work on the machine does not count
        assert r.cpu_s < 40, r.cpu_s


def _final_means(path):
    """Per run: means over the last 5 epochs of train/test loss and accuracy."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    means = {}
    for name, _ in _demo.RUNS:
        mine = [r for r in rows if r["run"] == name]
        assert [int(r["epoch"]) for r in mine] == list(range(1, _demo.QUICK.epochs + 1))
        means[name] = {
            k: np.mean([float(r[k]) for r in mine[-5:]])
            for k in ("train_loss", "test_loss", "train_acc", "test_acc")
        }
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


@pytest.mark.slow  # runs the demo
def test_csv_records_the_seed_and_settings(quick_run):
    _, out = quick_run
    with open(out / "digits_history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cfg = _demo.QUICK
    for r in rows:
        assert r["seed"] == "0" and r["quick"] == "1"
        assert int(r["n_train"]) == cfg.n_train and int(r["epochs"]) == cfg.epochs
        assert r["hidden"] == "-".join(map(str, cfg.hidden)) and int(r["batch"]) == cfg.batch
        assert r["optimizer"] == cfg.optimizer and float(r["lr"]) == cfg.lr
    modes = {r["run"]: (r["mode"], float(r["p_input"]), float(r["p_hidden"])) for r in rows}
    assert modes[_demo.NO_DROPOUT] == ("none", 0.0, 0.0)
    for name, mode in _demo.RUNS[1:]:
        assert modes[name] == (mode, cfg.p_input, cfg.p_hidden)


def test_digits_title_says_seed_run_and_modes():
    for quick, cfg in ((True, _demo.QUICK), (False, _demo.FULL)):
        title = _demo.digits_title(cfg, 1647, 7, quick)
        assert "seed 7" in title and ("quick run" if quick else "full run") in title
        assert "upscale_in_train" in title and "downscale_in_infer" in title
        assert f"{cfg.epochs} epochs" in title


def test_regression_without_dropout_passes_through_every_point(regression):
    # "near 0": under 1 % of the noise variance (0.16); the run gives ~1e-5
    assert regression["train_mse_no_dropout"] < 1e-3, regression
    # ... and it swings to get there: it goes up and down far more than the true function
    assert regression["variation_no_dropout"] > 1.6 * regression["variation_truth"], regression


def test_regression_with_dropout_is_smoother_and_closer_to_held_out_points(regression):
    m = regression
    assert m["test_mse_dropout"] < 0.8 * m["test_mse_no_dropout"], m
    assert m["true_mse_dropout"] < 0.5 * m["true_mse_no_dropout"], m
    assert m["train_mse_dropout"] > 100 * m["train_mse_no_dropout"], m  # it does not chase
    assert m["variation_dropout"] < 0.75 * m["variation_no_dropout"], m
    # it follows the function over the whole training range: no flat stretch inside it
    grid, curve, truth = m["grid"], m["curve_dropout"], m["truth"]
    inside = np.abs(grid) <= _demo.REG_RANGE[1]
    assert np.max(np.abs(curve - truth)[inside]) < 1.0, m


def test_monte_carlo_band_grows_away_from_the_data(regression):
    m = regression
    assert m["band_outside"] > 3 * m["band_on_data"], m
    # and it grows steadily with the distance, on either side
    grid, half = m["grid"], 2 * m["mc_std"]
    lo, hi = _demo.REG_RANGE
    for edge, beyond in ((hi, grid >= hi + 0.5), (lo, grid <= lo - 0.5)):
        assert half[beyond].min() > 2 * m["band_on_data"], (edge, m)


def test_regression_repeats_exactly():
    cfg = _demo.Config(reg_width=32, reg_steps=20, mc_samples=3)
    runs = []
    for _ in range(2):
        d = _demo.regression_data(cfg, 3)
        a = _demo.train_regression(cfg, 3, None, d)
        b = _demo.train_regression(cfg, 3, cfg.reg_p, d)
        runs.append(_demo.regression_metrics(cfg, 3, d, a, b))
    for key, value in runs[0].items():
        np.testing.assert_array_equal(value, runs[1][key], err_msg=key)


def _demo_parser():
    sub = next(a for a in _cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["demo"]


def test_help_names_every_option_in_one_line():
    r = subprocess.run(
        [sys.executable, "-m", "pydropout", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert r.returncode == 0, r.stderr
    options = [a for a in _demo_parser()._actions if a.option_strings]
    assert {o for a in options for o in a.option_strings} >= {
        "--quick",
        "--seed",
        "--out",
        "--every",
        "--no-progress",
    }
    for a in options:
        assert a.help and "\n" not in a.help and len(a.help) < 100, a.option_strings
        for o in a.option_strings:
            assert o in r.stdout, o


def test_missing_dependency_hint_names_pypi_packages(monkeypatch, capsys):
    monkeypatch.setattr(_cli, "_importable", lambda name: name != "sklearn")
    assert _cli.main(["demo", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "scikit-learn" in err and "sklearn" not in err.replace("scikit-learn", "")
    assert "pip install matplotlib scikit-learn tqdm" in err and 'pip install ".[demo]"' in err
    assert "pydropout[demo]" not in err  # there is no such package on PyPI
    assert _demo.requirements_hint(["tqdm"]).startswith("demo needs tqdm: ")


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
    drops = [
        pydropout.Dropout(0.3, generator=pydropout.Generator(1)),
        None,
        pydropout.Dropout(0.5, mode="downscale_in_infer", generator=pydropout.Generator(2)),
    ]
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
