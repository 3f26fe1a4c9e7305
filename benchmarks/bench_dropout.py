"""Benchmark pydropout against the threaded copy, NumPy, torch and JAX.

    python benchmarks/bench_dropout.py --quick        # the performance goals, under a minute
    python benchmarks/bench_dropout.py                # everything (about 10 minutes)
    python benchmarks/bench_dropout.py --help         # filters and timing options

The harness is the package benchmarks/pdbench (``python -m pydropout bench`` runs this
script from a clone); benchmarks/README.md says how to read its output.
"""

import os
import sys

# The CPUs this process may use, read before pydropout's core loads: with OMP_PROC_BIND
# set, OpenMP binds the importing thread to a single CPU as it loads, and threads started
# from it later (JAX's pool) would inherit that one CPU. Nothing above imports pydropout.
try:
    START_CPUS = frozenset(os.sched_getaffinity(0))
except (AttributeError, OSError):  # not Linux
    START_CPUS = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pdbench import affinity

affinity.record(START_CPUS)

from pdbench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
