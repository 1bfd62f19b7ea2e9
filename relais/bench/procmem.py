"""Resident memory of a process and its children, from /proc (Linux, Django-free)."""

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
