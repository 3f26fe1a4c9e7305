"""A group (what is timed together), a candidate (one row) and a group's result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from .names import NO_DTYPE, size_label


@dataclass(frozen=True)
class GroupKey:
    op: str
    dtype: str  # NO_DTYPE for the mask
    n: int
    threads: int

    def label(self) -> str:
        d = "" if self.dtype == NO_DTYPE else f" {self.dtype}"
        return f"{self.op}{d} n={size_label(self.n)} threads={self.threads}"


@dataclass
class Candidate:
    name: str  # what is called
    kind: str  # "pydropout" | "out" | "kernel" | "alt" | "one_thread" | "ceiling" | "peer"
    peer: str  # "" or one of PEERS
    simd: str  # "" when the SIMD level does not matter
    nbytes: int  # bytes read + written, for GB/s
    fn: Callable[[], Any]
    check: Optional[Callable[[], Optional[str]]] = None  # None when ok, else what is wrong
    foreign_pool: bool = False  # torch / JAX: own worker threads, sleep after a sample
    threads: Optional[int] = None  # pydropout's thread count for this row (None: the group's)
    number: int = 1
    samples: List[float] = field(default_factory=list)  # seconds per call
    check_result: str = ""  # "", "ok" or "FAILED: ..."
    dropped: bool = False

    @property
    def best(self) -> float:
        return min(self.samples) if self.samples else math.nan

    def label(self) -> str:
        return f"{self.name} [{self.simd}]" if self.simd else self.name


@dataclass
class GroupResult:
    key: GroupKey
    cands: List[Candidate]
    info: Dict[str, Any]

    def ceiling(self) -> Optional[Candidate]:
        return next((c for c in self.cands if c.kind == "ceiling"), None)

    def peer(self, name: str) -> Optional[Candidate]:
        return next((c for c in self.cands if c.peer == name), None)

    def find(self, kind: str, simd: str) -> Optional[Candidate]:
        return next((c for c in self.cands if c.kind == kind and c.simd == simd), None)

    def main_row(self, level: str) -> Optional[Candidate]:
        """The public call at ``level``, else the first public row."""
        return self.find("pydropout", level) or next(
            (c for c in self.cands if c.kind == "pydropout"), None
        )
