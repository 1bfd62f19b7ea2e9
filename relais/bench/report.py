"""docs/benchmarks.md from the figures of one `relais bench` run (Django-free).

Everything above the ANALYSIS marker is rewritten by each run; the hand-written analysis
below it is kept.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from relais.bench.journey import END, START

ANALYSIS = "<!-- analysis: kept by relais bench, written by hand -->"
TARGETS = {
    "search_inprocess_p95_ms": 30,
    "search_http_p95_ms": 60,
    "search_growth": 2.0,
    "bookings_per_s": 300,
    "http_over_pgbench": 0.30,
    "indicators_s": 1.0,
}


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _yes(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


@dataclass
class Report:
    quick: bool = False
    workers: int = 0
    threads: int = 1
    machine: dict = field(default_factory=dict)
    sizes: list = field(default_factory=list)
    bookings: list = field(default_factory=list)
    double_bookings: dict = field(default_factory=dict)
    double_bookings_after_pgbench: dict = field(default_factory=dict)
    pgbench: list = field(default_factory=list)
    pgbench_missing: bool = False
    memory: dict = field(default_factory=dict)
    indicators: str = ""
    total_seconds: float = 0.0

    # -- verdicts --------------------------------------------------------------------------
    def indicator_ms(self) -> float | None:
        match = re.search(r"indicators_compute, SAS, 1 an\s+médiane\s+(\d+) ms", self.indicators)
        return float(match.group(1)) if match else None

    def verdicts(self) -> list[tuple[str, str, str]]:
        rows = []
        if self.sizes:
            small, large = self.sizes[0], self.sizes[-1]
            at = f"at {large['future_slots']:,} slots"
            rows.append(
                (
                    "search p95 in-process ≤ 30 ms",
                    f"{_ms(large['inprocess']['p95'])} ms {at}",
                    _yes(large["inprocess"]["p95"] <= TARGETS["search_inprocess_p95_ms"]),
                )
            )
            rows.append(
                (
                    "search p95 over HTTP ≤ 60 ms",
                    f"{_ms(large['http']['p95'])} ms {at}",
                    _yes(large["http"]["p95"] <= TARGETS["search_http_p95_ms"]),
                )
            )
            for kind in ("inprocess", "http"):
                growth = large[kind]["p95"] / small[kind]["p95"] if small[kind]["p95"] else 0
                rows.append(
                    (
                        f"p95 grows ≤ 2× ({kind})",
                        f"×{growth:.2f} from {small['future_slots']:,} to "
                        f"{large['future_slots']:,} slots",
                        _yes(growth <= TARGETS["search_growth"]),
                    )
                )
        if self.bookings:
            worst = min(self.bookings, key=lambda r: r["rate"])
            doubles = sum(self.double_bookings.values()) + sum(
                self.double_bookings_after_pgbench.values()
            )
            rows.append(
                (
                    "booking ≥ 300/s over HTTP",
                    ", ".join(f"{r['rate']:.0f}/s ({r['clients']} clients)" for r in self.bookings),
                    _yes(worst["rate"] >= TARGETS["bookings_per_s"]),
                )
            )
            rows.append(("0 double bookings", str(doubles), _yes(doubles == 0)))
        if self.bookings and self.pgbench:
            ratios = []
            for run in self.bookings:
                floor = next((p for p in self.pgbench if p["clients"] == run["clients"]), None)
                if floor and floor["tps"]:
                    ratios.append((run["clients"], run["rate"] / floor["tps"]))
            if ratios:
                rows.append(
                    (
                        "HTTP ≥ 30 % of pgbench",
                        ", ".join(f"{r:.0%} ({c} clients)" for c, r in ratios),
                        _yes(min(r for _, r in ratios) >= TARGETS["http_over_pgbench"]),
                    )
                )
        ms = self.indicator_ms()
        if ms is not None:
            rows.append(
                (
                    "indicators, département-year ≤ 1 s",
                    f"{ms:.0f} ms (median)",
                    _yes(ms / 1000 <= TARGETS["indicators_s"]),
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
            + (" — **quick run** (small sizes)" if self.quick else "")
            + f", in {self.total_seconds / 60:.0f} minutes. Reproduce: `make bench` "
            "(or `relais bench --database-url postgres://…/relais_scale_bench [--quick]`). "
            "Data: `relais generate` (real communes, fictitious people, seed 1). "
            "All traffic on 127.0.0.1.",
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
            "(DB_CONN_MAX_AGE=600), DEBUG off, the API client's rate limit lifted; the load "
            "clients run on the same machine.",
            "",
            "## Targets",
            "",
            "| Target | Measured | |",
            "|---|---|---|",
            *(f"| {a} | {b} | {c} |" for a, b, c in self.verdicts()),
            "",
            "## 1. Ranked slot search",
            "",
            "`orientation.selectors.slots_ranked_for` for open requests drawn at random "
            "(patients spread by population, so dense areas dominate), in-process (the "
            "selector alone, request already loaded) and over HTTP (`GET "
            "/api/v1/requests/{id}/slots` with an API token, one client, one request at a "
            "time: token check, scoped load of the request, search, JSON).",
            "",
            "| Professionals | Future slots (not closed) | of which free | Requests | "
            "Generated in | Searches | In-process p50 / p95 / p99 (ms) | "
            "HTTP p50 / p95 / p99 (ms) | Results | Queries |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in self.sizes:
            i, h = s["inprocess"], s["http"]
            lines.append(
                f"| {s['professionals']:,} | {s['future_slots']:,} | {s['free_slots']:,} | "
                f"{s['requests']:,} | {s['generate_seconds']:.0f} s | {i['n']} | "
                f"{_ms(i['p50'])} / {_ms(i['p95'])} / {_ms(i['p99'])} | "
                f"{_ms(h['p50'])} / {_ms(h['p95'])} / {_ms(h['p99'])} | "
                f"{s['results_avg']:.1f} | {s['queries_per_search']} |"
            )
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
                "(the median and the slowest of the sample), re-run right after it.",
            ]
            for e in explains:
                lines += ["", f"**{e['label']}** — patient in {e['where']}", ""]
                for p in e["plans"]:
                    lines += ["```", _shorten(p["sql"]), "", *p["plan"], "```", ""]
        lines += ["", "## 2. Booking throughput over HTTP", ""]
        if self.bookings:
            lines += [
                "`POST /api/v1/bookings` (with `Idempotency-Key`) by N client threads, each "
                "on its own keep-alive connection, each attempt on its own open request; one "
                "attempt in four targets the slot of the attempt just before it, so two clients "
                "race for it: one gets 201, the other 409 `slot_unavailable` with "
                "alternatives (a search).",
                "",
                "| Clients | Attempts | Duration | 201 | 409 | Other | Bookings/s | "
                "All p50 / p95 / p99 (ms) | 201 p99 | 409 p99 |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in self.bookings:
                other = r["attempts"] - r["statuses"].get(201, 0) - r["statuses"].get(409, 0)
                a = r["all"]
                lines.append(
                    f"| {r['clients']} | {r['attempts']:,} | {r['wall']:.1f} s | "
                    f"{r['statuses'].get(201, 0):,} | {r['statuses'].get(409, 0):,} | "
                    f"{other + r['errors']} | **{r['rate']:.0f}** | "
                    f"{_ms(a['p50'])} / {_ms(a['p95'])} / {_ms(a['p99'])} | "
                    f"{_ms(r['created']['p99'])} | {_ms(r['conflict']['p99'])} |"
                )
            cpu = [r for r in self.bookings if r.get("cpu_per_booking") and r["bookings"]]
            if cpu:
                lines += [
                    "",
                    "CPU per booking made (refused attempts included), read from /proc during "
                    "each run: "
                    + "; ".join(
                        f"{r['clients']} clients: web {r['cpu_per_booking']['web'] * 1000:.1f} "
                        f"ms, PostgreSQL {r['cpu_per_booking']['postgresql'] * 1000:.1f} ms, "
                        f"load clients {r['cpu_per_booking']['clients'] * 1000:.1f} ms"
                        for r in cpu
                    )
                    + f" (the machine has {self.machine.get('nproc')} CPUs).",
                ]
            d = self.double_bookings
            lines += [
                "",
                f"Double bookings counted in the database afterwards: slots with more than one "
                f"active booking **{d.get('slots')}**, requests with more than one pending "
                f"booking **{d.get('requests')}**, booked bookings whose slot is not booked "
                f"**{d.get('inconsistent')}**. 201 responses = new API bookings in the database: "
                + ", ".join(f"{r['bookings']:,} = {r['bookings_in_db']:,}" for r in self.bookings)
                + ".",
            ]
        lines += ["", "## 3. The same transaction in plain SQL (pgbench)", ""]
        if self.pgbench_missing:
            lines.append("pgbench not found on this machine: not measured.")
        elif self.pgbench:
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
                "| Clients | Transactions | TPS | p50 / p95 / p99 (ms) | HTTP bookings/s | "
                "HTTP / pgbench |",
                "|---|---|---|---|---|---|",
            ]
            for p in self.pgbench:
                run = next((r for r in self.bookings if r["clients"] == p["clients"]), None)
                rate = run["rate"] if run else 0
                ratio = f"{rate / p['tps']:.0%}" if p["tps"] and run else "—"
                lat = p["latency"]
                lines.append(
                    f"| {p['clients']} | {p['transactions']:,} | {p['tps']:.0f} | "
                    f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])} | "
                    f"{rate:.0f} | {ratio} |"
                )
            d = self.double_bookings_after_pgbench
            lines += ["", f"Double bookings after pgbench: {sum(d.values())}."]
        lines += [
            "",
            "## 4. Indicators of one département-year",
            "",
            "`relais bench_indicators` (its own département, one year of requests):",
            "",
            "```",
            *[line for line in self.indicators.splitlines() if line.strip()],
            "```",
            "",
            "## 5. Memory of the web workers",
            "",
        ]
        if self.memory:
            workers = self.memory["workers"]
            peak = max((w["hwm"] for w in workers), default=0)
            lines += [
                "Peak resident memory (VmHWM) of each gunicorn worker after all the HTTP runs: "
                + ", ".join(f"{w['hwm'] / 1024:.0f} MiB" for w in workers)
                + f" (largest **{peak / 1024:.0f} MiB**; master "
                f"{self.memory['master']['hwm'] / 1024:.0f} MiB).",
            ]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        kept = ""
        if path.exists():
            text = path.read_text()
            if ANALYSIS in text:
                kept = text[text.index(ANALYSIS) :]
        if not kept:
            kept = ANALYSIS + "\n\n## Analysis\n\n(to be written after a full run)\n"
        # The browser journeys' section (relais bench_journeys, relais/bench/journey.py).
        journeys = ""
        if path.exists() and START in text and END in text:
            start, end = text.index(START), text.index(END) + len(END)
            journeys = text[start:end] + "\n\n"
        path.write_text(self.markdown() + "\n" + journeys + kept)


def _shorten(sql: str, width: int = 400) -> str:
    return sql if len(sql) <= width else sql[:width] + " …"
