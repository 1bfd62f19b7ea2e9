"""`relais bench`: national-scale benchmarks, written to docs/benchmarks.md.

relais bench [--quick] [--database-url postgres://postgres@127.0.0.1:5432/relais_scale_bench]

With --database-url the command creates that database if missing and runs itself again
against it (never point it at a real database: it wipes the generated tables). Then, for
each size, `relais generate --reset`, the ranked search in-process and over HTTP (gunicorn
on 127.0.0.1, API token); at the largest size, booking throughput over HTTP with 16 and 64
clients, the same transaction through pgbench, the memory of the web workers; finally the
indicators (`relais bench_indicators`). Loopback traffic only. Not a test: it reports.
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
from relais.bench import http, procmem, stats
from relais.bench.report import Report
from relais.orientation.models import ACTIVE_BOOKING_STATUSES, Booking
from relais.orientation.selectors import slots_ranked_for
from relais.regulation.models import Request, RequestStatus
from relais.regulation.selectors import request_get_for_user
from relais.territory.models import Sas

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/relais_scale_bench"
FULL_SIZES = "600:10000,6000:100000,60000:1000000"
QUICK_SIZES = "300:5000,3000:30000"
HOST = "127.0.0.1"
CONTESTED_EVERY = 4  # one booking attempt in 4 targets the slot of the attempt before it


class Command(BaseCommand):
    help = "Mesure recherche, réservation, indicateurs et mémoire ; écrit docs/benchmarks.md."

    def add_arguments(self, parser):
        parser.add_argument("--database-url", default="", help=f"Par ex. {DEFAULT_URL}")
        parser.add_argument("--quick", action="store_true", help="Petites tailles, mesures brèves.")
        parser.add_argument("--sizes", default="", help=f"professionnels:demandes,… ({FULL_SIZES})")
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--samples", type=int, default=0, help="Recherches par taille.")
        parser.add_argument("--duration", type=float, default=0, help="Secondes par charge.")
        parser.add_argument(
            "--workers", type=int, default=0, help="Workers gunicorn (défaut : CPU + 1)."
        )
        parser.add_argument("--threads", type=int, default=2, help="Threads par worker.")
        parser.add_argument("--indicator-requests", type=int, default=0)
        parser.add_argument(
            "--output", default=str(Path(settings.BASE_DIR).parent / "docs" / "benchmarks.md")
        )
        parser.add_argument("--no-pgbench", action="store_true")
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
        self.samples = o["samples"] or (40 if quick else 300)
        self.duration = o["duration"] or (4.0 if quick else 15.0)
        # CPUs + 1 gthread workers of 2 threads, as docs/operations.md recommends: the same
        # booking rate as 2 x CPUs + 1 sync workers within noise (docs/benchmarks.md,
        # "Booking", item 5), with keep-alive and threads that overlap the waits on
        # partners' and the SAS platform's HTTP calls.
        self.workers = o["workers"] or (os.cpu_count() or 1) + 1
        self.threads = o["threads"]
        self.rng = random.Random(o["seed"])
        self.report = Report(quick=quick, workers=self.workers, threads=self.threads)
        began = time.perf_counter()
        self._setup()
        self._start_server()
        try:
            for index, (professionals, requests) in enumerate(self.sizes):
                last = index == len(self.sizes) - 1
                self._size(professionals, requests, explain=last)
                if last:
                    self._bookings()
                    if not o["no_pgbench"]:
                        self._pgbench()
                    self._memory()
        finally:
            self._stop_server()
        self._indicators(o["indicator_requests"] or (20_000 if quick else 300_000))
        self.report.total_seconds = time.perf_counter() - began
        Path(o["output"]).parent.mkdir(parents=True, exist_ok=True)
        self.report.write(Path(o["output"]))
        self.stdout.write(f"Écrit : {o['output']} ({self.report.total_seconds / 60:.1f} min)")

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
            "workers",
            "threads",
            "indicator_requests",
            "departements",
        ):
            if o[flag]:
                argv += [f"--{flag.replace('_', '-')}", str(o[flag])]
        argv += ["--days", str(o["days"]), "--seed", str(o["seed"])]
        argv += ["--quick"] if o["quick"] else []
        argv += ["--no-pgbench"] if o["no_pgbench"] else []
        env = {**os.environ, "DATABASE_URL": url}
        code = subprocess.call(argv, env=env)  # noqa: S603 - our own command
        if code:
            raise CommandError(f"relais bench a échoué (code {code}).")

    # -- setup -----------------------------------------------------------------------------
    def _setup(self):
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0]
            pg = {"version": version.split(" on ")[0]}
            for name in ("shared_buffers", "work_mem", "max_connections", "jit"):
                cursor.execute(f"SHOW {name}")
                pg[name] = cursor.fetchone()[0]
        self.report.machine = {**stats.machine(), "postgresql": pg}
        self.client, self.token = api_client_create(
            name=f"bench {uuid.uuid4().hex[:8]}", scopes=["appointments:write", "requests:read"]
        )
        self.scope = scope_for_api_client(self.client)

    def _url(self) -> str:
        s = connection.settings_dict
        auth = quote(s["USER"] or "postgres")
        if s.get("PASSWORD"):
            auth += ":" + quote(s["PASSWORD"])
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"

    # -- server ----------------------------------------------------------------------------
    def _start_server(self):
        # The 409s of the booking runs are logged as warnings: kept out of the console.
        self.server_log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives with the server
            prefix="relais-bench-gunicorn-", delete=False
        )
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        env = {
            **os.environ,
            "DATABASE_URL": self._url(),
            "DB_CONN_MAX_AGE": "600",
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "relais.settings",
            # One API client makes every call: its per-minute quota would cut the runs.
            "RELAIS_API_RATE_LIMIT": "100000000",
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
        self.stdout.write(out.getvalue())
        now = timezone.now()
        future = Slot.objects.filter(start__gt=now).exclude(status=SlotStatus.BLOCKED)
        size = {
            "professionals": professionals,
            "requests": Request.objects.count(),
            "future_slots": future.count(),
            "free_slots": future.filter(status=SlotStatus.FREE).count(),
            "generate_seconds": generated,
            "generate_log": out.getvalue(),
        }
        open_ids = list(
            Request.objects.filter(status=RequestStatus.OPEN)
            .order_by("pk")
            .values_list("public_id", flat=True)
        )
        sample = self.rng.sample(open_ids, min(self.samples, len(open_ids)))
        # In-process: the selector alone; the request is loaded as the API loads it.
        self.scope = scope_for_api_client(self.client)  # the SAS were just recreated
        loaded = [request_get_for_user(scope=self.scope, public_id=p) for p in sample]
        for req in loaded[:10]:
            slots_ranked_for(request=req)
        durations, found, queries = [], [], []
        for req in loaded:
            with CaptureQueriesContext(connection) as captured:
                t = time.perf_counter()
                ranked = slots_ranked_for(request=req)
                durations.append(time.perf_counter() - t)
            found.append(len(ranked))
            queries.append(len(captured))
        size["inprocess"] = stats.summary_ms(durations)
        size["results_avg"] = sum(found) / len(found) if found else 0
        size["queries_per_search"] = max(queries) if queries else 0
        # Over HTTP: one client, one request at a time (latency, no queueing).
        paths = [f"/api/v1/requests/{p}/slots" for p in sample]
        http.sequential(HOST, self.port, self.token, paths[:10])
        results = http.sequential(HOST, self.port, self.token, paths)
        bad = [s for s, _ in results if s != 200]
        if bad:
            raise CommandError(f"Recherche HTTP : réponses {sorted(set(bad))}")
        size["http"] = stats.summary_ms([seconds for _, seconds in results])
        if explain:
            slowest = loaded[max(range(len(durations)), key=durations.__getitem__)]
            order = sorted(range(len(durations)), key=durations.__getitem__)
            median = loaded[order[len(order) // 2]]
            size["explain"] = [
                self._explain(median, "median search"),
                self._explain(slowest, "slowest search"),
            ]
        self.report.sizes.append(size)
        self.stdout.write(
            f"{size['future_slots']:,} créneaux : "
            f"in-process p95 {size['inprocess']['p95']:.1f} ms, "
            f"HTTP p95 {size['http']['p95']:.1f} ms"
        )

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

    # -- booking ---------------------------------------------------------------------------
    def _pairs(self, count: int, exclude_requests: set, exclude_slots: set):
        soon = timezone.now() + timedelta(hours=1)
        requests = [
            r
            for r in Request.objects.filter(status=RequestStatus.OPEN)
            .order_by("pk")
            .values_list("pk", "public_id")
            if r[0] not in exclude_requests
        ]
        slots = [
            s
            for s in Slot.objects.filter(status=SlotStatus.FREE, start__gt=soon)
            .order_by("pk")
            .values_list("pk", "public_id")[: 4 * count + len(exclude_slots)]
            if s[0] not in exclude_slots
        ]
        self.rng.shuffle(requests)
        self.rng.shuffle(slots)
        pairs = []
        for i, request in enumerate(requests[:count]):
            # One attempt in CONTESTED_EVERY takes the previous attempt's slot: the two race.
            slot = pairs[-1][1] if i and i % CONTESTED_EVERY == 0 else slots.pop()
            pairs.append((request, slot))
        exclude_requests.update(r[0] for r, _ in pairs)
        exclude_slots.update(s[0] for _, s in pairs)
        return pairs

    def _bookings(self):
        self.used_requests, self.used_slots = set(), set()
        for clients in (16, 64):
            cap = int(self.duration * 400)  # 400/s at most before running dry
            pairs = self._pairs(cap, self.used_requests, self.used_slots)
            bodies = [{"request": str(r[1]), "slot": str(s[1])} for r, s in pairs]
            before = Booking.objects.filter(channel="api").count()
            cpu_before = self._cpu()
            result = http.concurrent_posts(
                HOST,
                self.port,
                self.token,
                "/api/v1/bookings",
                bodies,
                clients,
                self.duration,
                key_prefix=f"bench-{clients}-{uuid.uuid4().hex[:6]}",
            )
            cpu_after = self._cpu()
            created = Booking.objects.filter(channel="api").count() - before
            ok = result.statuses.get(201, 0)
            run = {
                "clients": clients,
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
                "exhausted": sum(result.statuses.values()) >= len(bodies),
                # CPU seconds per booking made, refused attempts included.
                "cpu_per_booking": {
                    part: (cpu_after[part] - cpu_before[part]) / ok if ok else 0.0
                    for part in cpu_before
                },
            }
            self.report.bookings.append(run)
            self.stdout.write(
                f"{clients} clients : {run['rate']:.0f} réservations/s, "
                f"p99 {run['all']['p99']:.0f} ms, "
                f"statuts {run['statuses']}"
            )
        self.report.double_bookings = self._double_bookings()

    def _cpu(self) -> dict:
        """CPU seconds used so far by the web server (master and workers), by PostgreSQL's
        processes (the whole cluster: only the benchmark runs on it) and by this process
        (the load clients)."""
        web = [self.server.pid, *procmem.children(self.server.pid)]
        return {
            "web": procmem.cpu_seconds(web),
            "postgresql": procmem.cpu_seconds(procmem.pids_named("postgres")),
            "clients": time.process_time(),
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
        for clients in (16, 64):
            per_client = max(10, int(self.duration * 800 / clients))
            pairs = self._pairs(per_client * clients, self.used_requests, self.used_slots)
            # No contested pairs here: the floor is the successful transaction.
            seen, unique = set(), []
            for r, s in pairs:
                if s[0] not in seen:
                    seen.add(s[0])
                    unique.append((r[0], s[0]))
            per_client = len(unique) // clients
            if per_client < 1:
                continue
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_pair")
                cursor.execute("DROP SEQUENCE IF EXISTS bench_pair_seq")
                cursor.execute(
                    "CREATE TABLE bench_pair"
                    " (n integer PRIMARY KEY, request_id bigint, slot_id bigint)"
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
                done = subprocess.run(command, capture_output=True, text=True, cwd=tmp)  # noqa: S603
                latencies = []
                for log in Path(tmp).glob("log*"):
                    for line in log.read_text().splitlines():
                        latencies.append(int(line.split()[2]) / 1e6)
            if done.returncode:
                raise CommandError(f"pgbench : {done.stderr[-2000:]}")
            tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
            run = {
                "clients": clients,
                "transactions": len(latencies),
                "tps": float(tps.group(1)) if tps else 0.0,
                "latency": stats.summary_ms(latencies),
            }
            self.report.pgbench.append(run)
            self.stdout.write(f"pgbench {clients} clients : {run['tps']:.0f} tps")
        self.report.double_bookings_after_pgbench = self._double_bookings()

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
  reason) VALUES (now(), NULL, 'pgbench', 'api', 'create', 'orientation.booking',
  gen_random_uuid()::text, 'api') RETURNING id;
END;
"""
