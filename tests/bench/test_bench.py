"""The generator and the benchmark harness work on tiny sizes (no timing is asserted)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F

from relais.agenda.models import Slot, SlotStatus
from relais.bench import http, procmem, stats
from relais.bench.report import ANALYSIS, Report
from relais.directory.models import Professional
from relais.orientation.models import ACTIVE_BOOKING_STATUSES, Booking
from relais.orientation.selectors import slots_ranked_for
from relais.regulation.models import Request, RequestStatus
from relais.territory.models import Cpts, Sas

TINY = {"professionals": 30, "requests": 300, "days": 4, "departements": "43", "seed": 3}


def _fingerprint():
    return (
        list(Professional.objects.order_by("rpps").values_list("rpps", "last_name", "profession")),
        Slot.objects.count(),
        list(Request.objects.order_by("reference").values_list("reference", "status")[:50]),
    )


@pytest.mark.django_db
def test_it_generates_a_consistent_tiny_dataset():
    call_command("generate", **TINY)
    assert Professional.objects.filter(rpps__startswith="997").count() == 30
    assert Sas.objects.filter(departement__code="43").exists()
    assert Cpts.objects.filter(sas__departement__code="43").exists()
    assert Request.objects.filter(status=RequestStatus.OPEN).count() == 50
    assert Request.objects.count() == 350
    # Every active booking holds a booked slot, and no slot is booked twice.
    for booking in Booking.objects.filter(status__in=ACTIVE_BOOKING_STATUSES):
        assert booking.slot.status == SlotStatus.BOOKED
    assert Booking.objects.count() == len(set(Booking.objects.values_list("slot_id", flat=True)))
    # Slots carry their practice's coordinates (the search's box filter relies on them; on
    # PostgreSQL the fast load skips the triggers that copy them).
    assert not Slot.objects.filter(latitude__isnull=True).exists()
    assert not Slot.objects.exclude(latitude=F("practice__latitude")).exists()
    assert not Slot.objects.exclude(longitude=F("practice__longitude")).exists()
    # The open requests can be searched, and slots are found.
    opened = Request.objects.filter(status=RequestStatus.OPEN)[:10]
    assert sum(len(slots_ranked_for(request=r, widen=True)) for r in opened) > 0


@pytest.mark.django_db
def test_it_generates_the_same_data_from_the_same_seed():
    from django.db import transaction

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        call_command("generate", **TINY)
        first = _fingerprint()
        raise Rollback
    call_command("generate", **TINY)
    assert _fingerprint() == first


@pytest.mark.django_db
def test_it_refuses_to_generate_twice_without_reset():
    call_command("generate", **TINY)
    with pytest.raises(CommandError):
        call_command("generate", **TINY)


@pytest.mark.django_db
def test_it_refuses_to_bench_anything_but_postgresql():
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    with pytest.raises(CommandError):
        call_command("bench", quick=True)


def test_it_computes_nearest_rank_percentiles():
    values = [i / 1000 for i in range(1, 101)]
    summary = stats.summary_ms(values)
    assert summary["p50"] == pytest.approx(50)
    assert summary["p95"] == pytest.approx(95)
    assert summary["p99"] == pytest.approx(99)
    assert stats.percentile([], 0.5) == 0.0
    assert stats.machine()["nproc"] >= 1


def test_it_reads_its_own_memory():
    import os

    assert procmem.memory_kib(os.getpid())["hwm"] > 0
    assert procmem.memory_kib(2**22 + 12345) == {"rss": 0, "hwm": 0}


def test_it_reads_cpu_time_and_finds_processes_by_command_line():
    import os
    import time

    before = procmem.cpu_seconds([os.getpid()])
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:  # burn a little CPU
        pass
    assert procmem.cpu_seconds([os.getpid()]) > before
    assert procmem.cpu_seconds([2**22 + 12345]) == 0.0
    with open(f"/proc/{os.getpid()}/cmdline", "rb") as f:
        own = f.read().split(b"\0")[0].decode()
    assert os.getpid() in procmem.pids_named(own)
    assert os.getpid() not in procmem.pids_named(own + "-no-such-program")


def test_it_runs_concurrent_clients_against_a_server():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.headers["Authorization"], self.headers["Idempotency-Key"], body))
            status = 409 if b'"slot": "taken"' in body else 201
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        bodies = [{"slot": "taken" if i % 4 == 0 else str(i)} for i in range(40)]
        port = server.server_address[1]
        result = http.concurrent_posts("127.0.0.1", port, "rls_x", "/b", bodies, 4, 30)
    finally:
        server.shutdown()
    assert result.statuses == {201: 30, 409: 10}
    assert len(seen) == 40
    assert all(auth == "Bearer rls_x" for auth, _, _ in seen)
    assert len({key for _, key, _ in seen}) == 40


def _fake_report():
    search = {"n": 10, "p50": 5.0, "p95": 9.0, "p99": 12.0, "max": 13.0}
    quiet = {"others_share": 0.02, "warn": False}

    def run(p95_http):
        return {
            "inprocess": search,
            "inprocess_meter": quiet,
            "http": {**search, "p95": p95_http},
            "http_meter": quiet,
            "concurrent": {**search, "rate": 50.0, "cpu_ms": 20.0},
            "concurrent_meter": quiet,
            "results_avg": 4.0,
            "queries_per_search": 3,
        }

    size = {
        "professionals": 10,
        "requests": 100,
        "future_slots": 1000,
        "free_slots": 900,
        "generate_seconds": 1.0,
        "generate_log": "communes 1 rows",
        "runs": [run(70.0), run(55.0), run(75.0)],
    }

    def booking(rate):
        return {
            "clients": 16,
            "contested": True,
            "rounds": 50,
            "races": 25,
            "attempts": 100,
            "statuses": {201: 75, 409: 25},
            "errors": 0,
            "wall": 0.2,
            "bookings": 75,
            "bookings_in_db": 75,
            "rate": rate,
            "all": search,
            "created": search,
            "conflict": search,
            "cpu_ms": 23.9,
            "web_ms": 17.1,
            "pg_ms": 6.8,
            "clients_ms": 0.5,
            "meter": quiet,
        }

    return Report(
        workers=3,
        machine={"nproc": 2, "ram": "1 GiB", "cpu": "x", "postgresql": {"version": "PG"}},
        sizes=[size, size],
        bookings=[booking(400.0), booking(380.0), booking(420.0)],
        double_bookings={"slots": 0, "requests": 0, "inconsistent": 0},
        pgbench=[
            {
                "clients": 16,
                "transactions": 10,
                "tps": tps,
                "latency": search,
                "pg_ms": 1.0,
                "meter": quiet,
            }
            for tps in (1000.0, 1000.0, 1000.0)
        ],
        memory={"master": {"hwm": 1024, "rss": 1}, "workers": [{"hwm": 2048, "rss": 1}]},
        indicators="indicators_compute, SAS, 1 an            médiane     120 ms  "
        "(min 100, max 130, 5 mesures)",
        phases=[("generate 10 professionals", 1.0)],
    )


def test_it_writes_the_report_and_keeps_the_analysis(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(f"old figures\n{ANALYSIS}\n\nHand-written analysis.\n\n## Appended\n")
    _fake_report().write(path)
    text = path.read_text()
    assert "old figures" not in text
    assert "Hand-written analysis." in text
    assert text.rstrip().endswith("## Appended")  # others' sections after the analysis stay
    assert (
        "| search p95 ≤ 30 ms, in-process | 9.0 (9.0–9.0) ms at 1,000 slots | 2% (max 2%) "
        "| **met** |" in text
    )
    assert (
        "| search p95 ≤ 60 ms, over HTTP, one client | 70.0 (55.0–75.0) ms at 1,000 slots "
        "| 2% (max 2%) | not significant |" in text
    )
    assert (
        "| HTTP bookings ≥ 30 % of pgbench (16 clients) | 40 (38–42) % | 2% (max 2%) "
        "| **met** |" in text
    )
    assert (
        "| indicators, département-year ≤ 1 s | 120 (100–130) ms, 5 measures | — | **met** |"
        in text
    )
    assert (
        "| 16 | contested | 100 (100–100) | 25 (25–25) | **400 (380–420)** | 23.9 (23.9–23.9)"
        in text
    )
    assert "| generate 10 professionals | 1 |" in text
