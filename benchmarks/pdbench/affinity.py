"""The CPUs the process could use before pydropout's core loaded.

With OMP_PROC_BIND set, OpenMP binds the importing thread to a single CPU as the core
loads, and threads started from it later (JAX's pool, for one) inherit that one CPU. The
entry script reads the affinity before it imports pydropout and calls :func:`record`;
without that call the value read when this module was first imported is used.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import FrozenSet, Optional, Type


def read() -> Optional[FrozenSet[int]]:
    """This thread's CPU affinity now (None where the OS does not say)."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return None


_START: Optional[FrozenSet[int]] = read()


def record(cpus: Optional[FrozenSet[int]]) -> None:
    """Remember ``cpus`` as the process's CPUs (read before pydropout was imported)."""
    global _START
    _START = cpus


def start_cpus() -> Optional[FrozenSet[int]]:
    """The CPUs the process could use at start (None off Linux)."""
    return _START


class process_cpus:
    """Within the block, the calling thread may run on every CPU of :func:`start_cpus`.

    Threads started inside it inherit that set, whatever CPU OpenMP bound this thread to;
    the thread's own binding comes back at the end of the block.
    """

    def __init__(self) -> None:
        self.saved: Optional[FrozenSet[int]] = None

    def __enter__(self) -> process_cpus:
        self.saved = None
        cpus = start_cpus()
        if cpus:
            try:
                saved = frozenset(os.sched_getaffinity(0))
                if saved != cpus:
                    os.sched_setaffinity(0, cpus)
                self.saved = saved
            except OSError:
                self.saved = None
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self.saved is not None:
            os.sched_setaffinity(0, self.saved)
