"""``python -m pydropout``: what this build runs on, the demo, the benchmark.

Without a command it prints the version, the SIMD level and the threads, and runs a small
worked example. ``info`` adds the kernel tier and how the core was built; ``demo`` runs the dropout
experiment (needs the ``demo`` extra); ``bench`` runs the benchmark of a clone
(``benchmarks/bench_dropout.py``) and otherwise says where it lives. Errors print one line on stderr
and exit non-zero.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

import pydropout

PROG = "python -m pydropout"


class CLIError(Exception):
    """An error the user can fix: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------------------
# what the build runs on


def _openmp_runtime() -> str:
    """The OpenMP runtime library mapped into this process (Linux), else the spec version."""
    info = pydropout._core.build_info()
    spec = info.get("openmp")
    if spec is None:
        return "none (built without OpenMP: single-threaded)"
    versions = {
        201107: "3.1",
        201307: "4.0",
        201511: "4.5",
        201811: "5.0",
        202011: "5.1",
        202111: "5.2",
    }
    text = f"OpenMP {versions.get(int(spec), '?')} ({spec})"
    try:
        with open("/proc/self/maps") as f:
            libs = sorted(
                {
                    line.split()[-1]
                    for line in f
                    if any(k in line for k in ("libgomp", "libomp", "libiomp"))
                }
            )
    except OSError:
        libs = []
    if libs:
        text += ", " + ", ".join(libs)
    return text


def _kernel_tier() -> Optional[str]:
    """The core's name for the kernel table in use; None for a core that does not say."""
    fn = getattr(pydropout._core, "kernel_tier", None)
    if not callable(fn):
        return None
    try:
        return str(fn())
    except Exception:  # an older or a partial core: the line is left out
        return None


def _core_origin() -> str:
    """Where the compiled core was loaded from, and its version."""
    core = pydropout._core
    path = os.path.abspath(getattr(core, "__file__", "?"))
    here = os.path.dirname(os.path.abspath(pydropout.__file__))
    where = (
        "next to the Python files"
        if os.path.dirname(path) == here
        else ("the installed build: the Python files are a source tree's")
    )
    return f"{path} (version {getattr(core, '__version__', '?')}, {where})"


def describe(full: bool = False) -> List[str]:
    levels = pydropout.supported_simd_levels()
    lines = [
        f"pydropout {pydropout.__version__} (numpy {np.__version__}, Python "
        f"{sys.version.split()[0]})",
        f"SIMD level:   {pydropout.simd_level()} (this CPU has: {', '.join(levels)}; "
        f"cap with PYDROPOUT_SIMD)",
        f"threads:      {pydropout.get_num_threads()} (PYDROPOUT_NUM_THREADS or "
        f"pydropout.set_num_threads)",
    ]
    if full:
        info = pydropout._core.build_info()
        tier = _kernel_tier()
        if tier:
            lines.append(f"kernel tier:  {tier} (the kernels in use at this SIMD level)")
        fp16 = pydropout._core._avx512fp16()
        if fp16 != "unsupported":
            lines.append(
                f"float16:      AVX512-FP16 arithmetic at the avx512 level: {fp16} "
                f"(PYDROPOUT_AVX512FP16=0 turns it off)"
            )
        ifma = pydropout._core._avx512ifma()
        if ifma != "unsupported":
            lines.append(
                f"Philox:       IFMA high halves at the avx512 level: {ifma} "
                f"(default on Intel CPUs; PYDROPOUT_AVX512IFMA=0|1)"
            )
        lines += [
            f"OpenMP:       {_openmp_runtime()}",
            f"compiler:     {info.get('compiler', '?')}",
            f"build flags:  {info.get('flags', '?')}",
            f"Python files: {os.path.dirname(os.path.abspath(pydropout.__file__))}",
            f"core module:  {_core_origin()}",
        ]
    return lines


def example() -> List[str]:
    """A small worked example whose numbers docs/CONTRACT.md section 2 fixes."""
    x = np.arange(1, 9, dtype=np.float32)
    gen = pydropout.Generator(0x0123456789ABCDEF)
    y, mask = pydropout.dropout_with_mask(x, 0.5, generator=gen)
    dx = pydropout.dropout_backward(np.ones_like(x), mask, 0.5)
    ref = pydropout.reference.dropout(
        x, 0.5, generator=pydropout.reference.Generator(0x0123456789ABCDEF)
    )
    same = "identical" if np.array_equal(y, ref) else "DIFFERENT (please report)"
    return [
        "example:",
        "  >>> x = np.arange(1, 9, dtype=np.float32)",
        "  >>> gen = pydropout.Generator(0x0123456789ABCDEF)",
        "  >>> y, mask = pydropout.dropout_with_mask(x, 0.5, generator=gen)",
        f"  y    = {np.array2string(y, separator=', ')}   kept elements scaled by 1/(1-p) = 2",
        f"  mask = {np.array2string(mask)} (packed: bit i of the bytes is element i)",
        "  >>> pydropout.dropout_backward(np.ones_like(x), mask, 0.5)",
        f"  dx   = {np.array2string(dx, separator=', ')}   the same mask, never a new draw",
        f"  gen.offset = {gen.offset} (8 words used); pydropout.reference gives {same} bits",
    ]


# ---------------------------------------------------------------------------------------
# commands


def cmd_summary(args: argparse.Namespace) -> int:
    print("\n".join(describe(full=False) + [""] + example()))
    print(f"\nmore: {PROG} info | demo [--quick] [--out DIR] | bench   ({PROG} -h)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print("\n".join(describe(full=True)))
    return 0


def _writable_dir(path: str) -> str:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create --out directory {path!r}: {exc.strerror or exc}") from None
    if not os.path.isdir(path):
        raise CLIError(f"--out {path!r} is not a directory")
    probe = os.path.join(path, f".pydropout-write-test-{os.getpid()}")
    try:
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise CLIError(f"cannot write to --out directory {path!r}: {exc.strerror or exc}") from None
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    from . import _demo  # NumPy only: the demo's own packages are imported as it runs

    missing = [pkg for mod, pkg in _demo.REQUIREMENTS.items() if not _importable(mod)]
    if missing:
        raise CLIError(_demo.requirements_hint(missing))
    out = _writable_dir(args.out)

    try:
        _demo.run(
            out, quick=args.quick, seed=args.seed, progress=not args.no_progress, every=args.every
        )
    except OSError as exc:  # a full disk, a file replaced by a directory, ...
        where = f" {exc.filename!r}" if exc.filename else ""
        raise CLIError(f"demo could not write{where}: {exc.strerror or exc}") from None
    return 0


BENCH_HOW = (
    "the benchmark lives in the source repository's benchmarks/ folder: in a clone, "
    "run `python benchmarks/bench_dropout.py --help` (or `python -m pydropout bench` "
    "from the clone)"
)


def bench_script() -> Optional[Path]:
    """``benchmarks/bench_dropout.py`` next to this package's folder (a clone), else None."""
    script = Path(pydropout.__file__).resolve().parent.parent / "benchmarks" / "bench_dropout.py"
    return script if script.is_file() else None


def cmd_bench(argv: Sequence[str]) -> int:
    """Run the clone's benchmark in a fresh interpreter with the arguments.

    A fresh process, because the harness reads the CPU affinity before pydropout loads
    (OMP_PROC_BIND binds the importing thread); it imports this same pydropout.
    """
    script = bench_script()
    if script is None:
        raise CLIError(f"bench: {BENCH_HOW}")
    root = str(script.parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
    return subprocess.call([sys.executable, str(script), *argv], env=env)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [0, 2**32), got {text!r}"
        ) from None
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="pydropout: fast, exact, reproducible dropout for NumPy arrays. Without a "
        "command: version, SIMD level, threads and a worked example.",
    )
    parser.add_argument("--version", action="version", version=f"pydropout {pydropout.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{info,demo,bench}")
    sub.add_parser(
        "info",
        help="version, SIMD levels, kernel tier, threads, OpenMP runtime, compiler, build flags",
        description="How this build of pydropout runs.",
    )
    demo = sub.add_parser(
        "demo",
        help="dropout against overfitting: digits MLP and 1-D regression (PNG + table)",
        description="Train a NumPy MLP on scikit-learn's 8x8 digits without dropout and with "
        "pydropout.Dropout in each mode, print train/test loss and accuracy per "
        "epoch, and fit a 1-D regression with and without dropout. Writes "
        "digits.png, regression.png and digits_history.csv to --out.",
    )
    demo.add_argument(
        "--quick", action="store_true", help="100 epochs on the digits instead of 200 (about 10 s)"
    )
    demo.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of weights, batches and masks; a run repeats exactly (default 0)",
    )
    demo.add_argument(
        "--out",
        default="demo-out",
        metavar="DIR",
        help="directory for the figures and the CSV (default: demo-out)",
    )
    demo.add_argument(
        "--every",
        type=_positive_int,
        default=None,
        metavar="N",
        help="print every N-th epoch in the table (default: about 10 rows)",
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    sub.add_parser(
        "bench",
        help="the benchmark of a clone, benchmarks/bench_dropout.py "
        "(arguments go to it; see bench -h)",
        add_help=False,
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "bench":  # every further argument belongs to the benchmark
            return cmd_bench(argv[1:])
        args = build_parser().parse_args(argv)  # usage errors: argparse exits with 2
        if args.command == "info":
            return cmd_info(args)
        if args.command == "demo":
            return cmd_demo(args)
        return cmd_summary(args)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
