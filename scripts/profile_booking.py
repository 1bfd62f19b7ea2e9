"""CPU per API booking over HTTP (issue 22): web (gunicorn process tree) + PostgreSQL
(the backends of THIS database only), bookings/s, 409s and double bookings.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relais_perfbook \
        .venv/bin/python scripts/profile_booking.py --bookings 400 --repeat 3

The database must hold generated data (`relais generate --reset …`). The script starts
gunicorn (3 gthread workers × 2 threads, persistent connections, like `relais bench`) on
port 18201, creates an API client, and plays rounds of `--clients` attempts released
together by a threading.Barrier: uncontested (every attempt its own slot and request),
then contested (in every group of four attempts, the fourth targets the slot of the third
and both fire at the same instant: one of them must get 409). CPU is read from
/proc/<pid>/stat: the gunicorn master and workers, and the PostgreSQL backends whose
pg_stat_activity.datname is this database (not the whole cluster). The machine is shared:
compare CPU time; wall figures (bookings/s) are indicative, and the other processes' CPU
during the run is printed with them.

--profile N: instead, N in-process bookings (Django test client) under cProfile, half of
them refused (409), and the top functions by cumulative time.
"""

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST, PORT = "127.0.0.1", 18201
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/relais_perfbook"
TICK = os.sysconf("SC_CLK_TCK")


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# -- /proc ----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_of(pids) -> dict[int, float]:
    out = {}
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            out[pid] = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    return out


def tree(root: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all processes), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def backends(db: str, own_pid: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s", [db, own_pid]
        )
        return [row[0] for row in cursor.fetchall()]


# -- load -----------------------------------------------------------------------------------


class Client:
    def __init__(self, token: str):
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(HOST, PORT, timeout=60)

    def post(self, path: str, body: dict, key: str) -> tuple[int, float, bytes]:
        began = time.perf_counter()
        # A keep-alive connection the server closed while the round waited is retried
        # once on a new one (safe: the Idempotency-Key makes a replay answer the same).
        for attempt in (1, 2):
            try:
                self.conn.request(
                    "POST", path, json.dumps(body), {**self.headers, "Idempotency-Key": key}
                )
                response = self.conn.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
                if attempt == 2:
                    return 0, time.perf_counter() - began, b""
        return response.status, time.perf_counter() - began, data


def pairs_for(count: int, contested_every: int, used_requests: set, used_slots: set, rng):
    from django.utils import timezone

    from relais.agenda.models import Slot, SlotStatus
    from relais.regulation.models import Request, RequestStatus

    soon = timezone.now() + timedelta(hours=2)
    requests = [
        r
        for r in Request.objects.filter(status=RequestStatus.OPEN)
        .order_by("pk")
        .values_list("pk", "public_id")
        if r[0] not in used_requests
    ]
    slots = [
        s
        for s in Slot.objects.filter(status=SlotStatus.FREE, start__gt=soon, for_sas=True)
        .order_by("pk")
        .values_list("pk", "public_id")[: 4 * count + len(used_slots)]
        if s[0] not in used_slots
    ]
    if len(requests) < count or len(slots) < count:
        raise SystemExit(
            f"Not enough open requests ({len(requests)}) or free slots ({len(slots)}) for "
            f"{count} attempts: regenerate the data (relais generate --reset)."
        )
    rng.shuffle(requests)
    rng.shuffle(slots)
    pairs = []
    for i, request in enumerate(requests[:count]):
        contested = contested_every and i % contested_every == contested_every - 1
        slot = pairs[-1][1] if contested else slots.pop()
        pairs.append((request, slot))
    used_requests.update(r[0] for r, _ in pairs)
    used_slots.update(s[0] for _, s in pairs)
    return [{"request": str(r[1]), "slot": str(s[1])} for r, s in pairs]


def play(token: str, bodies: list[dict], clients: int, tag: str):
    """Rounds of `clients` attempts, each round released at once by a Barrier (so the
    two attempts on one slot in a group of four truly race)."""
    statuses, latencies, bodies_409 = Counter(), [], []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    rounds = (len(bodies) + clients - 1) // clients

    def worker(index: int):
        client = Client(token)
        for r in range(rounds):
            barrier.wait()
            position = r * clients + index
            if position >= len(bodies):
                continue
            status, seconds, data = client.post(
                "/api/v1/bookings", bodies[position], f"{tag}-{position}"
            )
            with lock:
                statuses[status] += 1
                latencies.append(seconds)
                if status == 409 and len(bodies_409) < 3:
                    bodies_409.append(data)
        client.conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, latencies, time.perf_counter() - began, bodies_409


def double_bookings() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT slot_id FROM orientation_booking WHERE status IN "
            "('booked', 'fulfilled', 'noshow') GROUP BY slot_id HAVING count(*) > 1) x"
        )
        slots = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM (SELECT request_id FROM orientation_booking"
            " WHERE status = 'booked' GROUP BY request_id HAVING count(*) > 1) x"
        )
        requests = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM orientation_booking b JOIN agenda_slot s ON s.id = b.slot_id"
            " WHERE b.status = 'booked' AND s.status <> 'booked'"
        )
        inconsistent = cursor.fetchone()[0]
    return {"slots": slots, "requests": requests, "inconsistent": inconsistent}


def start_server(url: str, workers: int, threads: int, log, root: Path = ROOT) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DB_CONN_MAX_AGE": "600",
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "relais.settings",
        "RELAIS_API_RATE_LIMIT": "100000000",
    }
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "-m",
            "gunicorn",
            "relais.wsgi:application",
            "--bind",
            f"{HOST}:{PORT}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        env={**env, "PYTHONPATH": str(root)},
        cwd=str(root),
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection(HOST, PORT, timeout=5)
            conn.request("GET", "/api/v1/openapi.json")
            conn.getresponse().read()
            conn.close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"gunicorn did not start on {PORT} (log: {log.name})") from None
            time.sleep(0.3)


def measure(o) -> None:
    import random

    from django.db import connection

    from relais.accounts.services import api_client_create

    db = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    _, token = api_client_create(
        name=f"profile_booking {uuid.uuid4().hex[:8]}",
        scopes=["appointments:write", "requests:read"],
    )
    rng = random.Random(o.seed)
    used_requests, used_slots = set(), set()
    log = open(Path(tempfile.gettempdir()) / f"profile_booking-gunicorn-{PORT}.log", "ab")  # noqa: SIM115
    server = start_server(o.database_url, o.workers, o.threads, log, Path(o.root))
    print(f"gunicorn {o.workers} workers x {o.threads} threads on {PORT}, code from {o.root}")
    results = []
    try:
        # Warm-up: every worker imports, connects and fills its caches.
        play(token, pairs_for(o.clients * 6, 0, used_requests, used_slots, rng), o.clients, "w")
        for mode, every in (("uncontested", 0), ("contested 1/4", 4)):
            if o.mode not in ("both", mode.split()[0]):
                continue
            for run in range(o.repeat):
                bodies = pairs_for(o.bookings, every, used_requests, used_slots, rng)
                web_pids = tree(server.pid)
                pg_before = cpu_of(backends(db, own_pid))
                web_before = sum(cpu_of(web_pids).values())
                busy_before, load_before = machine_busy(), os.getloadavg()[0]
                own_before = time.process_time()
                statuses, latencies, wall, samples = play(
                    token, bodies, o.clients, f"{mode[0]}{run}-{uuid.uuid4().hex[:6]}"
                )
                own = time.process_time() - own_before
                busy = machine_busy() - busy_before
                web = sum(cpu_of(web_pids).values()) - web_before
                after_pids = backends(db, own_pid)
                pg_after = cpu_of(after_pids)
                pg = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
                lost = len(set(pg_before) - set(pg_after))
                ok = statuses.get(201, 0)
                others = max(busy - web - pg - own, 0.0)
                row = {
                    "mode": mode,
                    "run": run + 1,
                    "attempts": sum(statuses.values()),
                    "statuses": dict(statuses),
                    "bookings": ok,
                    "web_ms": 1000 * web / ok if ok else 0,
                    "pg_ms": 1000 * pg / ok if ok else 0,
                    "rate": ok / wall,
                    "p50_ms": 1000 * statistics.median(latencies),
                    "wall": wall,
                    "load1": (load_before, os.getloadavg()[0]),
                    "others_cpu_share": others / wall / (os.cpu_count() or 1),
                    "backends_gone": lost,
                }
                row["cpu_ms"] = row["web_ms"] + row["pg_ms"]
                results.append(row)
                print(
                    f"{mode:14} run {run + 1}: {ok} bookings / {row['attempts']} attempts "
                    f"{dict(statuses)} | CPU/booking {row['cpu_ms']:.1f} ms "
                    f"(web {row['web_ms']:.1f} + PostgreSQL {row['pg_ms']:.1f}) | "
                    f"{row['rate']:.0f}/s (indicative), p50 {row['p50_ms']:.0f} ms | "
                    f"load1 {load_before:.2f}->{row['load1'][1]:.2f}, other processes "
                    f"{100 * row['others_cpu_share']:.0f} % of the CPUs"
                    + (f" | {lost} backend(s) gone (CPU lost)" if lost else ""),
                    flush=True,
                )
                if o.show_409 and samples:
                    print("   409 body:", samples[0].decode()[:600])
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    for mode in dict.fromkeys(r["mode"] for r in results):
        rows = [r for r in results if r["mode"] == mode]
        refused = sum(r["statuses"].get(409, 0) for r in rows)
        cpu = [r["cpu_ms"] for r in rows]
        print(
            f"{mode:14} median CPU/booking {statistics.median(cpu):.1f} ms "
            f"(min {min(cpu):.1f}, max {max(cpu):.1f}; web "
            f"{statistics.median(r['web_ms'] for r in rows):.1f}, PostgreSQL "
            f"{statistics.median(r['pg_ms'] for r in rows):.1f}), "
            f"{statistics.median(r['rate'] for r in rows):.0f} bookings/s, "
            f"409: {refused}, "
            f"other statuses: {sum(r['attempts'] - r['bookings'] for r in rows) - refused}"
        )
    print("double bookings:", double_bookings())


def restart_check(o) -> None:
    """Stale persistent connections: calls on every worker, then every backend of this
    database terminated (what a PostgreSQL restart does to them), then calls again."""
    from django.db import connection

    from relais.accounts.services import api_client_create

    db = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    _, token = api_client_create(
        name=f"profile_booking {uuid.uuid4().hex[:8]}", scopes=["requests:read"]
    )
    log = open(Path(tempfile.gettempdir()) / f"profile_booking-gunicorn-{PORT}.log", "ab")  # noqa: SIM115
    server = start_server(o.database_url, o.workers, o.threads, log, Path(o.root))
    headers = {"Authorization": f"Bearer {token}"}

    def calls(n: int) -> Counter:
        statuses = Counter()
        for _ in range(n):
            conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
            conn.request("GET", "/api/v1/requests", headers=headers)
            statuses[conn.getresponse().status] += 1
            conn.close()
        return statuses

    try:
        print("before:", dict(calls(24)))
        pids = backends(db, own_pid)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM unnest(%s) pid", [pids])
            print("backends terminated:", cursor.fetchone()[0])
        time.sleep(1)
        print("after:", dict(calls(24)), "(a 500 here is a stale connection answering)")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def profile(o) -> None:
    """In-process: N bookings through the Django test client under cProfile, every other
    one refused (its slot was just taken)."""
    import random

    from django.test import Client as DjangoClient

    from relais.accounts.services import api_client_create

    _, token = api_client_create(
        name=f"profile_booking {uuid.uuid4().hex[:8]}",
        scopes=["appointments:write", "requests:read"],
    )
    client = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    rng = random.Random(o.seed)
    used_r, used_s = set(), set()
    every = 2 if o.profile_contested else 0
    warm = pairs_for(20, every, used_r, used_s, rng)
    bodies = pairs_for(o.profile, every, used_r, used_s, rng)

    def go(items):
        statuses = Counter()
        for body in items:
            r = client.post("/api/v1/bookings", body, content_type="application/json")
            statuses[r.status_code] += 1
        return statuses

    go(warm)
    profiler = cProfile.Profile()
    began = time.process_time()
    profiler.enable()
    statuses = go(bodies)
    profiler.disable()
    spent = time.process_time() - began
    print(f"{dict(statuses)}: {1000 * spent / len(bodies):.2f} ms of Python CPU per attempt")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(o.top)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--bookings", type=int, default=400, help="attempts per run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (per round)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=("both", "uncontested", "contested"), default="both")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument(
        "--root", default=str(ROOT), help="serve the code of this tree (e.g. a git archive)"
    )
    parser.add_argument("--show-409", action="store_true", help="print one 409 body per run")
    parser.add_argument("--profile", type=int, default=0, help="N in-process attempts, cProfile")
    parser.add_argument("--profile-contested", action="store_true")
    parser.add_argument(
        "--restart-check", action="store_true", help="terminate the backends under a server"
    )
    parser.add_argument("--top", type=int, default=45)
    o = parser.parse_args()
    if "postgres" not in o.database_url:
        raise SystemExit("PostgreSQL only: --database-url postgres://…")
    if o.clients % 4 and o.mode != "uncontested":
        raise SystemExit("--clients must be a multiple of 4 (one contested pair per four).")
    django_setup(o.database_url)
    if o.restart_check:
        restart_check(o)
    elif o.profile:
        profile(o)
    else:
        measure(o)


if __name__ == "__main__":
    main()
