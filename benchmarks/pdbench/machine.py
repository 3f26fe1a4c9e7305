"""The machine record: CPU, caches, memory, SIMD levels, threads, build, versions,
environment and command, kept with every result."""

from __future__ import annotations

import datetime
import os
import platform
from typing import Any, Dict

import numpy as np

import pydropout
from pydropout import _core

from .affinity import start_cpus
from .config import PROG, Config
from .peers import Peers

ENV_VARS = (
    "PYDROPOUT_SIMD",
    "PYDROPOUT_NUM_THREADS",
    "PYDROPOUT_AVX512FP16",
    "PYDROPOUT_AVX512IFMA",
    "OMP_NUM_THREADS",
    "OMP_PROC_BIND",
    "OMP_PLACES",
)
SIMD_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "avx512ifma",
    "avx512_bf16",
    "avx512_fp16",
)


def _cpuinfo() -> Dict[str, str]:
    info: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" not in line:
                    if info:
                        break  # the first processor is enough
                    continue
                k, v = (s.strip() for s in line.split(":", 1))
                info.setdefault(k, v)
    except OSError:
        pass
    return info


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _optional(name: str) -> str:
    """A query of the core that a build may lack ("unsupported" then)."""
    fn = getattr(_core, name, None)
    return str(fn()) if callable(fn) else "unsupported"


def machine_info(cfg: Config, peers: Peers) -> Dict[str, Any]:
    ci = _cpuinfo()
    model = ci.get("model name") or platform.processor() or platform.machine()
    ident = ", ".join(f"{k} {ci[k]}" for k in ("cpu family", "model", "stepping") if k in ci)
    flags = set(ci.get("flags", "").split())
    mem = ""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    cpus = start_cpus()  # not this thread's CPUs: OMP_PROC_BIND binds it to one
    tier = getattr(_core, "kernel_tier", None)
    return {
        "cpu": model + (f" ({ident})" if ident else ""),
        "cpu_flags": " ".join(f for f in SIMD_FLAGS if f in flags),
        "logical_cpus": os.cpu_count(),
        "cpus_usable": len(cpus) if cpus else os.cpu_count(),
        "l2_per_core": _read("/sys/devices/system/cpu/cpu0/cache/index2/size"),
        "l3": _read("/sys/devices/system/cpu/cpu0/cache/index3/size"),
        "memory": mem,
        "simd_supported": list(_core.supported_simd_levels()),
        "simd_default": cfg.default_level,
        "kernel_tier": str(tier()) if callable(tier) else "",
        "avx512fp16": _optional("_avx512fp16"),
        "avx512ifma": _optional("_avx512ifma"),
        "simd_benchmarked": cfg.levels,
        "threads_all": cfg.all_threads,
        "threads_benchmarked": cfg.threads,
        "build": dict(_core.build_info()),
        "versions": {
            "pydropout": pydropout.__version__,
            "numpy": np.__version__,
            **peers.versions(),
            "python": platform.python_version(),
        },
        "platform": platform.platform(),
        "env": {k: os.environ.get(k, "") for k in ENV_VARS},
        "p": cfg.p,
        "command": " ".join([PROG] + cfg.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "timing": {
            "quick": cfg.quick,
            "min_rounds": cfg.min_rounds,
            "max_rounds": cfg.max_rounds,
            "min_time_s": cfg.min_time,
            "budget_s": cfg.budget,
            "gap_s": cfg.gap,
        },
    }


def _simd_line(m: Dict[str, Any]) -> str:
    line = (
        f"- SIMD levels: supported {', '.join(m['simd_supported'])}; default "
        f"{m['simd_default']}; benchmarked {', '.join(m['simd_benchmarked'])}"
    )
    if m.get("kernel_tier"):
        line += f"; kernel tier in use {m['kernel_tier']}"
    if m.get("avx512fp16", "unsupported") != "unsupported":
        line += f"; float16 at avx512 with AVX512-FP16 arithmetic: {m['avx512fp16']}"
    if m.get("avx512ifma", "unsupported") != "unsupported":
        line += f"; Philox at avx512 with IFMA high halves: {m['avx512ifma']}"
    return line


def header_md(m: Dict[str, Any]) -> str:
    """The machine record as a Markdown list (the head of results.md and of the output)."""
    b = m["build"]
    v = m["versions"]
    env = ", ".join(f"{k}={val}" for k, val in m["env"].items() if val) or "none set"
    threads = ", ".join(map(str, m["threads_benchmarked"]))
    return "\n".join(
        [
            f"- machine: {m['cpu']}; {m['logical_cpus']} logical CPUs ({m['cpus_usable']} usable), "
            f"L2 {m['l2_per_core'] or '?'} per core, L3 {m['l3'] or '?'}, {m['memory']} RAM",
            f"- CPU SIMD flags: {m['cpu_flags'] or 'none found'}",
            _simd_line(m),
            f"- threads: all = {m['threads_all']}; benchmarked {threads}",
            f"- build: {b.get('compiler')}, flags `{b.get('flags')}`, OpenMP {b.get('openmp')}",
            f"- versions: pydropout {v['pydropout']}, numpy {v['numpy']}, torch {v['torch']}, "
            f"jax {v['jax']}, python {v['python']} ({m['platform']})",
            f"- environment: {env}",
            f"- p = {m['p']}; times are minima over interleaved rounds "
            f"(min {m['timing']['min_rounds']} rounds, samples >= "
            f"{m['timing']['min_time_s'] * 1e3:g} ms)",
            f"- command: `{m['command']}` ({m['date']})",
        ]
    )
