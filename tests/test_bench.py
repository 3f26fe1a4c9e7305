"""The benchmark harness: a tiny run produces its table, JSON, plot and targets, and its
correctness check fails the run when a pydropout row computes the wrong bits."""

import json

import numpy as np
import pytest

import pydropout
from pydropout import _bench, _core

TINY = ["--sizes", "1Ki", "--dtypes", "float32", "--threads", "1", "--rounds", "2",
        "--min-time", "0.0002", "--budget", "0.05"]


def test_tiny_run_writes_table_json_plot(tmp_path, capsys):
    simd, threads = _core.simd_level(), _core.get_num_threads()
    assert _bench.main(TINY + ["--out", str(tmp_path)]) == 0
    assert (_core.simd_level(), _core.get_num_threads()) == (simd, threads)  # restored

    out = capsys.readouterr().out
    assert "| op | dtype | n | threads | implementation | SIMD | ns/elem | GB/s | x copy |" in out
    for op in _bench.OPS:
        assert f"| {op} |" in out
    assert "## Targets (issue 3)" in out and "| 6 | dropout float32 1Ki call" in out
    assert "All pydropout rows equal pydropout.reference bit for bit." in out

    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["meta"]["build"] == dict(_core.build_info())
    assert doc["meta"]["simd_benchmarked"] == sorted(
        _core.supported_simd_levels()[: _core.supported_simd_levels().index(simd) + 1],
        key=_core.supported_simd_levels().index, reverse=True)
    assert {g["op"] for g in doc["groups"]} == set(_bench.OPS)
    for g in doc["groups"]:
        kinds = {c["kind"] for c in g["candidates"]}
        assert {"ceiling", "pydropout", "kernel", "peer"} <= kinds
        for c in g["candidates"]:
            assert len(c["samples_s"]) == 2 and c["best_s"] == min(c["samples_s"]) > 0
            assert c["check"] == ("ok" if c["kind"] in ("pydropout", "out", "kernel") else "")
    t6 = next(t for t in doc["targets"] if t["id"] == "6")
    assert t6["status"] in ("PASS", "FAIL") and t6["value"] > 0
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| n | copy (ceiling) |" in (tmp_path / "readme.md").read_text()
    assert "## Every row" in (tmp_path / "results.md").read_text()


def _bump(a, i):
    flat = a.reshape(-1)
    flat[i] = flat[i] + 1  # a kept value changes, a dropped +0.0 becomes 1


def _wrong_dropout(monkeypatch):
    real = pydropout.dropout

    def dropout(x, *args, **kwargs):
        y = real(x, *args, **kwargs)
        _bump(y, y.size // 2)  # the thread boundary of a two-way split
        return y

    monkeypatch.setattr(pydropout, "dropout", dropout)


def _wrong_mask(monkeypatch):
    real = pydropout.dropout_with_mask

    def dropout_with_mask(*args, **kwargs):
        y, m = real(*args, **kwargs)
        m[-1] ^= 1
        return y, m

    monkeypatch.setattr(pydropout, "dropout_with_mask", dropout_with_mask)


def _wrong_apply_kernel(monkeypatch):
    real = _core.apply

    def apply(x, y, *args):
        real(x, y, *args)
        _bump(y, 3)

    monkeypatch.setattr(_core, "apply", apply)


@pytest.mark.parametrize("op, size, wrong", [
    ("forward", "1Ki", _wrong_dropout),
    ("forward", "2Mi", _wrong_dropout),  # past CHECK_FULL: slices are compared
    ("forward_mask", "1Ki", _wrong_mask),
    ("backward", "1Ki", _wrong_apply_kernel),
])
def test_a_wrong_kernel_fails_the_run(tmp_path, capsys, monkeypatch, op, size, wrong):
    wrong(monkeypatch)
    argv = ["--sizes", size, "--dtypes", "float32", "--threads", "2", "--ops", op,
            "--simd", _core.simd_level(), "--peers", "none", "--rounds", "1",
            "--min-time", "0", "--no-plot", "--out", str(tmp_path)]
    assert _bench.main(argv) == 1
    out = capsys.readouterr().out
    assert "CORRECTNESS CHECKS FAILED" in out
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["check_failures"] and all("differs from pydropout.reference" in f
                                         for f in doc["check_failures"])


def test_check_regions_cover_head_tail_and_thread_boundaries():
    n = 16 * _bench.MI
    regions = _bench.check_regions(n, 2)
    assert regions[0][0] == 0 and regions[-1][1] == n
    assert any(a < n // 2 < b for a, b in regions)
    assert all(a % 8 == 0 and (b - a) % 8 == 0 for a, b in regions)
    assert _bench.check_regions(1000, 2) == [(0, 1000)]
    odd = 3 * _bench.MI + 5
    assert _bench.check_regions(odd, 7)[-1][1] == odd


def _result(op, dtype, n, threads, times, level="avx512"):
    cands = []
    for kind, t in times.items():
        peer = kind if kind in _bench.PEERS else ""
        c = _bench.Candidate(kind, "peer" if peer else kind, peer,
                             level if kind in ("pydropout", "out", "kernel") else "",
                             1, lambda: None)
        c.samples = [t, 2 * t]
        cands.append(c)
    return _bench.GroupResult(_bench.GroupKey(op, dtype, n, threads), cands, {})


def test_targets_use_the_rows_the_issue_names():
    cfg = _bench.make_config(["--simd", "avx2" if "avx2" in _core.supported_simd_levels()
                              else "scalar"])
    cfg.default_level, cfg.all_threads = "avx512", 2
    MI, KI = _bench.MI, _bench.KI
    res = [
        # target 1 float32 passes on dropout_with_mask (the row called "pydropout"); the
        # raw kernel's better ratio must not be used
        _result("forward_mask", "float32", 16 * MI, 2, {"ceiling": 10.0, "pydropout": 10.9, "kernel": 5.0}),
        _result("forward_mask", "float64", 16 * MI, 2, {"ceiling": 10.0, "pydropout": 11.2, "kernel": 5.0}),
        _result("backward", "float16", 16 * MI, 2, {"ceiling": 10.0, "pydropout": 10.9}),
        _result("forward", "float32", MI, 1, {"pydropout": 1.0, "numpy": 10.5, "torch": 29.0}),
        _result("forward", "float32", MI, 2, {"pydropout": 0.5}),
        _result("forward_mask", "float32", 16 * MI, 2, {"ceiling": 10.0, "pydropout": 12.0},
                level="avx2"),
        _result("forward", "float32", KI, 2, {"pydropout": 3.1, "multiply": 1.0}),
    ]
    # merge the AVX2 row into the float32 16 Mi group, as one run would have it
    res[0].cands += res.pop(5).cands[1:]
    got = {t.ident: t for t in _bench.evaluate_targets(cfg, res)}
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
