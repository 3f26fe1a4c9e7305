"""Benchmark pydropout against the threaded copy, NumPy, torch and JAX.

    python benchmarks/bench_dropout.py --quick        # the six targets, under a minute
    python benchmarks/bench_dropout.py                # everything (about 10 minutes)
    python benchmarks/bench_dropout.py --help         # filters and timing options

The harness lives in pydropout._bench (also run by ``python -m pydropout bench``);
benchmarks/README.md says how to read its output.
"""

import sys

from pydropout._bench import main

if __name__ == "__main__":
    sys.exit(main())
