"""The benchmark harness (benchmarks/pdbench): a tiny run produces its table, JSON, plot
and performance goals, and its correctness check fails the run when a pydropout row
computes the wrong bits. Slow tests: the default run leaves them out."""

import importlib.util
import json
import pathlib
import re
import sys

import numpy as np
import pytest

import pydropout
from pydropout import _core

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

from pdbench import cli, config, goals, model, names, oracle, peers, plan, rows, timing

pytestmark = pytest.mark.slow

# a run of two short rounds: every row is timed and checked, nothing is measured well
TINY = "--sizes 1Ki --dtypes float32 --threads 1 --rounds 2 --min-time 0.0002 --budget 0.05".split()


def test_tiny_run_writes_table_json_plot(tmp_path, capsys):
    simd, threads = _core.simd_level(), _core.get_num_threads()
    assert cli.main(TINY + ["--ops", "plain", "--out", str(tmp_path)]) == 0
    assert (_core.simd_level(), _core.get_num_threads()) == (simd, threads)  # restored

    out = capsys.readouterr().out
    assert "| op | dtype | n | threads | implementation | SIMD | ns/elem | GB/s | x copy |" in out
    for op in names.OPS:
        assert f"| {op} |" in out
    assert "## Performance goals" in out and "| 6 | dropout float32 1Ki call" in out
    assert "| goal | what | limit |" in out
    assert "All pydropout rows equal pydropout.reference bit for bit." in out

    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["meta"]["build"] == dict(_core.build_info())
    assert doc["meta"]["simd_benchmarked"] == sorted(
        _core.supported_simd_levels()[: _core.supported_simd_levels().index(simd) + 1],
        key=_core.supported_simd_levels().index,
        reverse=True,
    )
    assert {g["op"] for g in doc["groups"]} == set(names.OPS)
    for g in doc["groups"]:
        kinds = {c["kind"] for c in g["candidates"]}
        assert {"ceiling", "pydropout", "kernel", "peer"} <= kinds
        for c in g["candidates"]:
            assert len(c["samples_s"]) == 2 and c["best_s"] == min(c["samples_s"]) > 0
            assert c["check"] == ("ok" if c["kind"] in ("pydropout", "out", "kernel") else "")
    t6 = next(t for t in doc["goals"] if t["id"] == "6")
    assert t6["status"] in ("PASS", "FAIL") and t6["value"] > 0
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (tmp_path / "readme.md").read_text()
    results = (tmp_path / "results.md").read_text()
    assert "| n | copy (ceiling) |" in readme and "## Every row" in results
    # the README section: its markers, the measurements, no dates and no tracker words
    assert readme.startswith("<!-- section:performance -->\n## Performance\n")
    assert readme.rstrip().endswith("<!-- /section:performance -->")
    assert not re.search(r"\d{4}-\d\d-\d\d|UTC", readme)
    for text in (out, readme, results):
        assert not re.search(r"issue|target|session", text, re.IGNORECASE)


def _python(cwd, env, *args, timeout=120):
    """``python *args`` in ``cwd`` with ``env``, its output captured as text."""
    import subprocess

    cmd = [sys.executable, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def test_the_entry_script_names_itself(tmp_path):
    """`python benchmarks/bench_dropout.py --help` from anywhere: the usage line names
    the real entry; --list prints the groups and runs nothing."""
    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    entry = BENCH / "bench_dropout.py"
    run = _python(tmp_path, env, entry, "--help")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: python benchmarks/bench_dropout.py")
    assert "--require-goals" in run.stdout and "target" not in run.stdout
    run = _python(
        tmp_path, env, entry, "--list", "--ops", "mask", "--sizes", "1Ki", "--threads", "1"
    )
    assert run.returncode == 0 and run.stdout.split("\n")[0] == "mask n=1Ki threads=1"


HAVE_TORCH = importlib.util.find_spec("torch") is not None


def test_tiny_run_of_the_extra_ops(tmp_path, capsys):
    """The state backward, the variants and pydropout.torch: every pydropout row checked
    bit for bit, the copy beside it, torch's own op where torch has one."""
    simd, threads = _core.simd_level(), _core.get_num_threads()
    # (a later --sizes replaces TINY's)
    argv = TINY + ["--ops", "extra", "--sizes", "4Ki", "--simd", simd, "--no-plot"]
    argv += ["--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert (_core.simd_level(), _core.get_num_threads()) == (simd, threads)  # restored
    out = capsys.readouterr().out
    assert "## State backward, variants and pydropout.torch\n" in out
    assert "All pydropout rows equal pydropout.reference bit for bit." in out

    doc = json.loads((tmp_path / "results.json").read_text())
    want = set(names.EXTRA_OPS) - (set() if HAVE_TORCH else {"torch_fwd_bwd"})
    assert {g["op"] for g in doc["groups"]} == want
    groups = {g["op"]: g for g in doc["groups"]}
    for op, g in groups.items():
        assert g["n"] == 4096 and g["threads"] == 1
        by_kind = {}
        for c in g["candidates"]:
            by_kind.setdefault(c["kind"], []).append(c["name"])
            assert len(c["samples_s"]) == 2 and c["best_s"] > 0
            assert c["check"] == ("ok" if c["kind"] in names.PYDROPOUT_KINDS else "")
        assert len(by_kind["ceiling"]) == 1 and by_kind["pydropout"] == [names.PUBLIC_NAMES[op]]
        if op != "torch_fwd_bwd":
            assert "np.multiply(x, 2.0, out=y)" in by_kind["peer"]
            assert by_kind["out"] == [names.OUT_NAMES[op]]
    # the mask-free backward beside the backward from the mask, bytes without the mask
    bs = groups["backward_state"]
    assert [c["name"] for c in bs["candidates"] if c["kind"] == "alt"] == [
        "pydropout.dropout_backward(mask)"
    ]
    assert {c["name"]: c["bytes"] for c in bs["candidates"]}[
        names.PUBLIC_NAMES["backward_state"]
    ] == 2 * 4096 * 4
    if HAVE_TORCH:
        peers = {
            op: [c["name"] for c in g["candidates"] if c["peer"] == "torch"]
            for op, g in groups.items()
        }
        assert peers["alpha"] == ["torch F.alpha_dropout"]
        assert peers["channel"] == ["torch F.dropout2d"]
        assert peers["gaussian"] == []  # torch has no Gaussian dropout
        assert peers["torch_fwd_bwd"] == ["torch.nn.Dropout", "torch F.dropout (functional)"]
        tf = groups["torch_fwd_bwd"]
        assert {c["name"] for c in tf["candidates"] if c["kind"] == "alt"} == {
            "pydropout.torch.dropout (functional)",
            "pydropout.torch.Dropout(save='state')",
        }
        assert "| torch_fwd_bwd | float32 | 4Ki | 1 | pydropout.torch.Dropout" in out


def test_extra_ops_in_the_default_plan():
    keys = plan.plan(config.make_config([]))
    extra = {(k.op, k.dtype, k.n) for k in keys if k.op in names.EXTRA_OPS}
    ops = set(names.EXTRA_OPS) - (set() if HAVE_TORCH else {"torch_fwd_bwd"})
    assert extra == {(op, "float32", n) for op in ops for n in (names.MI, 16 * names.MI)}
    quick = plan.plan(config.make_config(["--quick"]))
    assert [k.op for k in quick if k.op in names.EXTRA_OPS] == ["backward_state"]
    cfg = config.make_config(["--ops", "variants,plain", "--sizes", "1Ki", "--dtypes", "f64"])
    assert cfg.ops == list(names.VARIANT_OPS) + list(names.OPS)
    assert {k.dtype for k in plan.plan(cfg) if k.op in names.VARIANT_OPS} == {"float64"}
    assert plan.channel_shape(16 * names.MI) == (128, 128, 32, 32)
    assert plan.channel_shape(1000003) == (1, 1000003, 1, 1)


def _bump(a, i):
    flat = a.reshape(-1)
    flat[i] = flat[i] + 1  # a kept value changes, a dropped +0.0 becomes 1
    return a


def _spoil(monkeypatch, name, spoil):
    """``pydropout.<name>`` returning ``spoil(its result)``."""
    real = getattr(pydropout, name)
    monkeypatch.setattr(pydropout, name, lambda *args, **kwargs: spoil(real(*args, **kwargs)))


def _flip_last_bit(m):
    m[-1] ^= 1
    return m


def _wrong_dropout(monkeypatch):
    # the thread boundary of a two-way split
    _spoil(monkeypatch, "dropout", lambda y: _bump(y, y.size // 2))


def _wrong_mask(monkeypatch):
    _spoil(monkeypatch, "dropout_with_mask", lambda ym: (ym[0], _flip_last_bit(ym[1])))


def _wrong_apply_kernel(monkeypatch):
    real = _core.apply

    def apply(x, y, *args):
        real(x, y, *args)
        _bump(y, 3)

    monkeypatch.setattr(_core, "apply", apply)


def _failing_run(tmp_path, capsys, op, size, *extra):
    """A run of ``op`` at one SIMD level, no peers: it must fail its correctness checks,
    each failure naming the reference; returns the failures."""
    argv = ["--sizes", size, "--dtypes", "float32", "--threads", "2", "--ops", op]
    argv += ["--simd", _core.simd_level(), "--peers", "none", *extra]
    argv += ["--rounds", "1", "--min-time", "0", "--no-plot", "--out", str(tmp_path)]
    assert cli.main(argv) == 1
    assert "CORRECTNESS CHECKS FAILED" in capsys.readouterr().out
    failures = json.loads((tmp_path / "results.json").read_text())["check_failures"]
    assert failures and all("differs from pydropout.reference" in f for f in failures)
    return failures


@pytest.mark.parametrize(
    "op, size, wrong",
    [
        ("forward", "1Ki", _wrong_dropout),
        ("forward", "2Mi", _wrong_dropout),  # past CHECK_FULL: slices are compared
        ("forward_mask", "1Ki", _wrong_mask),
        ("backward", "1Ki", _wrong_apply_kernel),
    ],
)
def test_a_wrong_kernel_fails_the_run(tmp_path, capsys, monkeypatch, op, size, wrong):
    wrong(monkeypatch)
    _failing_run(tmp_path, capsys, op, size)


def _wrong_alpha(monkeypatch):
    # the last element: a kept one or the dropped constant
    _spoil(monkeypatch, "alpha_dropout", lambda y: _bump(y, y.size - 1))


def _last_channel_bumped(y):
    y[-1, -1] = y[-1, -1] + 1  # the last channel, present in the checked slices
    return y


def _wrong_channel(monkeypatch):
    _spoil(monkeypatch, "dropout2d", _last_channel_bumped)


def _one_word_on(st):
    """A state one word further on: the regenerated mask is shifted by one element."""
    return pydropout.DropoutState(st.seed, st.stream, st.offset + 1, st.shape, st.p, st.mode)


def _wrong_state(monkeypatch):
    _spoil(monkeypatch, "dropout_with_state", lambda ys: (ys[0], _one_word_on(ys[1])))


def _wrong_torch_gradient(monkeypatch):
    """pydropout.torch.Dropout with one element of dx off by one (the output is right)."""
    import torch

    import pydropout.torch as pdt

    class BumpGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            g = g.clone()
            g.view(-1)[5] += 1
            return g

    class Dropout(pdt.Dropout):
        def forward(self, x):
            return super().forward(BumpGrad.apply(x))

    monkeypatch.setattr(pdt, "Dropout", Dropout)


@pytest.mark.parametrize(
    "op, size, wrong",
    [
        ("alpha", "1Ki", _wrong_alpha),
        ("channel", "2Mi", _wrong_channel),  # past CHECK_FULL: whole channels of slices
        ("backward_state", "1Ki", _wrong_state),
        pytest.param(
            "torch_fwd_bwd",
            "1Ki",
            _wrong_torch_gradient,
            marks=pytest.mark.skipif(not HAVE_TORCH, reason="needs torch"),
        ),
    ],
)
def test_a_wrong_variant_fails_the_run(tmp_path, capsys, monkeypatch, op, size, wrong):
    wrong(monkeypatch)
    failures = _failing_run(tmp_path, capsys, op, size, "--no-kernel")
    public = names.PUBLIC_NAMES[op]
    assert any(public in f for f in failures)
    if op == "torch_fwd_bwd":  # the output is right: the gradient's check catches it
        assert all("gradient differs" in f for f in failures)


def test_check_regions_cover_head_tail_and_thread_boundaries():
    n = 16 * names.MI
    regions = plan.check_regions(n, 2)
    assert regions[0][0] == 0 and regions[-1][1] == n
    assert any(a < n // 2 < b for a, b in regions)
    assert all(a % 8 == 0 and (b - a) % 8 == 0 for a, b in regions)
    assert plan.check_regions(1000, 2) == [(0, 1000)]
    odd = 3 * names.MI + 5
    assert plan.check_regions(odd, 7)[-1][1] == odd


def _result(op, dtype, n, threads, times, level="avx512"):
    cands = []
    for kind, t in times.items():
        peer = kind if kind in names.PEERS else ""
        c = model.Candidate(
            kind,
            "peer" if peer else kind,
            peer,
            level if kind in ("pydropout", "out", "kernel", "one_thread") else "",
            1,
            lambda: None,
            threads=1 if kind == "one_thread" else None,
        )
        c.samples = [t, 2 * t]
        cands.append(c)
    return model.GroupResult(model.GroupKey(op, dtype, n, threads), cands, {})


def test_goals_use_the_rows_they_name():
    cfg = config.make_config(
        ["--simd", "avx2" if "avx2" in _core.supported_simd_levels() else "scalar"]
    )
    cfg.default_level, cfg.all_threads = "avx512", 2
    MI, KI = names.MI, names.KI
    res = [
        # goal 1 float32 passes on dropout_with_mask (the row called "pydropout"); the
        # raw kernel's better ratio must not be used
        _result(
            "forward_mask",
            "float32",
            16 * MI,
            2,
            {"ceiling": 10.0, "pydropout": 10.9, "kernel": 5.0},
        ),
        _result(
            "forward_mask",
            "float64",
            16 * MI,
            2,
            {"ceiling": 10.0, "pydropout": 11.2, "kernel": 5.0},
        ),
        _result("backward", "float16", 16 * MI, 2, {"ceiling": 10.0, "pydropout": 10.9}),
        _result("forward", "float32", MI, 1, {"pydropout": 1.0, "numpy": 10.5, "torch": 29.0}),
        _result("forward", "float32", MI, 2, {"pydropout": 0.5}),
        _result(
            "forward_mask",
            "float32",
            16 * MI,
            2,
            {"ceiling": 10.0, "pydropout": 12.0},
            level="avx2",
        ),
        _result("forward", "float32", KI, 2, {"pydropout": 3.1, "multiply": 1.0}),
    ]
    # merge the AVX2 row into the float32 16 Mi group, as one run would have it
    res[0].cands += res.pop(5).cands[1:]
    got = {t.ident: t for t in goals.evaluate_goals(cfg, res)}
    assert got["1 float32"].status() == "PASS" and got["1 float32"].value == pytest.approx(1.09)
    assert got["1 float64"].status() == "FAIL"
    assert got["1 float16"].status() == "n/a"
    assert got["2 float16"].status() == "PASS"  # limit 1.10 for float16
    assert got["3 numpy"].status() == "PASS" and got["3 torch"].status() == "FAIL"
    assert got["4"].value == pytest.approx(2.0) and got["4"].status() == "PASS"
    if "avx2" in _core.supported_simd_levels():
        assert got["5"].value == pytest.approx(1.2) and got["5"].status() == "PASS"
    assert got["6"].status() == "FAIL" and got["6"].value == pytest.approx(3.1)
    assert np.isfinite([t.value for t in got.values() if t.value is not None]).all()


def test_goals_state_the_floor_the_words_alone_set():
    cfg = config.make_config([])
    cfg.default_level, cfg.all_threads = "avx512", 2
    MI = names.MI
    res = [
        _result("forward_mask", "float16", 16 * MI, 2, {"ceiling": 10.0, "pydropout": 21.0}),
        _result("mask", names.NO_DTYPE, 16 * MI, 2, {"ceiling": 0.5, "pydropout": 18.0}),
        _result("forward", "float32", MI, 1, {"pydropout": 400e-6, "numpy": 3300e-6}),
        _result("mask", names.NO_DTYPE, MI, 1, {"ceiling": 0.1e-6, "pydropout": 350e-6}),
    ]
    got = {t.ident: t for t in goals.evaluate_goals(cfg, res)}
    # ratio to the forward group's copy, not to the mask group's own (mask-sized) copy
    assert "the words alone (dropout_mask) 1.80x copy" in got["1 float16"].detail
    assert got["1 float16"].value == pytest.approx(2.1)
    assert "the limit needs <= 330.0 us" in got["3 numpy"].detail
    assert "the words alone (dropout_mask) 350.0 us" in got["3 numpy"].detail
    # without the mask groups the details say nothing of a floor
    got = {t.ident: t for t in goals.evaluate_goals(cfg, [res[0], res[2]])}
    assert "words alone" not in got["1 float16"].detail + got["3 numpy"].detail
    # --quick measures both floors
    qcfg = config.make_config(["--quick"])
    assert {(k.n, k.threads) for k in plan.plan(qcfg) if k.op == "mask"} == {
        (MI, 1),
        (16 * MI, qcfg.all_threads),
    }


def test_floor_goal_compares_each_compute_bound_forward_with_the_words_alone():
    cfg = config.make_config([])
    cfg.default_level, cfg.all_threads = "avx512", 2
    MI = names.MI
    avx2 = "avx2" in _core.supported_simd_levels()

    def group(op, dtype, n, threads, t512, t2):
        g = _result(op, dtype, n, threads, {"pydropout": t512})
        g.cands += _result(op, dtype, n, threads, {"pydropout": t2}, level="avx2").cands
        return g

    res = [
        group("mask", names.NO_DTYPE, MI, 1, 1.0, 2.0),
        group("mask", names.NO_DTYPE, 16 * MI, 2, 8.0, 16.0),
        group("forward", "float16", MI, 1, 1.08, 2.1),
        group("forward", "float16", 16 * MI, 2, 8.4, 17.0),
        group("forward", "float32", MI, 1, 1.5, 2.1),  # float32 at avx512: not a floor case
        group("forward", "float32", 16 * MI, 2, 20.0, 17.6),
        group("forward", "float64", MI, 1, 3.0, 2.0),  # float64 at avx512: not a floor case
        group("forward", "float64", 16 * MI, 2, 30.0, 16.8),
    ]
    t7 = {t.ident: t for t in goals.evaluate_goals(cfg, res)}["7"]
    assert goals.floor_cases("avx512")[0] == ("float16", "avx512")
    if avx2:
        # the worst case: float32 at the AVX2 level, 16 Mi (17.6 / 16)
        assert t7.value == pytest.approx(1.10) and t7.status() == "PASS"
        assert "float32 [avx2] 16Mi t=2 1.100" in t7.detail
        assert "float16 [avx2] 1Mi t=1 1.050" in t7.detail
        assert "float64 [avx2] 16Mi t=2 1.050" in t7.detail and "float64 [avx512]" not in t7.detail
        res[3].cands[1].samples = [17.8, 20.0]  # float16 at AVX2, 16 Mi: 1.1125
        t7 = {t.ident: t for t in goals.evaluate_goals(cfg, res)}["7"]
        assert t7.value == pytest.approx(1.1125) and t7.status() == "FAIL"
    else:
        assert t7.value == pytest.approx(1.08) and t7.status() == "PASS"
    # without the mask groups it measures nothing
    t7 = {t.ident: t for t in goals.evaluate_goals(cfg, res[2:])}["7"]
    assert t7.status() == "n/a" and "not measured" in t7.detail
    # --quick times every row the goal reads
    qkeys = {(k.op, k.dtype, k.n, k.threads) for k in plan.plan(config.make_config(["--quick"]))}
    T = config.make_config(["--quick"]).all_threads
    for dtype in ("float16", "float32", "float64"):
        assert ("forward", dtype, 16 * MI, T) in qkeys and ("forward", dtype, MI, 1) in qkeys


def test_readme_command_names_the_environment_it_ran_with(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_PROC_BIND", "close")
    monkeypatch.delenv("PYDROPOUT_SIMD", raising=False)
    assert cli.main(TINY + ["--ops", "forward", "--no-plot", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "readme.md").read_text()
    assert "OMP_PROC_BIND=close python benchmarks/bench_dropout.py --sizes 1Ki" in text


def test_thread_scaling_prefers_the_one_thread_row_timed_beside_the_all_thread_row():
    cfg = config.make_config([])
    cfg.default_level, cfg.all_threads = "avx512", 2
    MI = names.MI
    one = _result("forward", "float32", MI, 1, {"pydropout": 1.0})
    both = _result("forward", "float32", MI, 2, {"pydropout": 0.5, "one_thread": 0.85})
    t4 = {t.ident: t for t in goals.evaluate_goals(cfg, [one, both])}["4"]
    assert t4.value == pytest.approx(1.7) and t4.status() == "FAIL"
    assert "interleaved" in t4.detail and "1-thread group" in t4.detail and "2.00x" in t4.detail
    # without the interleaved row (an older run's groups), the two groups are used
    both.cands.pop()
    t4 = {t.ident: t for t in goals.evaluate_goals(cfg, [one, both])}["4"]
    assert t4.value == pytest.approx(2.0) and t4.status() == "PASS"


def test_the_all_thread_1mi_group_times_one_thread_beside_it(tmp_path):
    """The 1-thread row of the thread-scaling goal runs with one thread (its own thread
    count, set before each of its samples) and matches the reference like every pydropout
    row."""
    if _core.get_num_threads() < 2:
        pytest.skip("one thread only")
    threads = _core.get_num_threads()
    seen = []
    real = timing._time

    def spy(fn, number):
        seen.append(_core.get_num_threads())
        return real(fn, number)

    cfg = config.make_config(
        [
            "--sizes",
            "1Mi",
            "--ops",
            "forward",
            "--dtypes",
            "float32",
            "--threads",
            "all",
            "--simd",
            _core.simd_level(),
            "--peers",
            "none",
            "--no-out",
            "--no-kernel",
            "--rounds",
            "2",
            "--min-time",
            "0.0002",
            "--budget",
            "0.05",
        ]
    )
    key = model.GroupKey("forward", "float32", names.MI, threads)
    arrs = oracle.Arrays("float32", names.MI, cfg.p)
    cands = rows.build_candidates(cfg, key, arrs, peers.Peers([]))
    row = next(c for c in cands if c.kind == "one_thread")
    assert row.threads == 1 and row.simd == cfg.default_level
    timing._time = spy
    try:
        timing.run_group(cfg, key, cands)
    finally:
        timing._time = real
        _core.set_num_threads(threads)
    assert row.check_result == "ok" and len(row.samples) == 2
    assert 1 in seen and threads in seen


def test_candidates_wait_after_a_foreign_pool_in_proportion_to_its_sample(monkeypatch):
    """After a torch or JAX sample the next candidate waits at least GAP_SHARE of that
    sample's time (their worker threads stay busy after a long call returns)."""
    cfg = config.make_config(["--rounds", "2", "--min-time", "0.0001", "--gap", "0.001"])
    fake_times = {"peer": 0.5, "ours": 0.001}
    monkeypatch.setattr(timing, "_time", lambda fn, number: fake_times[fn()])
    sleeps = []
    monkeypatch.setattr(timing.time, "sleep", sleeps.append)
    cands = [
        model.Candidate("peer", "peer", "jax", "", 1, lambda: "peer", foreign_pool=True),
        model.Candidate("ours", "pydropout", "", "", 1, lambda: "ours"),
    ]
    timing.run_group(cfg, model.GroupKey("forward", "float32", 1024, 1), cands)
    assert len(cands[0].samples) == 2
    # one sleep after the warm-up call and one after each timed sample, none after ours
    assert len(sleeps) == 3
    assert all(s == pytest.approx(timing.GAP_SHARE * 0.5) for s in sleeps)
    # a short peer sample still waits --gap
    fake_times["peer"] = 0.0001
    sleeps.clear()
    cands = [model.Candidate("peer", "peer", "jax", "", 1, lambda: "peer", foreign_pool=True)]
    timing.run_group(cfg, model.GroupKey("forward", "float32", 1024, 1), cands)
    assert sleeps and all(s == pytest.approx(0.001) for s in sleeps)


def test_rounds_shuffle_the_order_and_repeat_it(monkeypatch):
    """Each round runs the candidates in a new order, so no row always follows the same
    one (a call's time depends on its predecessor); the orders are seeded by the group,
    so a rerun repeats them."""
    cfg = config.make_config(
        [
            "--rounds",
            "12",
            "--min-rounds",
            "12",
            "--min-time",
            "0.0001",
            "--budget",
            "100",
            "--no-prime",
        ]
    )
    monkeypatch.setattr(timing, "_time", lambda fn, number: fn())

    def orders():
        calls = []
        cands = [
            model.Candidate(
                name, "pydropout", "", "", 1, lambda name=name: calls.append(name) or 0.001
            )
            for name in "abcde"
        ]
        timing.run_group(cfg, model.GroupKey("forward", "float32", 1024, 1), cands)
        timed = calls[3 * len(cands) :]  # after the warm-up and the two calibration calls
        assert all(len(c.samples) == 12 for c in cands)
        return [tuple(timed[i : i + 5]) for i in range(0, len(timed), 5)]

    first = orders()
    assert len(first) == 12 and all(sorted(o) == list("abcde") for o in first)
    predecessors = {o[o.index("c") - 1] for o in first if o[0] != "c"}
    assert len(predecessors) >= 2  # "c" does not always come after the same row
    assert orders() == first


def test_one_call_samples_follow_an_untimed_call_of_their_own(monkeypatch):
    """A sample of one call (a large array) is timed right after an untimed call of the
    same candidate, so it measures back-to-back calls and not the state the previous
    candidate or a peer's idle gap left behind; samples of many calls are not primed."""
    log = []

    def fake_time(fn, number):
        log.append(("timed", fn.__name__, number))
        return 0.001

    monkeypatch.setattr(timing, "_time", fake_time)

    def make(name):
        def fn():
            log.append(("call", name))

        fn.__name__ = name
        return fn

    cands = [
        model.Candidate("big", "pydropout", "", "", 1, make("big")),
        model.Candidate("small", "pydropout", "", "", 1, make("small")),
    ]
    cands[0].number, cands[1].number = 1, 50
    monkeypatch.setattr(timing, "rounds_for", lambda cfg, n: 3)

    cfg = config.make_config(["--min-rounds", "3", "--budget", "100"])
    timing._time_rounds(cfg, model.GroupKey("forward", "float32", 1024, 1), cands)
    big = [e for e in log if e[1] == "big"]
    small = [e for e in log if e[1] == "small"]
    assert big == [("call", "big"), ("timed", "big", 1)] * 3
    assert small == [("timed", "small", 50)] * 3
    log.clear()
    for c in cands:
        c.samples.clear()
    timing._time_rounds(
        config.make_config(["--min-rounds", "3", "--budget", "100", "--no-prime"]),
        model.GroupKey("forward", "float32", 1024, 1),
        cands,
    )
    assert [e for e in log if e[1] == "big"] == [("timed", "big", 1)] * 3


def test_ab_builds_compares_two_cores_in_one_process(capsys):
    """benchmarks/ab_builds.py loads two builds side by side; the same build twice gives
    a row per case with both times and their ratio."""
    path = BENCH / "ab_builds.py"
    spec = importlib.util.spec_from_file_location("ab_builds", path)
    ab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ab)
    simd, threads = _core.simd_level(), _core.get_num_threads()
    assert (
        ab.main(
            [
                _core.__file__,
                _core.__file__,
                "--levels",
                "scalar," + simd,
                "--sizes",
                "1000",
                "--reps",
                "2",
            ]
        )
        == 0
    )
    assert (_core.simd_level(), _core.get_num_threads()) == (simd, threads)  # separate copies
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["old:", "new:"]  # each build and its tier
    assert all("(tier " in line for line in lines[:2])
    assert lines[2].split() == ["case", "old", "ns/el", "new", "ns/el", "new/old"]
    rows = lines[3:]
    levels = sorted({"scalar", simd})
    assert len(rows) == 5 * len(levels)  # mask, forward f32, forward + mask f32 / f16 / f64
    for row in rows:
        *name, old, new, ratio = row.split()
        assert name[0] in levels and float(old) > 0 and float(new) > 0
        assert float(ratio) == pytest.approx(float(new) / float(old), rel=0.01, abs=0.002)


def test_philox_rounds_microbenchmark_computes_the_stream(tmp_path):
    """benchmarks/philox_rounds.cpp (the layouts docs/DESIGN.md compares) builds at the
    baseline ISA and every row it can run on this CPU reproduces the scalar Philox words
    before it is timed."""
    import platform
    import shutil
    import subprocess

    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("needs a C++ compiler on x86-64")
    src = BENCH / "philox_rounds.cpp"
    exe = tmp_path / "philox_rounds"
    subprocess.run(
        [cxx, "-O2", "-march=x86-64", "-std=c++17", str(src), "-o", str(exe)],
        check=True,
        capture_output=True,
    )
    run = subprocess.run([str(exe), "20"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = run.stdout.splitlines()[1:]
    assert rows and "WRONG" not in run.stdout
    levels = _core.supported_simd_levels()
    assert any(r.startswith("avx512 4 sets, shift") for r in rows) == ("avx512" in levels)
    assert any(r.startswith("avx512vl ymm 6 sets") for r in rows) == ("avx512" in levels)
    assert any(r.startswith("avx2 5 two-word sets") for r in rows) == ("avx2" in levels)
    assert all(float(r.split()[-1]) > 0 for r in rows)


def _run_bound(tmp_path, script: str) -> str:
    """Run `script` in a fresh interpreter under OMP_PROC_BIND=close (two threads), with
    this checkout's pydropout and benchmarks/ importable; its standard output."""
    import os

    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs Linux and two CPUs")
    path = tmp_path / "bound.py"
    path.write_text(script)
    env = dict(
        os.environ,
        OMP_PROC_BIND="close",
        OMP_NUM_THREADS="2",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(BENCH)]),
    )
    out = _python(tmp_path, env, path, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_threads_a_peer_starts_may_use_every_cpu_under_omp_proc_bind(tmp_path):
    """With OMP_PROC_BIND (the README's benchmark command) OpenMP binds the importing
    thread to one CPU. The entry script reads the CPUs before it imports pydropout; JAX
    starts its pool from the bound thread, so the harness starts it inside
    `process_cpus()`: threads started there get every CPU the process had, and the
    thread's own binding comes back afterwards. The machine record counts those CPUs."""
    import os

    out = _run_bound(
        tmp_path,
        "import os, threading\n"
        "import bench_dropout\n"  # the entry script: its affinity record, then pydropout
        "from pdbench import affinity, config, machine, peers\n"
        "start = bench_dropout.START_CPUS\n"
        "bound = os.sched_getaffinity(0)\n"
        "seen = []\n"
        "with affinity.process_cpus():\n"
        "    t = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))\n"
        "    t.start(); t.join()\n"
        "cfg = config.make_config(['--peers', 'none'])\n"
        "m = machine.machine_info(cfg, peers.Peers([]))\n"
        "print(len(start), len(bound), len(seen[0]), seen[0] == start,\n"
        "      os.sched_getaffinity(0) == bound, m['cpus_usable'],\n"
        "      affinity.start_cpus() == start)\n",
    )
    start, bound, seen, same, restored, usable, recorded = out.split()
    n = len(os.sched_getaffinity(0))
    assert (int(start), int(bound)) == (n, 1)  # the binding this guards against
    assert (int(seen), same, restored, int(usable), recorded) == (n, "True", "True", n, "True")


def test_jax_starts_its_workers_on_every_cpu_under_omp_proc_bind(tmp_path):
    """The threads JAX's CPU client starts (`Peers.start_jax`, before its first row) get
    every CPU, though OpenMP bound the thread that starts them to one."""
    pytest.importorskip("jax")
    out = _run_bound(
        tmp_path,
        "import glob, os\n"
        "import bench_dropout\n"
        "from pdbench import peers\n"
        "def wide():\n"
        "    n = 0\n"
        "    for st in glob.glob('/proc/self/task/*/status'):\n"
        "        t = int(st.split('/')[-2])\n"
        "        try:\n"
        "            n += os.sched_getaffinity(t) == bench_dropout.START_CPUS\n"
        "        except OSError:\n"
        "            pass\n"
        "    return n\n"
        "p = peers.Peers(['jax'])\n"
        "before = wide()\n"
        "p.start_jax()\n"
        "print(before, wide(), len(os.sched_getaffinity(0)))\n",
    )
    before, after, main = map(int, out.split())
    assert main == 1 and after > before
