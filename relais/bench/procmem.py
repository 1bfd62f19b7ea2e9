"""Memory and CPU time of processes, from /proc (Linux, Django-free)."""

import os
from pathlib import Path


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def memory_kib(pid: int) -> dict:
    """{"rss": current, "hwm": peak} resident set size in KiB (0 if the process is gone)."""
    values = {"rss": 0, "hwm": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                values["rss"] = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                values["hwm"] = int(line.split()[1])
    except OSError:
        pass
    return values


def cpu_seconds(pids) -> float:
    """User + system CPU time consumed so far by these processes (gone ones count 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def pids_named(prefix: str) -> list[int]:
    """Processes whose command line starts with `prefix` (e.g. "postgres:" for the
    PostgreSQL backends, which rename themselves)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(prefix.encode()):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return sorted(found)
