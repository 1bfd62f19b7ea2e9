"""`relais bench`: national-scale benchmarks, written to docs/benchmarks.md.

relais bench [--quick] [--runs 3] [--peers]
             [--database-url postgres://postgres@127.0.0.1:5432/relais_scale_bench]

With --database-url the command creates that database if missing and runs itself again
against it (never point it at a real database: it wipes the generated tables). Then, for
each size, `relais generate --reset`, the ranked search in-process, over HTTP one client at
a time, and over HTTP with 8 concurrent clients (gunicorn on 127.0.0.1, API token); at the
largest size, FHIR INT_R01 with 8 and 32 concurrent batches, booking throughput over HTTP
with 16 and 64 clients (uncontested, and with one attempt in four losing a true race), the
same transaction through pgbench, the memory of the web workers; then the indicators
(`relais bench_indicators`); with --peers, django-appointment and GNU Health's free-slot
flow on the same PostgreSQL and load generator (relais/bench/peers.py).

Every figure is measured in --runs separate runs (3 at least for a verdict) and reported as
the median with the runs' min–max; each run is wrapped in a quiet.Meter, which reports the
CPU used by other processes of the machine during it, and counts PostgreSQL's CPU for this
benchmark's database only. Loopback traffic only. Not a test: it reports.
"""

import io
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from relais.accounts.permissions import scope_for_api_client
from relais.accounts.services import api_client_create
from relais.agenda.models import Slot, SlotStatus
from relais.bench import http, procmem, quiet, stats
from relais.bench.management.commands.bench_fhir import fhir_paths
from relais.bench.report import Report
from relais.orientation.models import ACTIVE_BOOKING_STATUSES, Booking
from relais.orientation.selectors import slots_ranked_for
from relais.regulation.models import Request, RequestStatus
from relais.regulation.selectors import request_get_for_user
from relais.territory.models import Sas

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/relais_scale_bench"
FULL_SIZES = "600:10000,6000:100000,60000:1000000"
QUICK_SIZES = "300:5000,3000:60000"
HOST = "127.0.0.1"
SEARCH_CLIENTS = 8
FHIR_BATCHES = (8, 32)
BOOKING_CLIENTS = (16, 64)


class Command(BaseCommand):
    help = "Mesure recherche, FHIR, réservation, indicateurs et mémoire ; écrit docs/benchmarks.md."

    def add_arguments(self, parser):
        parser.add_argument("--database-url", default="", help=f"Par ex. {DEFAULT_URL}")
        parser.add_argument("--quick", action="store_true", help="Petites tailles, mesures brèves.")
        parser.add_argument("--sizes", default="", help=f"professionnels:demandes,… ({FULL_SIZES})")
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--runs", type=int, default=3, help="Répétitions de chaque mesure.")
        parser.add_argument("--samples", type=int, default=0, help="Recherches par répétition.")
        parser.add_argument("--duration", type=float, default=0, help="Secondes par charge.")
        parser.add_argument("--fhir-batches", type=int, default=0, help="Lots FHIR par charge.")
        parser.add_argument(
            "--workers", type=int, default=0, help="Workers gunicorn (défaut : CPU + 1)."
        )
        parser.add_argument("--threads", type=int, default=2, help="Threads par worker.")
        parser.add_argument(
            "--port", type=int, default=18301, help="Port du serveur mesuré (0 : libre)."
        )
        parser.add_argument("--indicator-requests", type=int, default=0)
        parser.add_argument(
            "--output", default=str(Path(settings.BASE_DIR).parent / "docs" / "benchmarks.md")
        )
        parser.add_argument("--no-pgbench", action="store_true")
        parser.add_argument("--no-indicators", action="store_true")
        parser.add_argument("--peers", action="store_true", help="Pairs côte à côte (PyPI).")
        parser.add_argument("--peers-only", action="store_true", help="Seulement les pairs.")
        parser.add_argument("--departements", default="", help="Restreint (essais).")

    # -- entry -----------------------------------------------------------------------------
    def handle(self, *args, **o):
        url = o["database_url"]
        if url and url != os.environ.get("DATABASE_URL"):
            return self._rerun_on(url, o)
        if connection.vendor != "postgresql":
            raise CommandError("relais bench mesure PostgreSQL : donnez --database-url.")
        quick = o["quick"]
        self.o = o
        self.sizes = [
            tuple(int(x) for x in size.split(":"))
            for size in (o["sizes"] or (QUICK_SIZES if quick else FULL_SIZES)).split(",")
        ]
        self.runs = max(1, o["runs"])
        self.samples = o["samples"] or (40 if quick else 150)
        self.duration = o["duration"] or (2.0 if quick else 10.0)
        self.fhir_batches = o["fhir_batches"] or (48 if quick else 200)
        # CPUs + 1 gthread workers of 2 threads, as docs/operations.md recommends.
        self.workers = o["workers"] or (os.cpu_count() or 1) + 1
        self.threads = o["threads"]
        self.rng = random.Random(o["seed"])
        self.report = Report(
            quick=quick, workers=self.workers, threads=self.threads, runs=self.runs
        )
        self.began = time.perf_counter()
        self.server = None
        self._setup()
        if o["peers_only"]:
            self._peers()
            return
        self._start_server()
        try:
            for index, (professionals, requests) in enumerate(self.sizes):
                last = index == len(self.sizes) - 1
                self._size(professionals, requests, explain=last)
                if last:
                    self._phase("FHIR INT_R01", self._fhir)
                    self._phase("bookings over HTTP", self._bookings)
                    if not o["no_pgbench"]:
                        try:
                            self._phase("pgbench", self._pgbench)
                        except CommandError as exc:  # report it, keep the other figures
                            self.report.pgbench_error = str(exc)[-600:]
                            self.stderr.write(f"pgbench : {exc}")
                    self._memory()
        finally:
            self._stop_server()
        if o["peers"]:
            self._phase("peers", self._peers)
        if not o["no_indicators"]:
            requests = o["indicator_requests"] or (20_000 if quick else 300_000)
            self._phase("indicators", lambda: self._indicators(requests))
        self.report.partial = ""
        self._write()
        self.backends.close()
        self.stdout.write(f"Écrit : {o['output']} ({self.report.total_seconds / 60:.1f} min)")

    def _phase(self, name: str, function) -> None:
        began = time.perf_counter()
        function()
        seconds = time.perf_counter() - began
        self.report.phases.append((name, seconds))
        self.stdout.write(f"[{name} : {seconds:.0f} s]")
        # What is measured so far, in case the run is cut short (a shared machine's deadline).
        self.report.partial = name
        self._write()

    def _write(self) -> None:
        self.report.total_seconds = time.perf_counter() - self.began
        path = Path(self.o["output"])
        path.parent.mkdir(parents=True, exist_ok=True)
        self.report.write(path)

    def _rerun_on(self, url: str, o) -> None:
        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise CommandError("Nom de base invalide.")
        import psycopg

        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
                self.stdout.write(f"Base {name} créée.")
        argv = [sys.executable, "-m", "relais.cli", "bench", "--output", o["output"]]
        for flag in (
            "sizes",
            "samples",
            "duration",
            "fhir_batches",
            "workers",
            "threads",
            "indicator_requests",
            "departements",
            "port",
        ):
            if o[flag]:
                argv += [f"--{flag.replace('_', '-')}", str(o[flag])]
        argv += ["--days", str(o["days"]), "--seed", str(o["seed"]), "--runs", str(o["runs"])]
        for flag in ("quick", "no_pgbench", "no_indicators", "peers", "peers_only"):
            argv += [f"--{flag.replace('_', '-')}"] if o[flag] else []
        env = {**os.environ, "DATABASE_URL": url}
        code = subprocess.call(argv, env=env)  # noqa: S603 - our own command
        if code:
            raise CommandError(f"relais bench a échoué (code {code}).")

    # -- setup -----------------------------------------------------------------------------
    def _setup(self):
        import psycopg

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0]
            pg = {"version": version.split(" on ")[0]}
            for name in ("shared_buffers", "work_mem", "max_connections", "jit"):
                cursor.execute(f"SHOW {name}")
                pg[name] = cursor.fetchone()[0]
        self.report.machine = {**stats.machine(), "postgresql": pg}
        self.database = connection.settings_dict["NAME"]
        self.backends = quiet.pg_backends_query(lambda: psycopg.connect(self._url()), self.database)
        self.client, self.token = api_client_create(
            name=f"bench {uuid.uuid4().hex[:8]}",
            scopes=["appointments:write", "requests:read", "slots:read"],
        )
        self.scope = scope_for_api_client(self.client)

    def _url(self) -> str:
        s = connection.settings_dict
        auth = quote(s["USER"] or "postgres")
        if s.get("PASSWORD"):
            auth += ":" + quote(s["PASSWORD"])
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"

    def _meter(self) -> quiet.Meter:
        return quiet.Meter(self.backends, web_root=self.server.pid if self.server else None)

    # -- server ----------------------------------------------------------------------------
    def _start_server(self):
        # The 409s of the booking runs are logged as warnings: kept out of the console.
        self.server_log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives with the server
            prefix="relais-bench-gunicorn-", delete=False
        )
        self.port = self.o["port"]
        if not self.port:
            with socket.socket() as s:
                s.bind((HOST, 0))
                self.port = s.getsockname()[1]
        env = {
            **os.environ,
            "DATABASE_URL": self._url(),
            "DB_CONN_MAX_AGE": "600",
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "relais.settings",
            # One API client makes every call: its per-minute quotas would cut the runs.
            "RELAIS_API_RATE_LIMIT": "100000000",
            "RELAIS_FHIR_RATE_LIMIT": "100000000",
        }
        self.server = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-m",
                "gunicorn",
                "relais.wsgi:application",
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(self.threads),
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=str(settings.BASE_DIR),
            start_new_session=True,
            stdout=self.server_log,
            stderr=subprocess.STDOUT,
        )
        http.wait_ready(HOST, self.port, "/api/v1/openapi.json")
        self.stdout.write(
            f"gunicorn : {self.workers} workers × {self.threads} threads sur {HOST}:{self.port}"
        )

    def _stop_server(self):
        if getattr(self, "server", None) is None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
        self.server = None

    # -- search ----------------------------------------------------------------------------
    def _size(self, professionals: int, requests: int, explain: bool):
        out = io.StringIO()
        began = time.perf_counter()
        call_command(
            "generate",
            professionals=professionals,
            requests=requests,
            days=self.o["days"],
            seed=self.o["seed"],
            reset=True,
            departements=self.o["departements"],
            stdout=out,
        )
        generated = time.perf_counter() - began
        self.report.phases.append((f"generate {professionals:,} professionals", generated))
        self.stdout.write(out.getvalue())
        began = time.perf_counter()
        now = timezone.now()
        future = Slot.objects.filter(start__gt=now).exclude(status=SlotStatus.BLOCKED)
        size = {
            "professionals": professionals,
            "requests": Request.objects.count(),
            "future_slots": future.count(),
            "free_slots": future.filter(status=SlotStatus.FREE).count(),
            "generate_seconds": generated,
            "generate_log": out.getvalue(),
            "runs": [],
        }
        open_ids = list(
            Request.objects.filter(status=RequestStatus.OPEN)
            .order_by("pk")
            .values_list("public_id", flat=True)
        )
        self.scope = scope_for_api_client(self.client)  # the SAS were just recreated
        warm = [request_get_for_user(scope=self.scope, public_id=p) for p in open_ids[:10]]
        for req in warm:
            slots_ranked_for(request=req)
        http.sequential(HOST, self.port, self.token, [self._search_path(p) for p in open_ids[:10]])
        for run in range(self.runs):
            sample = self.rng.sample(open_ids, min(self.samples, len(open_ids)))
            size["runs"].append(self._search_run(sample))
            r = size["runs"][-1]
            self.stdout.write(
                f"{size['future_slots']:,} créneaux, répétition {run + 1}/{self.runs} : "
                f"p95 in-process {r['inprocess']['p95']:.1f} ms, HTTP {r['http']['p95']:.1f} ms, "
                f"{SEARCH_CLIENTS} clients {r['concurrent']['p95']:.1f} ms ; autres processus "
                f"{r['concurrent_meter']['others_share']:.0%}"
            )
        if explain:
            loaded = self.last_loaded
            durations = self.last_durations
            slowest = loaded[max(range(len(durations)), key=durations.__getitem__)]
            order = sorted(range(len(durations)), key=durations.__getitem__)
            median = loaded[order[len(order) // 2]]
            size["explain"] = [
                self._explain(median, "median search"),
                self._explain(slowest, "slowest search"),
            ]
        self.report.sizes.append(size)
        name = f"search at {size['future_slots']:,} slots"
        self.report.phases.append((name, time.perf_counter() - began))
        self.report.partial = name
        self._write()

    @staticmethod
    def _search_path(public_id) -> str:
        return f"/api/v1/requests/{public_id}/slots"

    def _search_run(self, sample) -> dict:
        run = {}
        # In-process: the selector alone; the request is loaded as the API loads it.
        loaded = [request_get_for_user(scope=self.scope, public_id=p) for p in sample]
        durations, found, queries = [], [], []
        with self._meter() as meter:
            for req in loaded:
                with CaptureQueriesContext(connection) as captured:
                    t = time.perf_counter()
                    ranked = slots_ranked_for(request=req)
                    durations.append(time.perf_counter() - t)
                found.append(len(ranked))
                queries.append(len(captured))
        run["inprocess"] = stats.summary_ms(durations)
        run["inprocess_meter"] = meter.reading.as_dict()
        run["results_avg"] = sum(found) / len(found) if found else 0
        run["queries_per_search"] = max(queries) if queries else 0
        self.last_loaded, self.last_durations = loaded, durations
        paths = [self._search_path(p) for p in sample]
        # Over HTTP, one client, one request at a time (latency, no queueing).
        with self._meter() as meter:
            results = http.sequential(HOST, self.port, self.token, paths)
        run["http_statuses"] = {}
        for status, _ in results:
            run["http_statuses"][status] = run["http_statuses"].get(status, 0) + 1
        run["http"] = stats.summary_ms([seconds for _, seconds in results])
        run["http_meter"] = meter.reading.as_dict()
        # Over HTTP, SEARCH_CLIENTS clients at once (queueing on the 2 CPUs included).
        shuffled = list(paths)
        self.rng.shuffle(shuffled)
        with self._meter() as meter:
            result = http.concurrent_gets(HOST, self.port, self.token, shuffled, SEARCH_CLIENTS)
        run["concurrent_statuses"] = {**result.statuses, "errors": result.errors}
        reading = meter.reading
        done = result.statuses.get(200, 0)
        run["concurrent"] = {
            **stats.summary_ms(result.all_latencies()),
            "rate": done / result.wall if result.wall else 0.0,
            "cpu_ms": (reading.web + reading.pg_db) / done * 1000 if done else 0.0,
        }
        run["concurrent_meter"] = reading.as_dict()
        return run

    def _explain(self, req, label: str) -> dict:
        with CaptureQueriesContext(connection) as captured:
            slots_ranked_for(request=req)
        plans = []
        with connection.cursor() as cursor:
            for query in captured.captured_queries:
                sql = query["sql"]
                if "agenda_slot" not in sql:
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plans.append({"sql": sql, "plan": [row[0] for row in cursor.fetchall()]})
        commune = req.patient.commune
        return {
            "label": label,
            "where": f"{commune.name} ({commune.departement.code}), délai {req.urgency}",
            "plans": plans,
        }

    # -- FHIR ------------------------------------------------------------------------------
    def _fhir(self):
        now = timezone.now()
        free = Slot.objects.filter(
            status=SlotStatus.FREE, start__gt=now, start__lt=now + timedelta(hours=48)
        )
        rpps = sorted(set(free.values_list("professional__rpps", flat=True)))
        paths = fhir_paths(rpps, now, self.rng, self.fhir_batches * self.runs + 20)
        http.sequential(HOST, self.port, self.token, paths[:20])  # warm-up
        position = 20
        for clients in FHIR_BATCHES:
            for _ in range(self.runs):
                batch = paths[position : position + self.fhir_batches]
                position = (position + self.fhir_batches) % max(1, len(paths) - self.fhir_batches)
                with self._meter() as meter:
                    result = http.concurrent_gets(HOST, self.port, self.token, batch, clients)
                reading = meter.reading
                ok = result.statuses.get(200, 0)
                run = {
                    "clients": clients,
                    "calls": sum(result.statuses.values()),
                    "statuses": dict(result.statuses),
                    "errors": result.errors,
                    "latency": stats.summary_ms(result.all_latencies()),
                    "ok_latency": stats.summary_ms(result.latencies.get(200, [])),
                    "rate": ok / result.wall if result.wall else 0.0,
                    "bytes_avg": sum(result.sizes) / len(result.sizes) if result.sizes else 0,
                    "cpu_ms": (reading.web + reading.pg_db) / ok * 1000 if ok else 0.0,
                    "web_ms": reading.web / ok * 1000 if ok else 0.0,
                    "pg_ms": reading.pg_db / ok * 1000 if ok else 0.0,
                    "meter": reading.as_dict(),
                }
                self.report.fhir.append(run)
                self.stdout.write(
                    f"FHIR {clients} lots : p95 {run['latency']['p95']:.0f} ms, "
                    f"{run['cpu_ms']:.1f} ms CPU/appel, statuts {run['statuses']} ; "
                    f"autres processus {reading.quiet['others_share']:.0%}"
                )

    # -- booking ---------------------------------------------------------------------------
    def _free_pairs(self):
        """Open requests and free slots (an hour ahead at least) not used by a run yet."""
        soon = timezone.now() + timedelta(hours=1)
        requests = [
            r
            for r in Request.objects.filter(status=RequestStatus.OPEN)
            .order_by("pk")
            .values_list("pk", "public_id")
            if r[0] not in self.used_requests
        ]
        slots = [
            s
            for s in Slot.objects.filter(status=SlotStatus.FREE, start__gt=soon)
            .order_by("pk")
            .values_list("pk", "public_id")[: len(requests) + len(self.used_slots)]
            if s[0] not in self.used_slots
        ]
        self.rng.shuffle(requests)
        self.rng.shuffle(slots)
        return requests, slots

    def _rounds(self, count: int, contested: bool) -> list:
        """`count` rounds of two (request, slot) attempts. Contested: every other round's
        two attempts name the same slot (one attempt in four must lose its race)."""
        requests, slots = self._free_pairs()
        count = min(count, len(requests) // 2, len(slots) // 2)
        rounds = []
        for i in range(count):
            ra, rb = requests[2 * i], requests[2 * i + 1]
            sa = slots.pop()
            sb = sa if contested and i % 2 == 0 else slots.pop()
            rounds.append(((ra, sa), (rb, sb)))
        return rounds

    def _use(self, rounds) -> None:
        for pair in rounds:
            for r, s in pair:
                self.used_requests.add(r[0])
                self.used_slots.add(s[0])

    def _budget(self, runs_left: int) -> int:
        """Open requests one run may take, so that the runs still to come get as many."""
        left = Request.objects.filter(status=RequestStatus.OPEN).count() - len(self.used_requests)
        return max(0, left // max(1, runs_left))

    def _booking_runs_left(self, done: int) -> int:
        pg = 0 if self.o["no_pgbench"] else len(BOOKING_CLIENTS) * self.runs
        return len(BOOKING_CLIENTS) * 2 * self.runs - done + pg

    def _bookings(self):
        self.used_requests, self.used_slots = set(), set()
        done = 0
        for clients in BOOKING_CLIENTS:
            for contested in (False, True):
                for _ in range(self.runs):
                    budget = self._budget(self._booking_runs_left(done))
                    cap = min(int(self.duration * 120), budget // 2)
                    rounds = self._rounds(cap, contested)
                    run = self._booking_run(clients, contested, rounds)
                    done += 1
                    self.report.bookings.append(run)
                    self.stdout.write(
                        f"{clients} clients, {'contesté' if contested else 'sans course'} : "
                        f"{run['rate']:.0f} réservations/s, "
                        f"CPU {run['cpu_ms']:.1f} ms/réservation (web {run['web_ms']:.1f}, "
                        f"PostgreSQL {run['pg_ms']:.1f}), statuts {run['statuses']} ; "
                        f"autres processus {run['meter']['others_share']:.0%}"
                    )
        self.report.double_bookings = self._double_bookings()

    def _booking_run(self, clients: int, contested: bool, rounds) -> dict:
        bodies = [
            tuple({"request": str(r[1]), "slot": str(s[1])} for r, s in pair) for pair in rounds
        ]
        before = Booking.objects.filter(channel="api").count()
        with self._meter() as meter:
            result = http.racing_posts(
                HOST,
                self.port,
                self.token,
                "/api/v1/bookings",
                bodies,
                clients,
                self.duration,
                key_prefix=f"bench-{clients}-{uuid.uuid4().hex[:6]}",
            )
        self._use(rounds[: result.rounds_done])
        created = Booking.objects.filter(channel="api").count() - before
        ok = result.statuses.get(201, 0)
        reading = meter.reading
        races = sum(1 for a, b in rounds[: result.rounds_done] if a[1] == b[1])
        return {
            "clients": clients,
            "contested": contested,
            "rounds": result.rounds_done,
            "races": races,
            "attempts": sum(result.statuses.values()),
            "statuses": dict(result.statuses),
            "errors": result.errors,
            "wall": result.wall,
            "bookings": ok,
            "bookings_in_db": created,
            "rate": ok / result.wall if result.wall else 0,
            "all": stats.summary_ms(result.all_latencies()),
            "created": stats.summary_ms(result.latencies.get(201, [])),
            "conflict": stats.summary_ms(result.latencies.get(409, [])),
            "exhausted": result.rounds_done >= len(rounds),
            # CPU per booking made, refused attempts included (web + this database).
            "cpu_ms": (reading.web + reading.pg_db) / ok * 1000 if ok else 0.0,
            "web_ms": reading.web / ok * 1000 if ok else 0.0,
            "pg_ms": reading.pg_db / ok * 1000 if ok else 0.0,
            "clients_ms": (reading.own - reading.web) / ok * 1000 if ok else 0.0,
            "meter": reading.as_dict(),
        }

    def _double_bookings(self) -> dict:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM (SELECT slot_id FROM orientation_booking"
                " WHERE status = ANY(%s) GROUP BY slot_id HAVING count(*) > 1) x",
                [list(ACTIVE_BOOKING_STATUSES)],
            )
            slots_twice = cursor.fetchone()[0]
            cursor.execute(
                "SELECT count(*) FROM (SELECT request_id FROM orientation_booking"
                " WHERE status = 'booked' GROUP BY request_id HAVING count(*) > 1) x"
            )
            requests_twice = cursor.fetchone()[0]
            cursor.execute(
                "SELECT count(*) FROM orientation_booking b JOIN agenda_slot s ON s.id = b.slot_id"
                " WHERE b.status = 'booked' AND s.status <> 'booked'"
            )
            inconsistent = cursor.fetchone()[0]
        return {"slots": slots_twice, "requests": requests_twice, "inconsistent": inconsistent}

    # -- pgbench ---------------------------------------------------------------------------
    def _pgbench(self):
        binary = shutil.which("pgbench")
        if binary is None:
            self.report.pgbench_missing = True
            return
        done = 0
        tps = 100.0  # a first guess; then each run is sized on the last one's rate
        for clients in BOOKING_CLIENTS:
            for _ in range(self.runs):
                left = len(BOOKING_CLIENTS) * self.runs - done
                done += 1
                # About `duration` seconds of transactions (pgbench -t needs a count).
                wanted = max(10 * clients, int(self.duration * tps))
                rounds = self._rounds(min(wanted, self._budget(left)) // 2, contested=False)
                unique = [(r[0], s[0]) for pair in rounds for r, s in pair]
                self._use(rounds)
                per_client = len(unique) // clients
                if per_client < 1:
                    continue
                run = self._pgbench_run(binary, clients, unique, per_client)
                tps = run["tps"] or tps
                self.report.pgbench.append(run)
                self.stdout.write(
                    f"pgbench {clients} clients : {run['tps']:.0f} tps, "
                    f"PostgreSQL {run['pg_ms']:.2f} ms/transaction ; "
                    f"autres processus {run['meter']['others_share']:.0%}"
                )
        self.report.double_bookings_after_pgbench = self._double_bookings()

    def _pgbench_run(self, binary, clients, unique, per_client) -> dict:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_pair")
            cursor.execute("DROP SEQUENCE IF EXISTS bench_pair_seq")
            cursor.execute(
                "CREATE TABLE bench_pair (n integer PRIMARY KEY, request_id bigint, slot_id bigint)"
            )
            cursor.execute("CREATE SEQUENCE bench_pair_seq")
            cursor.executemany(
                "INSERT INTO bench_pair VALUES (%s, %s, %s)",
                [(i + 1, r, s) for i, (r, s) in enumerate(unique)],
            )
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "booking.sql"
            hours = ", ".join(str(int(h)) for h in settings.RELAIS_REMINDER_HOURS) or "NULL"
            script.write_text(PGBENCH_SCRIPT % {"reminder_hours": hours})
            command = [
                binary,
                "-n",
                "-f",
                str(script),
                "-c",
                str(clients),
                "-j",
                str(min(clients, os.cpu_count() or 1)),
                "-t",
                str(per_client),
                "-l",
                f"--log-prefix={tmp}/log",
                self._url(),
            ]
            with self._meter() as meter:
                done = subprocess.run(command, capture_output=True, text=True, cwd=tmp)  # noqa: S603
            latencies = []
            for log in Path(tmp).glob("log*"):
                for line in log.read_text().splitlines():
                    latencies.append(int(line.split()[2]) / 1e6)
        if done.returncode:
            raise CommandError(f"pgbench : {done.stderr[-2000:]}")
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
        reading = meter.reading
        n = len(latencies)
        return {
            "clients": clients,
            "transactions": n,
            "tps": float(tps.group(1)) if tps else 0.0,
            "latency": stats.summary_ms(latencies),
            "pg_ms": reading.pg_db / n * 1000 if n else 0.0,
            "meter": reading.as_dict(),
        }

    # -- memory ----------------------------------------------------------------------------
    def _memory(self):
        workers = procmem.children(self.server.pid)
        self.report.memory = {
            "master": procmem.memory_kib(self.server.pid),
            "workers": [procmem.memory_kib(pid) for pid in workers],
        }

    # -- indicators ------------------------------------------------------------------------
    def _indicators(self, requests: int):
        out = io.StringIO()
        # `generate --reset` empties the SAS tables, orphaning bench_indicators' département.
        from relais.bench.management.commands.bench_indicators import DEP_CODE
        from relais.territory.models import Commune, Departement

        if not Sas.objects.filter(departement__code=DEP_CODE).exists():
            Commune.objects.filter(departement__code=DEP_CODE).delete()
            Departement.objects.filter(code=DEP_CODE).delete()
        try:
            call_command("bench_indicators", requests=requests, runs=5, reset=True, stdout=out)
        except Exception as exc:  # noqa: BLE001 - report it, keep the other figures
            out.write(f"bench_indicators failed: {exc!r}\n")
        self.report.indicators = out.getvalue()
        self.stdout.write(out.getvalue())

    # -- peers -----------------------------------------------------------------------------
    def _peers(self):
        from relais.bench import peers

        base = Path(settings.BASE_DIR).parent / "var" / "peers"
        self.report.peers = peers.run_all(
            base=base,
            admin_url=urlunsplit(urlsplit(self._url())._replace(path="/postgres")),
            runs=self.runs,
            duration=self.duration,
            clients=BOOKING_CLIENTS,
            quick=self.o["quick"],
            log=self.stdout.write,
        )


# The statements booking_create issues inside its transaction for one API booking
# (captured with Django's query log), one for one: slot, request, booking, niveau-2
# calls, event, the two messages in one INSERT, their delivery task, the reminder tasks
# still ahead of the slot (RELAIS_REMINDER_HOURS), the audit row.
PGBENCH_SCRIPT = """\
SELECT request_id AS r, slot_id AS s FROM bench_pair
  WHERE n = (SELECT nextval('bench_pair_seq'))
\\gset
BEGIN;
UPDATE agenda_slot SET status = 'booked', held_until = NULL, held_by_id = NULL
  WHERE id = :s AND start > now()
  AND (status = 'free' OR (held_until < now() AND status = 'held'));
UPDATE regulation_request SET status = 'booked', updated_at = now()
  WHERE id = :r AND status = 'open' AND (NOT red_flag OR red_flag_override_at IS NOT NULL);
INSERT INTO orientation_booking (public_id, request_id, slot_id, operator_id, channel, status,
  idempotency_key, idempotency_owner, created_at, status_changed_at, kind, refusable_until)
  VALUES (gen_random_uuid(), :r, :s, NULL, 'api', 'booked', md5(random()::text), 'pgbench',
  now(), now(), 'slot', NULL) RETURNING id AS b
\\gset
UPDATE orientation_level2call SET status = 'cancelled',
  closing_reason = 'Demande orientée autrement' WHERE request_id = :r AND status = 'open';
INSERT INTO regulation_requestevent (request_id, at, actor_id, from_status, to_status, note)
  VALUES (:r, now(), NULL, 'open', 'booked', 'Rendez-vous avec Dr Camille Martin') RETURNING id;
WITH n AS (INSERT INTO notifications_notification (public_id, kind, channel, recipient,
  subject, body, status, attempts, last_error, booking_id, created_at, sent_at)
  VALUES (gen_random_uuid(), 'booking_patient', 'sms', '06 39 98 00 00', '',
  'Relais : rendez-vous le mercredi 25 novembre à 19h40 avec Dr Camille Martin, 1 place de la '
  'Mairie. Apportez votre carte Vitale et vos ordonnances en cours. Pour annuler, appelez le '
  '01 99 00 00 00.', 'pending', 0, '', :b, now(), NULL),
  (gen_random_uuid(), 'booking_professional', 'sms', '06 39 98 00 01', '',
  'Relais : un patient SNP vous est adressé le mercredi 25 novembre à 19h40. Détails dans '
  'Relais.', 'pending', 0, '', :b, now(), NULL) RETURNING id)
  SELECT string_agg(id::text, ',') AS ns FROM n
\\gset
INSERT INTO django_tasks_database_dbtaskresult (id, status, enqueued_at, started_at,
  finished_at, args_kwargs, priority, task_path, worker_ids, queue_name, backend_name,
  run_after, return_value, exception_class_path, traceback)
  VALUES (gen_random_uuid(), 'READY', now(), NULL, NULL,
  jsonb_build_object('args', jsonb_build_array(jsonb_build_array(:ns)), 'kwargs', '{}'::jsonb),
  0, 'relais.notifications.tasks.deliver_notifications', '[]'::jsonb, 'default', 'default',
  '9999-01-01 00:00:00+00', NULL, '', '');
INSERT INTO django_tasks_database_dbtaskresult (id, status, enqueued_at, started_at,
  finished_at, args_kwargs, priority, task_path, worker_ids, queue_name, backend_name,
  run_after, return_value, exception_class_path, traceback)
  SELECT gen_random_uuid(), 'READY', now(), NULL, NULL,
  jsonb_build_object('args', jsonb_build_array(:b, h), 'kwargs', '{}'::jsonb), 0,
  'relais.notifications.tasks.send_booking_reminder', '[]'::jsonb, 'default', 'default',
  s.start - make_interval(hours => h), NULL, '', ''
  FROM agenda_slot s, unnest(ARRAY[%(reminder_hours)s]) AS h
  WHERE s.id = :s AND s.start - make_interval(hours => h) > now();
INSERT INTO audit_auditevent (at, user_id, api_client, role, action, object_type, object_id,
  reason, actor_type, actor_label) VALUES (now(), NULL, 'pgbench', 'api', 'create',
  'orientation.booking', gen_random_uuid()::text, 'api', 'api_client', '') RETURNING id;
END;
"""
