"""`relais bench_fhir`: INT_R01 as the SAS platform calls it (25 RPPS, 48 h, the kit's
includes) over HTTP against gunicorn, p50/p95/p99 with 1, 8 and 32 concurrent batches,
each load repeated --runs times (median and min–max of the p95). `relais bench` measures
the same calls (fhir_paths) at national size, with CPU per call and the machine's quietness.

DATABASE_URL=postgres://…/relais_fhir_bench relais migrate
DATABASE_URL=postgres://…/relais_fhir_bench relais bench_fhir --professionals 6000

Generates the data with `relais generate --reset` (never on a real database: it wipes
the generated tables), unless --no-generate. Loopback traffic only. Not a test: it reports.
"""

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from relais.accounts.services import api_client_create
from relais.agenda.models import Slot, SlotStatus
from relais.bench import http, stats

HOST = "127.0.0.1"
RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"


def fhir_paths(rpps: list[str], now, rng, count: int) -> list[str]:
    """`count` INT_R01 searches as the SAS platform sends them: 25 RPPS drawn at random,
    the next 48 hours, free slots, the kit's includes."""
    paths = []
    for _ in range(count):
        batch = rng.sample(rpps, min(25, len(rpps)))
        params = [
            ("_include", "Slot:schedule"),
            ("_include", "Slot:service-type-reference"),
            ("_include:iterate", "Schedule:actor"),
            ("_include:iterate", "HealthcareService:organization"),
            (
                "schedule.actor:Practitioner.identifier",
                ",".join(f"{RPPS_SYSTEM}|8{r}" for r in batch),
            ),
            ("start", "ge" + timezone.localtime(now).isoformat(timespec="milliseconds")),
            (
                "start",
                "le"
                + timezone.localtime(now + timedelta(hours=48)).isoformat(timespec="milliseconds"),
            ),
            ("status", "free"),
        ]
        paths.append("/fhir/Slot?" + urlencode(params))
    return paths


class Command(BaseCommand):
    help = "Mesure INT_R01 (25 RPPS, 48 h) sur HTTP : p50/p95/p99 à 1, 8 et 32 lots simultanés."

    def add_arguments(self, parser):
        parser.add_argument("--professionals", type=int, default=60_000)
        parser.add_argument("--requests", type=int, default=20_000)
        parser.add_argument("--days", type=int, default=3)
        parser.add_argument("--no-generate", action="store_true")
        parser.add_argument("--batches", type=int, default=400, help="Lots par charge.")
        parser.add_argument("--runs", type=int, default=3, help="Répétitions de chaque charge.")
        parser.add_argument("--concurrency", default="1,8,32")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **o):
        rng = random.Random(o["seed"])
        if not o["no_generate"]:
            began = time.perf_counter()
            call_command(
                "generate",
                professionals=o["professionals"],
                requests=o["requests"],
                days=o["days"],
                seed=o["seed"],
                reset=True,
                stdout=self.stdout,
            )
            self.stdout.write(f"génération : {time.perf_counter() - began:.0f} s")
        now = timezone.now()
        free = Slot.objects.filter(
            status=SlotStatus.FREE, start__gt=now, start__lt=now + timedelta(hours=48)
        )
        self.stdout.write(
            f"{Slot.objects.count():,} créneaux, {free.count():,} libres dans les 48 h"
        )
        rpps = sorted(set(free.values_list("professional__rpps", flat=True)))
        _, token = api_client_create(name=f"bench-fhir-{os.getpid()}", scopes=["slots:read"])
        paths = fhir_paths(rpps, now, rng, o["batches"] * o["runs"])
        connection.close()
        server, port = self._start(o)
        try:
            http.sequential(HOST, port, token, paths[:20])  # warm-up
            for clients in [int(c) for c in o["concurrency"].split(",")]:
                p95s = []
                for run in range(o["runs"]):
                    batch = paths[run * o["batches"] : (run + 1) * o["batches"]]
                    result = http.concurrent_gets(HOST, port, token, batch, clients)
                    summary = stats.summary_ms(result.all_latencies())
                    p95s.append(summary["p95"])
                    sizes = result.sizes
                    self.stdout.write(
                        f"{clients:>3} lots simultanés, répétition {run + 1} : "
                        f"{sum(result.statuses.values())} lots, "
                        f"p50 {summary['p50']:.1f} ms, p95 {summary['p95']:.1f} ms, "
                        f"p99 {summary['p99']:.1f} ms ; statuts {dict(result.statuses)} ; "
                        f"{sum(sizes) / max(len(sizes), 1):.0f} octets en moyenne"
                    )
                self.stdout.write(
                    f"{clients:>3} lots simultanés : p95 médiane (min–max) "
                    f"{stats.fmt_spread(stats.spread(p95s))} ms"
                )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    def _start(self, o):
        log = tempfile.NamedTemporaryFile(prefix="relais-bench-fhir-", delete=False)  # noqa: SIM115
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "DB_CONN_MAX_AGE": "600",
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "relais.settings",
            "RELAIS_FHIR_RATE_LIMIT": "100000000",
        }
        server = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-m",
                "gunicorn",
                "relais.wsgi:application",
                "--bind",
                f"{HOST}:{port}",
                "--workers",
                str(o["workers"]),
                "--worker-class",
                "gthread",
                "--threads",
                str(o["threads"]),
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=str(settings.BASE_DIR),
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        http.wait_ready(HOST, port, "/fhir/metadata")
        self.stdout.write(
            f"gunicorn : {o['workers']} workers × {o['threads']} threads, {HOST}:{port}"
        )
        return server, port
