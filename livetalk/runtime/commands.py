"""CLI: `livetalk bench dit` (and the streaming benchmarks)."""

from __future__ import annotations

from ..cli import bench_group
from . import bench_dit


def register(sub) -> None:
    bench_dit.register(bench_group(sub))
