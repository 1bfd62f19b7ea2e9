"""Who used the CPU during a measured run, from /proc (Linux, Django-free).

A run's figures only mean something if the machine was otherwise quiet. `Meter` samples,
from the start to the end of a run:

- the whole machine's busy CPU time (/proc/stat: everything but idle and iowait);
- the benchmark's own process tree (this process, the web server and its workers, pgbench,
  a peer's server…): utime + stime + cutime + cstime of every live process of the tree, so
  a child that exits and is reaped inside the tree still counts;
- the PostgreSQL backends of the benchmark's database only (pg_stat_activity.datname),
  each read from /proc/<pid>/stat every `interval` seconds so that a short-lived
  connection is caught before it exits (the web server keeps persistent connections
  anyway); the sampler's own backend is the benchmark's, not the database's;
- PostgreSQL's shared processes (checkpointer, WAL writer, background writer: no
  database), which serve every database of the cluster, reported on their own.

"Other processes" = machine busy − own tree − the database's backends − PostgreSQL's
shared processes: what another program took from the run. Above WARN_SHARE of the
machine's capacity the run is flagged.
"""

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
WARN_SHARE = 0.10  # other processes above 10 % of the machine's CPUs: not a quiet run


# -- /proc readers -------------------------------------------------------------------------
def machine_busy_ticks(stat_text: str | None = None) -> int:
    """Busy ticks of all CPUs since boot from /proc/stat's first line (user, nice, system,
    irq, softirq, steal; guest time is already inside user)."""
    text = stat_text if stat_text is not None else Path("/proc/stat").read_text()
    line = text.splitlines()[0]
    fields = [int(x) for x in line.split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_ticks(pid: int, children: bool = False) -> int | None:
    """utime + stime of one process (+ its reaped children's when `children`); None if gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime + stime + cutime + cstime) for every live process."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        table[int(stat.parent.name)] = (int(fields[1]), ticks)
    return table


def tree_ticks(root: int, table: dict[int, tuple[int, int]] | None = None) -> int:
    """CPU ticks of `root` and all its live descendants, reaped children included."""
    table = process_table() if table is None else table
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo.extend(kids.get(pid, []))
    return total


# -- PostgreSQL backends of one database ----------------------------------------------------
class BackendCpu:
    """CPU ticks used during a window by a changing set of processes.

    `observe({pid: ticks})` is called at each sample with the current reading of the
    backends of interest. A backend already there at the start counts from its first
    reading; one that appears later counts from zero (it was forked inside the window); one
    that vanishes keeps its last reading. A pid seen again with fewer ticks is a new
    process (pid reuse): the old one's share is banked."""

    def __init__(self, initial: dict[int, int] | None = None):
        self.baseline = dict(initial or {})
        self.last = dict(initial or {})
        self.banked = 0

    def observe(self, current: dict[int, int]) -> None:
        for pid, ticks in current.items():
            if pid in self.last and ticks < self.last[pid]:  # same pid, new process
                self.banked += self.last[pid] - self.baseline.get(pid, 0)
                self.baseline[pid] = 0
            self.last[pid] = ticks

    def used(self) -> int:
        return self.banked + sum(t - self.baseline.get(pid, 0) for pid, t in self.last.items())


# -- verdict ---------------------------------------------------------------------------------
def quietness(
    *, busy: float, own: float, pg_db: float, pg_shared: float, wall: float, ncpu: int
) -> dict:
    """CPU seconds used by other processes during a run, and their share of the machine
    (wall × CPUs); `warn` when above WARN_SHARE."""
    others = max(0.0, busy - own - pg_db - pg_shared)
    capacity = wall * ncpu if wall > 0 else 0.0
    share = others / capacity if capacity else 0.0
    return {
        "others_cpu": others,
        "others_share": share,
        "others_cpus": others / wall if wall > 0 else 0.0,
        "warn": share > WARN_SHARE,
    }


@dataclass
class Reading:
    wall: float = 0.0
    busy: float = 0.0  # CPU seconds, the whole machine
    own: float = 0.0  # the benchmark's process tree (web server, clients, pgbench…)
    web: float = 0.0  # the server's tree alone (part of own)
    pg_db: float = 0.0  # backends of the benchmark's database
    pg_shared: float = 0.0  # PostgreSQL's processes of no database
    samples: int = 0
    backends_seen: int = 0
    quiet: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "wall": self.wall,
            "busy": self.busy,
            "own": self.own,
            "web": self.web,
            "pg_db": self.pg_db,
            "pg_shared": self.pg_shared,
            "samples": self.samples,
            "backends_seen": self.backends_seen,
            **self.quiet,
        }


class Meter:
    """Context manager around one measured run.

    `backends` returns {pid: "db" | "shared" | "self"} for PostgreSQL's processes ("db":
    a backend of the benchmark's database; "shared": a process of no database; "self": the
    sampler's own connection, counted with the benchmark). `web_root` is the web server's
    pid, if any. The sampler thread lives only during the run."""

    def __init__(
        self,
        backends: Callable[[], dict[int, str]],
        web_root: int | None = None,
        interval: float = 0.2,
        root: int | None = None,
    ):
        self.backends, self.web_root, self.interval = backends, web_root, interval
        self.root = root or os.getpid()
        self.reading = Reading()

    def _pg_ticks(self, kinds: dict[int, str]) -> tuple[dict[int, int], dict[int, int]]:
        db, shared = {}, {}
        for pid, kind in kinds.items():
            ticks = process_ticks(pid)
            if ticks is None:
                continue
            if kind == "db":
                db[pid] = ticks
            elif kind == "shared":
                shared[pid] = ticks
        return db, shared

    def _sample(self) -> None:
        kinds = self.backends()
        self.self_pids.update(p for p, k in kinds.items() if k == "self")
        db, shared = self._pg_ticks(kinds)
        self.db.observe(db)
        self.shared.observe(shared)
        self.seen.update(db)
        self.reading.samples += 1

    def _loop(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self._sample()
            except Exception:  # noqa: BLE001, S112 - a failed sample only loses precision
                continue

    def __enter__(self) -> "Meter":
        self.self_pids: set[int] = set()
        kinds = self.backends()
        self.self_pids.update(p for p, k in kinds.items() if k == "self")
        db, shared = self._pg_ticks(kinds)
        self.db, self.shared, self.seen = BackendCpu(db), BackendCpu(shared), set(db)
        self.self_base = sum(process_ticks(p) or 0 for p in self.self_pids)
        table = process_table()
        self.own0 = tree_ticks(self.root, table)
        self.web0 = tree_ticks(self.web_root, table) if self.web_root else 0
        self.busy0 = machine_busy_ticks()
        self.t0 = time.perf_counter()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        self._sample()
        wall = time.perf_counter() - self.t0
        busy = machine_busy_ticks() - self.busy0
        table = process_table()
        own = tree_ticks(self.root, table) - self.own0
        web = (tree_ticks(self.web_root, table) - self.web0) if self.web_root else 0
        sampler = sum(process_ticks(p) or 0 for p in self.self_pids) - self.self_base
        r = self.reading
        r.wall = wall
        r.busy = busy / TICK
        r.own = (own + max(0, sampler)) / TICK
        r.web = web / TICK
        r.pg_db = self.db.used() / TICK
        r.pg_shared = self.shared.used() / TICK
        r.backends_seen = len(self.seen)
        r.quiet = quietness(
            busy=r.busy,
            own=r.own,
            pg_db=r.pg_db,
            pg_shared=r.pg_shared,
            wall=r.wall,
            ncpu=os.cpu_count() or 1,
        )


def pg_backends_query(connect: Callable, database: str) -> Callable[[], dict[int, str]]:
    """A `backends` callable for Meter from a DB-API connection factory (psycopg): one
    persistent connection, one pg_stat_activity query per sample."""
    state = {}

    def backends() -> dict[int, str]:
        conn = state.get("conn")
        if conn is None:
            conn = state["conn"] = connect()
            conn.autocommit = True  # else pg_stat_activity is one snapshot per transaction
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT pid, datname, pid = pg_backend_pid() FROM pg_stat_activity"
                " WHERE datname = %s OR datname IS NULL",
                [database],
            )
            rows = cursor.fetchall()
        return {
            pid: ("self" if mine else ("db" if name == database else "shared"))
            for pid, name, mine in rows
        }

    backends.close = lambda: state.get("conn") and state["conn"].close()  # type: ignore[attr-defined]
    return backends
