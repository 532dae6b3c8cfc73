"""Small helpers shared by the benchmark scripts: timing and memory readings."""

from __future__ import annotations

import resource
import statistics
import time


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def timeit(fn, reps: int, warmup: bool = True):
    """(median seconds, every timing, last result) of ``reps`` calls after an optional warm-up."""
    if warmup:
        fn()
    times = []
    out = None
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out
