"""Percentiles and a description of the machine (Django-free)."""

import math
import os
import platform
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
