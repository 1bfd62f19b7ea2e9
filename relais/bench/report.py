"""docs/benchmarks.md from the figures of one `relais bench` run (Django-free).

Everything above the journeys' section and the ANALYSIS marker is rewritten by each run;
the journeys' section (relais bench_journeys) and the hand-written analysis below the
marker — with whatever sections others appended after it — are kept.

Every figure comes from several runs: the tables show the median and, in brackets, the
runs' min–max; a target is "met" only when every run meets it, "not significant" when the
runs straddle it (stats.verdict). Each figure also shows how quiet the machine was: the
CPU used by other processes during its runs, as a share of the machine (quiet.Meter).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from relais.bench import stats
from relais.bench.journey import END, START
from relais.bench.quiet import WARN_SHARE

ANALYSIS = "<!-- analysis: kept by relais bench, written by hand -->"
TARGETS = {
    # issue 22
    "cpu_per_booking_ms": 8.0,
    "cpu_per_contested_booking_ms": 10.0,
    "over_gnuhealth": 2.5,
    "fhir_cpu_ms": 10.0,
    "fhir_p95_32_ms": 150.0,
    "search_concurrent_p95_ms": 60.0,
    "search_growth": 2.0,
    # earlier ones
    "search_inprocess_p95_ms": 30.0,
    "search_http_p95_ms": 60.0,
    "bookings_per_s": 300.0,
    "http_over_pgbench": 0.30,
    "indicators_s": 1.0,
}


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _verdict(word: str) -> str:
    return f"**{word}**" if word in {"met", "not met"} else word


def _sp(values: list[float], digits: int = 1, unit: str = "") -> str:
    return stats.fmt_spread(stats.spread(values), digits, unit)


def quiet_cell(meters: list[dict]) -> str:
    """'3 % (max 9 %)' of the machine used by other processes during these runs, with a
    warning sign when one run was above quiet.WARN_SHARE."""
    shares = [m.get("others_share", 0.0) for m in meters if m]
    if not shares:
        return "—"
    text = f"{stats.spread(shares)['median']:.0%} (max {max(shares):.0%})"
    return ("⚠ " + text) if any(s > WARN_SHARE for s in shares) else text


def _ratios(a: list[float], b: list[float]) -> list[float]:
    """Run-by-run ratios a[i] / b[i] (the runs are paired by their order)."""
    return [x / y for x, y in zip(a, b, strict=False) if y]


@dataclass
class Report:
    quick: bool = False
    workers: int = 0
    threads: int = 1
    runs: int = 3
    machine: dict = field(default_factory=dict)
    sizes: list = field(default_factory=list)
    fhir: list = field(default_factory=list)
    bookings: list = field(default_factory=list)
    double_bookings: dict = field(default_factory=dict)
    double_bookings_after_pgbench: dict = field(default_factory=dict)
    pgbench: list = field(default_factory=list)
    pgbench_missing: bool = False
    pgbench_error: str = ""
    memory: dict = field(default_factory=dict)
    indicators: str = ""
    peers: dict = field(default_factory=dict)
    phases: list = field(default_factory=list)
    total_seconds: float = 0.0
    partial: str = ""  # the last part measured, while a run is still going (or was cut)

    # -- selections ------------------------------------------------------------------------
    def booking_runs(self, clients: int, contested: bool) -> list[dict]:
        return [r for r in self.bookings if r["clients"] == clients and r["contested"] == contested]

    def fhir_runs(self, clients: int) -> list[dict]:
        return [r for r in self.fhir if r["clients"] == clients]

    def booking_clients(self) -> list[int]:
        return sorted({r["clients"] for r in self.bookings})

    def indicator_ms(self) -> list[float] | None:
        """min, median, max of the SAS-year indicators (bench_indicators' 5 measures)."""
        match = re.search(
            r"indicators_compute, SAS, 1 an\s+médiane\s+(\d+) ms\s+\(min (\d+), max (\d+)",
            self.indicators,
        )
        if not match:
            return None
        median, low, high = (float(x) for x in match.groups())
        return [low, median, high]

    # -- verdicts --------------------------------------------------------------------------
    def _row(self, label, values, target, *, at_most=True, unit="", digits=1, meters=(), at=""):
        measured = _sp(values, digits, unit) + (f" {at}" if at else "")
        return (
            label,
            measured,
            quiet_cell(list(meters)),
            _verdict(stats.verdict(values, target, at_most=at_most)),
        )

    def verdicts(self) -> list[tuple[str, str, str, str]]:
        rows = []
        t = TARGETS
        for clients in self.booking_clients():
            for contested, key, what in (
                (False, "cpu_per_booking_ms", "uncontested"),
                (True, "cpu_per_contested_booking_ms", "1 attempt in 4 contested"),
            ):
                runs = self.booking_runs(clients, contested)
                if runs:
                    rows.append(
                        self._row(
                            f"CPU per booking (web + PostgreSQL) ≤ {t[key]:.0f} ms, {what}, "
                            f"{clients} clients",
                            [r["cpu_ms"] for r in runs],
                            t[key],
                            unit=" ms",
                            meters=[r["meter"] for r in runs],
                        )
                    )
        gnuhealth = self.peers.get("gnuhealth", {})
        for clients in self.booking_clients():
            peer = [
                r for r in gnuhealth.get("runs", []) if r["clients"] == clients and r["contested"]
            ]
            ours = self.booking_runs(clients, True)
            if peer and ours:
                rows.append(
                    self._row(
                        f"bookings/s ≥ {t['over_gnuhealth']}× GNU Health's correct flow "
                        f"(contested, {clients} clients)",
                        _ratios([r["rate"] for r in ours], [r["rate"] for r in peer]),
                        t["over_gnuhealth"],
                        at_most=False,
                        unit="×",
                        digits=2,
                        meters=[r["meter"] for r in ours + peer],
                    )
                )
        if self.bookings:
            doubles = sum(self.double_bookings.values()) + sum(
                self.double_bookings_after_pgbench.values()
            )
            rows.append(
                (
                    "0 double bookings",
                    f"{doubles} (after {len(self.bookings)} runs)",
                    "—",
                    _verdict("met" if doubles == 0 else "not met"),
                )
            )
        for clients in sorted({r["clients"] for r in self.fhir}):
            runs = self.fhir_runs(clients)
            rows.append(
                self._row(
                    f"FHIR INT_R01 CPU per call ≤ {t['fhir_cpu_ms']:.0f} ms ({clients} batches)",
                    [r["cpu_ms"] for r in runs],
                    t["fhir_cpu_ms"],
                    unit=" ms",
                    meters=[r["meter"] for r in runs],
                )
            )
        runs32 = self.fhir_runs(32)
        if runs32:
            rows.append(
                self._row(
                    f"FHIR INT_R01 p95 ≤ {t['fhir_p95_32_ms']:.0f} ms with 32 concurrent batches",
                    [r["latency"]["p95"] for r in runs32],
                    t["fhir_p95_32_ms"],
                    unit=" ms",
                    digits=0,
                    meters=[r["meter"] for r in runs32],
                )
            )
        if self.sizes:
            small, large = self.sizes[0], self.sizes[-1]
            at = f"at {large['future_slots']:,} slots"
            for kind, key, label in (
                ("concurrent", "search_concurrent_p95_ms", "8 concurrent clients"),
                ("inprocess", "search_inprocess_p95_ms", "in-process"),
                ("http", "search_http_p95_ms", "over HTTP, one client"),
            ):
                rows.append(
                    self._row(
                        f"search p95 ≤ {t[key]:.0f} ms, {label}",
                        [r[kind]["p95"] for r in large["runs"]],
                        t[key],
                        unit=" ms",
                        at=at,
                        meters=[r[f"{kind}_meter"] for r in large["runs"]],
                    )
                )
            if len(self.sizes) > 1:
                for kind, label in (
                    ("concurrent", "8 clients"),
                    ("inprocess", "in-process"),
                    ("http", "HTTP, one client"),
                ):
                    rows.append(
                        self._row(
                            f"search p95 grows ≤ 2× ({label})",
                            _ratios(
                                [r[kind]["p95"] for r in large["runs"]],
                                [r[kind]["p95"] for r in small["runs"]],
                            ),
                            t["search_growth"],
                            unit="×",
                            digits=2,
                            at=f"from {small['future_slots']:,} to {large['future_slots']:,} slots",
                            meters=[r[f"{kind}_meter"] for r in small["runs"] + large["runs"]],
                        )
                    )
        for clients in self.booking_clients():
            runs = self.booking_runs(clients, True)
            if runs:
                rows.append(
                    self._row(
                        f"bookings ≥ {t['bookings_per_s']:.0f}/s over HTTP (contested, "
                        f"{clients} clients)",
                        [r["rate"] for r in runs],
                        t["bookings_per_s"],
                        at_most=False,
                        unit="/s",
                        digits=0,
                        meters=[r["meter"] for r in runs],
                    )
                )
            floor = [p for p in self.pgbench if p["clients"] == clients]
            if runs and floor:
                rows.append(
                    self._row(
                        f"HTTP bookings ≥ 30 % of pgbench ({clients} clients)",
                        [
                            100 * x
                            for x in _ratios([r["rate"] for r in runs], [p["tps"] for p in floor])
                        ],
                        100 * t["http_over_pgbench"],
                        at_most=False,
                        unit=" %",
                        digits=0,
                        meters=[r["meter"] for r in runs + floor],
                    )
                )
        ms = self.indicator_ms()
        if ms is not None:
            rows.append(
                (
                    "indicators, département-year ≤ 1 s",
                    f"{ms[1]:.0f} ({ms[0]:.0f}–{ms[2]:.0f}) ms, 5 measures",
                    "—",
                    _verdict(stats.verdict(ms, t["indicators_s"] * 1000)),
                )
            )
        return rows

    # -- markdown --------------------------------------------------------------------------
    def markdown(self) -> str:
        m, pg = self.machine, self.machine.get("postgresql", {})
        lines = [
            "# Benchmarks",
            "",
            "Written by `make bench` (`relais bench`) on "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
            + (" — **quick run** (small sizes, short loads)" if self.quick else "")
            + (
                f" — **partial**: written after '{self.partial}', the run went on or was cut"
                if self.partial
                else ""
            )
            + f", in {self.total_seconds / 60:.0f} minutes. Reproduce: `make bench` "
            "(or `relais bench --database-url postgres://…/relais_scale_bench [--quick] "
            "[--peers]`; `make bench PEERS=1` adds the peers). "
            "Data: `relais generate` (real communes, fictitious people, seed 1). "
            "All traffic on 127.0.0.1.",
            "",
            "## How to read these figures",
            "",
            f"- Every figure is measured in **{self.runs} separate runs**; tables show the "
            "**median** and, in brackets, the runs' **min–max**.",
            "- A target is **met** only when every run meets it (so the median does too), "
            "**not met** when no run does, and *not significant* when the runs' min–max "
            "straddles the target; with fewer than 3 runs: *too few runs*.",
            "- **Quietness**: during each run the bench reads, from /proc, the machine's busy "
            "CPU time and subtracts its own process tree (load clients, gunicorn and its "
            "workers, pgbench, a peer's server), the PostgreSQL backends of *its* database "
            "and PostgreSQL's shared processes (checkpointer, WAL writer…). What remains is "
            "the CPU of **other processes**, shown as a share of the machine "
            f"({m.get('nproc')} CPUs × the run's wall time): median (max) over the runs of a "
            f"figure; ⚠ marks a figure one of whose runs was above {WARN_SHARE:.0%}, i.e. "
            "measured on a busy machine.",
            "- **PostgreSQL CPU** is that of the benchmark's database only: utime + stime "
            "(/proc/<pid>/stat) of the backends whose `pg_stat_activity.datname` is the "
            "benchmark's database, sampled every 0.2 s (the web server keeps persistent "
            "connections, so its backends live through the run).",
            "",
            "## Machine",
            "",
            f"- CPU: {m.get('cpu')} — {m.get('nproc')} logical CPUs (nproc)",
            f"- RAM: {m.get('ram')}; kernel {m.get('kernel')}; Python {m.get('python')}",
            f"- {pg.get('version')}; shared_buffers {pg.get('shared_buffers')}, work_mem "
            f"{pg.get('work_mem')}, max_connections {pg.get('max_connections')}, jit "
            f"{pg.get('jit')} (stock settings)",
            f"- Web: gunicorn, {self.workers} gthread workers × {self.threads} threads, "
            "persistent DB connections "
            "(DB_CONN_MAX_AGE=600), DEBUG off, the API client's and FHIR rate limits lifted; "
            "the load clients run on the same machine.",
            "",
            "## Targets",
            "",
            "| Target | Measured: median (min–max) | Other processes' CPU | |",
            "|---|---|---|---|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.verdicts()),
            "",
            "## How long `make bench` takes",
            "",
        ]
        if self.phases:
            lines += [
                "| Part | Seconds |",
                "|---|---|",
                *(f"| {name} | {seconds:.0f} |" for name, seconds in self.phases),
                f"| **total of `relais bench`** | **{self.total_seconds:.0f}** |",
                "",
                "`make bench` runs the browser journeys first (`bench-journeys`, "
                "`bench-journeys-national`: a few minutes more, not counted here).",
            ]
        lines += self._search_md() + self._fhir_md() + self._booking_md()
        lines += self._pgbench_md() + self._peers_md() + self._indicators_md()
        lines += self._memory_md()
        return "\n".join(lines) + "\n"

    def _search_md(self) -> list[str]:
        lines = [
            "",
            "## 1. Ranked slot search",
            "",
            "`orientation.selectors.slots_ranked_for` for open requests drawn at random "
            "(patients spread by population, so dense areas dominate; a new sample each run), "
            "in-process (the selector alone, request already loaded), over HTTP with one client "
            "(`GET /api/v1/requests/{id}/slots` with an API token, one request at a time: "
            "token check, scoped load of the request, search, JSON) and over HTTP with "
            "8 concurrent clients (the same sample, shuffled; queueing on the CPUs included). "
            "CPU per search = web workers + this database's backends during the 8-client run.",
            "",
            "| Future slots (not closed) | Professionals | Requests | Generated in | "
            "Searches per run | In-process p95 (ms) | HTTP, 1 client, p95 (ms) | "
            "8 clients p50 (ms) | 8 clients p95 (ms) | 8 clients, searches/s | "
            "CPU per search (ms) | Other processes (8 clients) | Results | Queries |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in self.sizes:
            runs = s["runs"]
            lines.append(
                f"| {s['future_slots']:,} | {s['professionals']:,} | {s['requests']:,} | "
                f"{s['generate_seconds']:.0f} s | {runs[0]['inprocess']['n'] if runs else 0} | "
                f"{_sp([r['inprocess']['p95'] for r in runs])} | "
                f"{_sp([r['http']['p95'] for r in runs])} | "
                f"{_sp([r['concurrent']['p50'] for r in runs])} | "
                f"{_sp([r['concurrent']['p95'] for r in runs])} | "
                f"{_sp([r['concurrent']['rate'] for r in runs], 0)} | "
                f"{_sp([r['concurrent']['cpu_ms'] for r in runs])} | "
                f"{quiet_cell([r['concurrent_meter'] for r in runs])} | "
                f"{_sp([r['results_avg'] for r in runs])} | "
                f"{max((r['queries_per_search'] for r in runs), default=0)} |"
            )
        failed = [
            (s["future_slots"], k, v)
            for s in self.sizes
            for r in s["runs"]
            for key in ("http_statuses", "concurrent_statuses")
            for k, v in r.get(key, {}).items()
            if k != 200 and v
        ]
        if failed:
            lines += [
                "",
                "Answers other than 200 during the HTTP searches: "
                + ", ".join(f"{k}: {v} at {slots:,} slots" for slots, k, v in failed)
                + ".",
            ]
        if self.sizes:
            lines += ["", "Generation of the largest size (`relais generate`):", "", "```"]
            lines += [line for line in self.sizes[-1]["generate_log"].splitlines() if line]
            lines += ["```"]
        explains = self.sizes[-1].get("explain", []) if self.sizes else []
        if explains:
            lines += [
                "",
                "### Query plans at the largest size",
                "",
                "EXPLAIN (ANALYZE, BUFFERS) of the slot queries of one search "
                "(the median and the slowest of the last run's sample), re-run right after it.",
            ]
            for e in explains:
                lines += ["", f"**{e['label']}** — patient in {e['where']}", ""]
                for p in e["plans"]:
                    lines += ["```", _shorten(p["sql"]), "", *p["plan"], "```", ""]
        return lines

    def _fhir_md(self) -> list[str]:
        lines = ["", "## 2. FHIR INT_R01 (the SAS platform's slot search)", ""]
        if not self.fhir:
            return [*lines, "Not measured in this run."]
        lines += [
            "`GET /fhir/Slot` as the SAS platform sends it (`relais.bench.management.commands."
            "bench_fhir.fhir_paths`): 25 RPPS drawn at random among the professionals with a "
            "free slot in the next 48 h, the kit's `_include`s, status free, at the largest "
            "size, on the same gunicorn; N client threads each with its own keep-alive "
            "connection; the rate limit lifted (`RELAIS_FHIR_RATE_LIMIT`). CPU per call = web "
            "workers + this database's backends, divided by the 200 answers.",
            "",
            "| Concurrent batches | Calls per run | p50 (ms) | p95 (ms) | p99 (ms) | Calls/s | "
            "CPU per call (ms) | web / PostgreSQL (ms) | Answer size | Statuses | "
            "Other processes |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for clients in sorted({r["clients"] for r in self.fhir}):
            runs = self.fhir_runs(clients)
            statuses: dict = {}
            for r in runs:
                for k, v in r["statuses"].items():
                    statuses[k] = statuses.get(k, 0) + v
            lines.append(
                f"| {clients} | {runs[0]['calls']} | "
                f"{_sp([r['latency']['p50'] for r in runs], 0)} | "
                f"{_sp([r['latency']['p95'] for r in runs], 0)} | "
                f"{_sp([r['latency']['p99'] for r in runs], 0)} | "
                f"{_sp([r['rate'] for r in runs], 0)} | "
                f"{_sp([r['cpu_ms'] for r in runs])} | "
                f"{_sp([r['web_ms'] for r in runs])} / {_sp([r['pg_ms'] for r in runs])} | "
                f"{stats.spread([r['bytes_avg'] for r in runs])['median'] / 1024:.0f} KiB | "
                f"{', '.join(f'{k}: {v:,}' for k, v in sorted(statuses.items()))} | "
                f"{quiet_cell([r['meter'] for r in runs])} |"
            )
        return lines

    def _booking_md(self) -> list[str]:
        lines = ["", "## 3. Booking throughput over HTTP", ""]
        if not self.bookings:
            return [*lines, "Not measured in this run."]
        lines += [
            "`POST /api/v1/bookings` (with `Idempotency-Key`) by N client threads in pairs, "
            "each on its own keep-alive connection, each attempt on its own open request. Each "
            "pair plays rounds of two attempts; both threads wait at a `threading.Barrier` and "
            "leave together. *Uncontested*: the two attempts name different slots. "
            "*Contested*: every other round's two attempts name the same slot — a true race, "
            "one attempt in four must lose it (409 `slot_unavailable`). CPU per booking = "
            "(web workers + this database's backends) ÷ bookings made, refused attempts "
            "included.",
            "",
            "| Clients | Load | Attempts per run | Races per run | Bookings/s | "
            "CPU per booking (ms) | web / PostgreSQL (ms) | load clients (ms) | 409 per run | "
            "Other statuses | p99 (ms) | Other processes |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for clients in self.booking_clients():
            for contested in (False, True):
                runs = self.booking_runs(clients, contested)
                if not runs:
                    continue
                other = sum(
                    r["attempts"]
                    - r["statuses"].get(201, 0)
                    - r["statuses"].get(409, 0)
                    + r["errors"]
                    for r in runs
                )
                lines.append(
                    f"| {clients} | {'contested' if contested else 'uncontested'} | "
                    f"{_sp([r['attempts'] for r in runs], 0)} | "
                    f"{_sp([r['races'] for r in runs], 0)} | "
                    f"**{_sp([r['rate'] for r in runs], 0)}** | "
                    f"{_sp([r['cpu_ms'] for r in runs])} | "
                    f"{_sp([r['web_ms'] for r in runs])} / {_sp([r['pg_ms'] for r in runs])} | "
                    f"{_sp([r['clients_ms'] for r in runs])} | "
                    f"{_sp([r['statuses'].get(409, 0) for r in runs], 0)} | {other} | "
                    f"{_sp([r['all']['p99'] for r in runs], 0)} | "
                    f"{quiet_cell([r['meter'] for r in runs])} |"
                )
        d = self.double_bookings
        races = sum(r["races"] for r in self.bookings)
        refused = sum(r["statuses"].get(409, 0) for r in self.bookings)
        lines += [
            "",
            f"Races played: {races:,}; 409 answers: {refused:,}. Double bookings counted in "
            f"the database afterwards (SQL): slots with more than one active booking "
            f"**{d.get('slots')}**, requests with more than one pending booking "
            f"**{d.get('requests')}**, booked bookings whose slot is not booked "
            f"**{d.get('inconsistent')}**. 201 responses = new API bookings in the database: "
            + ", ".join(f"{r['bookings']:,} = {r['bookings_in_db']:,}" for r in self.bookings)
            + ".",
        ]
        return lines

    def _pgbench_md(self) -> list[str]:
        lines = ["", "## 4. The same transaction in plain SQL (pgbench)", ""]
        if self.pgbench_missing:
            return [*lines, "pgbench not found on this machine: not measured."]
        if self.pgbench_error:
            lines += [f"pgbench failed: `{self.pgbench_error}`", ""]
        if not self.pgbench:
            return [*lines, "Not measured in this run."]
        lines += [
            "The statements `booking_create` issues in its transaction for one API booking "
            "(captured with Django's query log), one for one, replayed by `pgbench -f` on "
            "the same database: take the slot by conditional UPDATE, claim the request, "
            "insert the booking, close niveau-2 calls, request event, the two messages in "
            "one INSERT, their delivery task, the reminder tasks still ahead of the slot, "
            "audit row. Each transaction takes its own (request, slot) pair, so none "
            "conflicts: this is the floor, without HTTP, token check, the reads before the "
            "transaction, ORM and Python.",
            "",
            "| Clients | Transactions per run | TPS | p95 (ms) | PostgreSQL CPU per "
            "transaction (ms) | Other processes |",
            "|---|---|---|---|---|---|",
        ]
        for clients in sorted({p["clients"] for p in self.pgbench}):
            runs = [p for p in self.pgbench if p["clients"] == clients]
            lines.append(
                f"| {clients} | {_sp([p['transactions'] for p in runs], 0)} | "
                f"{_sp([p['tps'] for p in runs], 0)} | "
                f"{_sp([p['latency']['p95'] for p in runs])} | "
                f"{_sp([p['pg_ms'] for p in runs], 2)} | "
                f"{quiet_cell([p['meter'] for p in runs])} |"
            )
        d = self.double_bookings_after_pgbench
        lines += ["", f"Double bookings after pgbench: {sum(d.values())}."]
        return lines

    def _peers_md(self) -> list[str]:
        lines = ["", "## 5. Peers side by side", ""]
        if not self.peers:
            return [
                *lines,
                "Not run this time (`make bench PEERS=1` or `relais bench --peers`).",
            ]
        lines += [
            "Each peer is installed from PyPI by the bench into its own venv "
            "(`var/peers/<peer>/venv`, nothing of its code in this repository), served by "
            "gunicorn on the same machine, on its own database of the same PostgreSQL, and "
            "driven by the same load generator as section 3 (`relais.bench.http."
            "racing_posts`: pairs of clients released together by a barrier, one attempt in "
            "four contested). Its double bookings are counted by SQL on its own tables.",
            "",
        ]
        for name in sorted(self.peers):
            peer = self.peers[name]
            lines += [f"### {peer.get('title', name)}", "", peer.get("description", ""), ""]
            if peer.get("install"):
                lines += [peer["install"], ""]
            if not peer.get("runs"):
                lines += [f"**Not measured**: {peer.get('why', 'unknown reason')}", ""]
                continue
            lines += [
                "| Clients | Load | Attempts per run | Bookings/s | Relais bookings/s | "
                "CPU per booking (ms) | web / PostgreSQL (ms) | Refused per run | "
                "Double bookings per run | Other processes |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for clients in sorted({r["clients"] for r in peer["runs"]}):
                for contested in (False, True):
                    runs = [
                        r
                        for r in peer["runs"]
                        if r["clients"] == clients and r["contested"] == contested
                    ]
                    if not runs:
                        continue
                    ours = self.booking_runs(clients, contested)
                    lines.append(
                        f"| {clients} | {'contested' if contested else 'uncontested'} | "
                        f"{_sp([r['attempts'] for r in runs], 0)} | "
                        f"**{_sp([r['rate'] for r in runs], 0)}** | "
                        f"{_sp([r['rate'] for r in ours], 0)} | "
                        f"{_sp([r['cpu_ms'] for r in runs])} | "
                        f"{_sp([r['web_ms'] for r in runs])} / "
                        f"{_sp([r['pg_ms'] for r in runs])} | "
                        f"{_sp([r['refused'] for r in runs], 0)} | "
                        f"**{_sp([r['double_bookings'] for r in runs], 0)}** | "
                        f"{quiet_cell([r['meter'] for r in runs])} |"
                    )
            lines.append("")
        return lines

    def _indicators_md(self) -> list[str]:
        return [
            "",
            "## 6. Indicators of one département-year",
            "",
            "`relais bench_indicators` (its own département, one year of requests; median, "
            "min and max of 5 measures):",
            "",
            "```",
            *[line for line in self.indicators.splitlines() if line.strip()],
            "```",
        ]

    def _memory_md(self) -> list[str]:
        lines = ["", "## 7. Memory of the web workers", ""]
        if self.memory:
            workers = self.memory["workers"]
            peak = max((w["hwm"] for w in workers), default=0)
            lines += [
                "Peak resident memory (VmHWM) of each gunicorn worker after all the HTTP runs: "
                + ", ".join(f"{w['hwm'] / 1024:.0f} MiB" for w in workers)
                + f" (largest **{peak / 1024:.0f} MiB**; master "
                f"{self.memory['master']['hwm'] / 1024:.0f} MiB).",
            ]
        return lines

    def write(self, path: Path) -> None:
        kept, journeys, text = "", "", ""
        if path.exists():
            text = path.read_text()
            if ANALYSIS in text:
                kept = text[text.index(ANALYSIS) :]
        if not kept:
            kept = ANALYSIS + "\n\n## Analysis\n\n(to be written after a full run)\n"
        # The browser journeys' section (relais bench_journeys, relais/bench/journey.py).
        if START in text and END in text:
            start, end = text.index(START), text.index(END) + len(END)
            journeys = text[start:end] + "\n\n"
        path.write_text(self.markdown() + "\n" + journeys + kept)


def _shorten(sql: str, width: int = 400) -> str:
    return sql if len(sql) <= width else sql[:width] + " …"
