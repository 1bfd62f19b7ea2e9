"""Percentiles and a description of the machine (Django-free)."""

import math
import os
import platform
import statistics
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (need not be sorted); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict:
    """p50 / p95 / p99 / max in milliseconds, and the number of measures."""
    return {
        "n": len(seconds),
        "p50": percentile(seconds, 0.50) * 1000,
        "p95": percentile(seconds, 0.95) * 1000,
        "p99": percentile(seconds, 0.99) * 1000,
        "max": max(seconds) * 1000 if seconds else 0.0,
    }


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def machine() -> dict:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else "?"
    return {
        "nproc": os.cpu_count(),
        "ram": ram,
        "cpu": _first("/proc/cpuinfo", "model name"),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


# -- repeated runs ---------------------------------------------------------------------------
MIN_RUNS = 3


def spread(values: list[float]) -> dict:
    """The median of repeated runs' figures, with their min and max and how many runs."""
    if not values:
        return {"runs": 0, "median": 0.0, "min": 0.0, "max": 0.0, "values": []}
    return {
        "runs": len(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def verdict(values: list[float], target: float, *, at_most: bool = True) -> str:
    """Whether repeated runs meet `target` (a ceiling when `at_most`, else a floor).

    "met" only when the median meets it and no run falls on the other side; "not
    significant" when the runs' min–max straddles the target (some runs meet it, some do
    not, whatever the median says); "not met" when no run meets it; "too few runs" below
    MIN_RUNS, since one or two samples on a shared machine prove nothing."""
    if len(values) < MIN_RUNS:
        return "too few runs"

    def meets(v: float) -> bool:
        return v <= target if at_most else v >= target

    if all(meets(v) for v in values):
        return "met"
    if not any(meets(v) for v in values):
        return "not met"
    return "not significant"


def fmt_spread(s: dict, digits: int = 1, unit: str = "") -> str:
    """'24.0 (20.1–27.3) ms' — median, then min–max of the runs."""
    if not s.get("runs"):
        return "—"
    f = f"{{:.{digits}f}}"
    if s["runs"] == 1:
        return f.format(s["median"]) + unit
    return f"{f.format(s['median'])} ({f.format(s['min'])}–{f.format(s['max'])}){unit}"
