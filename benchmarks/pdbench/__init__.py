"""pdbench: the benchmark harness of pydropout (run it as ``python benchmarks/bench_dropout.py``).

One *group* is one (operation, dtype, size, thread count). Inside a group every candidate
(pydropout's public call and raw kernel at each SIMD level, the threaded copy that bounds
them, NumPy, torch, JAX, ``np.multiply``) is timed round-robin, many rounds, and its time
is the minimum over rounds of the mean over an inner loop long enough to swamp the timer.
Each pydropout row is checked bit for bit against ``pydropout.reference`` once before it
is timed: a fast wrong kernel is a bug, and the run then exits with status 1.

The modules, in the order a run uses them:

- ``affinity``: the CPUs the process had before pydropout loaded (the entry script
  records them first of all), and a block in which new threads may use all of them
- ``names``: the operations, their titles and the size notation
- ``config``: the command line and the run's settings
- ``plan``: the groups a run times, the bytes each moves, the slices a check compares
- ``kernel``: the raw kernels' arguments, from the formulas of the specification
- ``oracle``: the arrays of a group and the bit-for-bit checks against the reference
- ``peers``: torch and JAX, imported once
- ``rows`` and ``rows_extra``: the candidates of each group
- ``timing``: warm-up, calibration and the interleaved rounds
- ``goals``: the performance goals measured against the copy and the peers
- ``machine``: the machine record
- ``report``, ``plot``: the tables, the JSON, the README section and the PNG
- ``cli``: ``main(argv)``
"""
