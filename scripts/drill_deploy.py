# ruff: noqa: S108, S603, S607 - a drill: throwaway paths under /tmp, our own PostgreSQL tools
"""Failure drill of the deployment (issue 20, item 6): `make test-deploy`.

    .venv/bin/python scripts/drill_deploy.py [--seconds 20] [--clients 6] [--keep]

Everything is throwaway, under /tmp/relais-deploy-drill (never the shared server):
  - PostgreSQL primary on 55432 and a streaming replica on 55433 (pg_basebackup -R),
    synchronous (synchronous_standby_names = 'replica1', synchronous_commit = on);
  - PgBouncer on 56432 in front of the primary, transaction pooling;
  - two gunicorn nodes (127.0.0.1:18101, :18102) with DB_POOLER=pgbouncer and the replica
    as REPLICA_DATABASE_URL, and two `relais run_worker` through PgBouncer;
  - a "Patroni stand-in" thread: drops the synchronous standby while it is not streaming
    and puts it back when it is (what Patroni's synchronous_mode does; loop 0.5 s).
A booking load (API bookings, every other round a contested pair: the same slot through
both nodes at once) and a search probe (book the top slot of a request, then search again
through the other node, without and with the pin cookie) run through the faults:
  (a) replica stopped, then restarted;  (e) replica that lies (replay paused while its
  WAL receiver streams), then resumed;  (b) worker killed -9 (restarted 2 s later, as
  systemd's Restart=always);  (d) PgBouncer restarted;  (c) primary killed, replica
  promoted, PgBouncer repointed at it.
Reports double bookings, lost bookings (a 201 the final primary lacks), lost and duplicated
notifications (the SMS sink and the mail files carry each message's reference), failed
requests (count and statuses) and each fault's recovery time; exit status 1 on any
double booking, lost booking or lost/duplicated notification. Figures in
docs/operations.md "Failure drill (make test-deploy)".
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
BASE = Path("/tmp/relais-deploy-drill")
PRIMARY, REPLICA, BOUNCER = 55432, 55433, 56432
NODES = (18101, 18102)
DB = "relais_drill"
SINK = BASE / "sms"
STREAMING = (
    "SELECT count(*) FROM pg_stat_replication"
    " WHERE application_name = 'replica1' AND state = 'streaming'"
)


class SinkSmsBackend:
    """The SMS gateway of the drill: one JSON line per SMS (with its reference), 10 ms."""

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        from relais.notifications.backends import FileSmsBackend

        time.sleep(0.01)
        FileSmsBackend(str(SINK)).send(to=to, text=text, reference=reference)


# --- processes ----------------------------------------------------------------------------


def as_postgres(cmd: list[str]) -> list[str]:
    # initdb, postgres and pgbouncer refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg(*args, check=True):
    cmd = as_postgres([str(PG_BIN / args[0]), *map(str, args[1:])])
    # No pipes: a postmaster started by pg_ctl would inherit them and hold them open.
    return subprocess.run(
        cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300
    )


def pg_start(data: Path, port: int) -> None:
    pg("pg_ctl", "-D", data, "-l", BASE / f"pg-{port}.log", "-o",
       f"-p {port} -k {BASE} -c listen_addresses=127.0.0.1", "-w", "start")  # fmt: skip


def sql(port: int, query: str, dbname: str = DB, autocommit=True):
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname=dbname, connect_timeout=3,
        autocommit=autocommit,
    ) as conn:  # fmt: skip
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else None


def chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def setup_primary() -> Path:
    data = BASE / "primary"
    pg("initdb", "-D", data, "-U", "postgres", "--auth=trust")
    conf = (ROOT / "deploy/postgresql/primary.conf").read_text()
    with open(data / "postgresql.conf", "a") as handle:
        handle.write("\n# drill: deploy/postgresql/primary.conf\n" + conf)
        # No archive in the drill (item 4 is the backups' business).
        handle.write("\narchive_mode = off\nshared_buffers = 64MB\nmax_connections = 200\n")
        # No standby yet (migrate, seed): the SyncKeeper names it once it streams.
        handle.write("synchronous_standby_names = ''\n")
    pg_start(data, PRIMARY)
    sql(PRIMARY, f"CREATE DATABASE {DB}", dbname="postgres")
    return data


def setup_replica() -> Path:
    data = BASE / "replica"
    pg("pg_basebackup", "-D", data, "-R", "-X", "stream", "-c", "fast",
       "-d", f"host=127.0.0.1 port={PRIMARY} user=postgres application_name=replica1")  # fmt: skip
    conf = (ROOT / "deploy/postgresql/replica.conf").read_text()
    with open(data / "postgresql.conf", "a") as handle:
        handle.write("\n# drill: deploy/postgresql/replica.conf\n" + conf)
    with open(data / "postgresql.auto.conf", "a") as handle:  # after pg_basebackup -R's line
        handle.write(f"primary_conninfo = 'host=127.0.0.1 port={PRIMARY} user=postgres"
                     " application_name=replica1'\n")  # fmt: skip
    pg_start(data, REPLICA)
    return data


def write_bouncer(port: int) -> None:
    ini = (ROOT / "deploy/pgbouncer/pgbouncer.ini").read_text()
    ini = ini.replace("${DB_HOST}", "127.0.0.1").replace("${DB_PORT}", str(port))
    ini = ini.replace("${DB_NAME}", DB)
    ini += (
        f"\n; drill overrides\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {BOUNCER}\n"
        f"auth_type = trust\nauth_file = {BASE}/userlist.txt\nunix_socket_dir = {BASE}\n"
        f"pidfile = {BASE}/pgbouncer.pid\nlogfile = {BASE}/pgbouncer.log\n"
        "admin_users = postgres\n"
    )
    (BASE / "pgbouncer.ini").write_text(ini)
    (BASE / "userlist.txt").write_text('"postgres" ""\n')
    for name in ("pgbouncer.ini", "userlist.txt"):
        chown(BASE / name)


def bouncer_start() -> subprocess.Popen:
    proc = subprocess.Popen(
        as_postgres(["/usr/sbin/pgbouncer", str(BASE / "pgbouncer.ini")]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(lambda: _answers(BOUNCER), 20)
    return proc


def bouncer_stop(proc: subprocess.Popen) -> None:
    """SIGTERM: PgBouncer's immediate shutdown (clients cut mid-transaction). To the
    process in its pidfile: runuser does not forward the signal."""
    pidfile = BASE / "pgbouncer.pid"
    try:
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
    except (OSError, ValueError):
        proc.terminate()
    proc.wait(timeout=30)
    wait_for(lambda: not pidfile.exists(), 10, 0.1)


def _answers(port: int) -> bool:
    try:
        sql(port, "SELECT 1")
        return True
    except Exception:
        return False


def env(extra: dict | None = None) -> dict:
    e = dict(os.environ)
    e.update(
        DJANGO_SETTINGS_MODULE="relais.settings",
        PYTHONPATH=f"{ROOT / 'scripts'}:{ROOT}",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{BOUNCER}/{DB}",
        DB_POOLER="pgbouncer",
        DB_CONN_MAX_AGE="60",
        REPLICA_DATABASE_URL=f"postgres://postgres@127.0.0.1:{REPLICA}/{DB}",
        RELAIS_REPLICA_MAX_LAG_SECONDS="2",
        RELAIS_REPLICA_CHECK_SECONDS="1",
        RELAIS_REPLICA_CONNECT_TIMEOUT="1",
        RELAIS_VAR_DIR=str(BASE / "var"),
        SECRET_KEY="drill-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SMS_BACKEND="drill_deploy.SinkSmsBackend",
        RELAIS_API_RATE_LIMIT="10000000",
        RELAIS_TASK_LEASE_SECONDS="5",
        RELAIS_SWEEP_SECONDS="2",
        LOG_LEVEL="WARNING",
    )
    e.update(extra or {})
    return e


def relais(*args, extra=None, capture=False):
    return subprocess.run(
        [str(ROOT / ".venv/bin/relais"), *args], env=env(extra), check=True, timeout=1800,
        capture_output=capture, text=True,
    )  # fmt: skip


def node(port: int) -> subprocess.Popen:
    log = open(BASE / f"node-{port}.log", "w")  # noqa: SIM115 - the process's own log
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "relais.wsgi", "-k", "gthread", "-w", "2",
         "--threads", "4", "-b", f"127.0.0.1:{port}", "--timeout", "60",
         "--control-socket", str(BASE / f"gunicorn-{port}.ctl")],
        env=env(), stdout=log, stderr=log, cwd=ROOT,
    )  # fmt: skip


def worker(n: int) -> subprocess.Popen:
    log = open(BASE / f"worker-{n}.log", "a")  # noqa: SIM115
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/relais"), "run_worker", "--worker-id", f"drill-{n}",
         "--interval", "0.2", "--no-startup-delay", "--heartbeat", "1", "--max-backoff", "2"],
        env=env(), stdout=log, stderr=log,
    )  # fmt: skip


def wait_for(predicate, timeout: float, step: float = 0.3) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except Exception:  # noqa: S110 - not yet
            pass
        time.sleep(step)
    return False


def http_call(port: int, method: str, path: str, token: str, body=None, cookie=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=headers)  # fmt: skip
        response = conn.getresponse()
        data = response.read()
        return response.status, data, response.getheader("Set-Cookie")
    finally:
        conn.close()


# --- the Patroni stand-in -----------------------------------------------------------------


class SyncKeeper(threading.Thread):
    """Synchronous standby only while it streams (Patroni synchronous_mode, not strict)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.port = PRIMARY
        self.stop = threading.Event()
        self.changes: list[tuple[float, str]] = []

    def run(self):
        while not self.stop.wait(0.5):
            try:
                streaming = sql(self.port, STREAMING)[0][0]
                current = sql(self.port, "SHOW synchronous_standby_names")[0][0]
                wanted = "replica1" if streaming else ""
                if current != wanted:
                    sql(self.port, f"ALTER SYSTEM SET synchronous_standby_names = '{wanted}'")
                    sql(self.port, "SELECT pg_reload_conf()")
                    self.changes.append((time.monotonic(), wanted or "none"))
            except Exception:  # noqa: S110 - the primary is down: nothing to keep
                pass


# --- load ---------------------------------------------------------------------------------


class Load:
    def __init__(self, token: str, rounds: list, clients: int):
        self.token = token
        self.rounds = rounds
        self.lock = threading.Lock()
        self.events: list[tuple[float, float, int, str]] = []  # start, end, node, status
        self.created: list[str] = []  # booking ids answered 201
        self.stop = threading.Event()
        self.clients = clients

    def _attempt(self, port: int, body: dict, key: str) -> None:
        start = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/api/v1/bookings", body=json.dumps(body), headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                "Idempotency-Key": key})  # fmt: skip
            response = conn.getresponse()
            data = response.read()
            conn.close()
            status = str(response.status)
            if response.status == 201:
                with self.lock:
                    self.created.append(json.loads(data)["id"])
        except Exception as exc:
            status = type(exc).__name__
        with self.lock:
            self.events.append((start, time.monotonic(), port, status))

    def _client(self, index: int) -> None:
        while not self.stop.is_set():
            with self.lock:
                if not self.rounds:
                    return
                pair = self.rounds.pop()
            threads = [
                threading.Thread(target=self._attempt, args=(NODES[i % 2], body, f"d-{key}"))
                for i, (body, key) in enumerate(pair)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(random.uniform(0.02, 0.1))  # noqa: S311

    def start(self):
        self.threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True)
            for i in range(self.clients)
        ]
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)


class SearchProbe(threading.Thread):
    """Book the top slot of a probe request, then search that request again through the
    other node: without the pin cookie (a stale answer still lists the booked slot) and
    with it (reads-your-writes: never stale)."""

    def __init__(self, token: str, probe_requests: list, spare_requests: list):
        super().__init__(daemon=True)
        self.token = token
        self.probes = probe_requests
        self.spare = spare_requests
        self.stop = threading.Event()
        self.samples: list[tuple[float, bool, bool, str]] = []  # t, stale, stale_pinned, err

    def run(self):
        i = 0
        while not self.stop.wait(0.4) and self.spare:
            probe = self.probes[i % len(self.probes)]
            i += 1
            a, b = NODES[i % 2], NODES[(i + 1) % 2]
            try:
                status, data, _ = http_call(a, "GET", f"/api/v1/requests/{probe}/slots", self.token)
                if status != 200 or not json.loads(data):
                    self.samples.append((time.monotonic(), False, False, f"search {status}"))
                    continue
                top = json.loads(data)[0]["id"]
                body = {"request": self.spare.pop(), "slot": top}
                status, _, cookie = http_call(a, "POST", "/api/v1/bookings", self.token, body)
                if status != 201:
                    self.samples.append((time.monotonic(), False, False, f"book {status}"))
                    continue
                now = time.monotonic()
                path = f"/api/v1/requests/{probe}/slots"
                s1, plain, _ = http_call(b, "GET", path, self.token)
                pin = cookie.split(";")[0] if cookie else None
                s2, pinned, _ = http_call(b, "GET", path, self.token, cookie=pin)
                if s1 != 200 or s2 != 200:
                    self.samples.append((now, False, False, f"search {s1}/{s2}"))
                    continue
                ids = lambda raw: {s["id"] for s in json.loads(raw)}  # noqa: E731
                self.samples.append((now, top in ids(plain), top in ids(pinned), ""))
            except Exception as exc:
                self.samples.append((time.monotonic(), False, False, type(exc).__name__))


# --- the drill ----------------------------------------------------------------------------


def seed(n_rounds: int):
    direct = {"DB_POOLER": "", "REPLICA_DATABASE_URL": "",
              "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PRIMARY}/{DB}"}  # fmt: skip
    relais("migrate", "-v0", extra=direct)
    relais("generate", "--departements", "91", "--professionals", "1000", "--days", "3",
           "--requests", str(6 * n_rounds), "--open-requests", str(4 * n_rounds + 400),
           "--seed", "7", extra=direct)  # fmt: skip
    out = relais("shell", "-c", "from relais.accounts.services import api_client_create; "
                 "c, t = api_client_create(name='drill', scopes=['appointments:write',"
                 " 'requests:read', 'slots:read']); print(t)",
                 capture=True, extra=direct)  # fmt: skip
    token = out.stdout.strip().splitlines()[-1]
    requests = [r[0] for r in sql(PRIMARY, "SELECT public_id::text FROM regulation_request"
                                  " WHERE status = 'open' ORDER BY random()")]  # fmt: skip
    slots = [s[0] for s in sql(PRIMARY, "SELECT public_id::text FROM agenda_slot WHERE"
                               " status = 'free' AND start > now() + interval '2 hours'"
                               " ORDER BY random()")]  # fmt: skip
    return token, requests, slots


def make_rounds(requests: list, slots: list, count: int) -> list:
    rounds = []
    for i in range(count):
        if len(requests) < 2 or len(slots) < 2:
            break
        ra, rb = requests.pop(), requests.pop()
        sa = slots.pop()
        sb = sa if i % 2 == 0 else slots.pop()  # every other round: contested
        rounds.append(
            [({"request": ra, "slot": sa}, f"{i}a"), ({"request": rb, "slot": sb}, f"{i}b")]
        )
    return rounds


VERDICT = (
    "from relais.core.db_routing import health; v = health.verdict();"
    " print(v.healthy, '|', v.reason, '|', v.lag_bytes)"
)


def verdict_now(primary_port: int) -> str:
    """The router's own health check, run once against the real clusters (a process of
    its own: its first check is not cached)."""
    extra = {"DB_POOLER": "", "DATABASE_URL": f"postgres://postgres@127.0.0.1:{primary_port}/{DB}"}
    try:
        out = relais("shell", "-c", VERDICT, extra=extra, capture=True)
        return out.stdout.strip().splitlines()[-1]
    except subprocess.CalledProcessError as exc:
        return f"error: {exc.stderr.strip().splitlines()[-1:]}"


def replica_returned() -> int | None:
    """Rows the replica's queries returned so far (pg_stat_database, on the standby):
    the reads it served, plus a row per health check."""
    try:
        query = "SELECT tup_returned FROM pg_stat_database WHERE datname = current_database()"
        return sql(REPLICA, query)[0][0]
    except Exception:
        return None


def window_figures(load: Load, t0: float, t1: float) -> dict:
    # An attempt belongs to the window in which its answer came.
    events = [e for e in load.events if t0 <= e[1] < t1]
    failed = [e for e in events if e[3] not in ("201", "409")]
    recovery = 0.0
    if failed:
        last_failure = max(e[1] for e in failed)
        after = [e[1] for e in events if e[3] in ("201", "409") and e[1] > last_failure]
        recovery = (min(after) if after else t1) - t0
    slow = max((e[1] - e[0] for e in events), default=0.0)
    ok_after = [e for e in events if e[3] == "201" and e[0] >= t0]
    return {
        "attempts": len(events),
        "failed": len(failed),
        "failed_statuses": dict(Counter(e[3] for e in failed)),
        "recovery_s": round(recovery, 2),
        "slowest_answer_s": round(slow, 2),
        # From the fault: the last failed answer, and the first booking sent after the
        # fault that was accepted (when it was sent, when it was answered).
        "last_failure_s": round(max(e[1] for e in failed) - t0, 2) if failed else None,
        "first_201_sent_s": round(min(e[0] for e in ok_after) - t0, 2) if ok_after else None,
        "first_201_answered_s": round(min(e[1] for e in ok_after) - t0, 2) if ok_after else None,
    }


def main() -> int:  # noqa: PLR0915 - one drill, read top to bottom
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20, help="load around each fault")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="leave the clusters running")
    parser.add_argument("--json", default="", help="also write the report there")
    args = parser.parse_args()
    if not Path("/usr/sbin/pgbouncer").exists():
        print("pgbouncer missing: apt-get install -y pgbouncer")
        return 2
    cleanup_old()
    BASE.mkdir(parents=True)
    chown(BASE)
    (BASE / "var").mkdir()
    started = time.monotonic()
    procs: dict = {}
    report: dict = {"faults": {}}
    try:
        setup_primary()
        n_rounds = int(args.clients * args.seconds * 30)
        token, requests, slots = seed(n_rounds)
        setup_replica()
        keeper = SyncKeeper()
        keeper.start()
        write_bouncer(PRIMARY)
        procs["bouncer"] = bouncer_start()
        procs["nodes"] = [node(p) for p in NODES]
        procs["workers"] = {1: worker(1), 2: worker(2)}
        for p in NODES:
            if not wait_for(lambda p=p: http_call(p, "GET", "/api/v1/health", "")[0] == 200, 90):
                raise RuntimeError(f"node {p} did not start (see {BASE}/node-{p}.log)")
        report["setup_s"] = round(time.monotonic() - started, 1)
        probes = requests[:5]
        spare = requests[5:400]
        load = Load(token, make_rounds(requests[400:], slots, n_rounds), args.clients)
        search = SearchProbe(token, probes, spare)
        load.start()
        search.start()
        s = args.seconds
        marks: list = []
        replica_rows: dict = {}  # the replica's tup_returned at each window's start

        def mark(name: str) -> None:
            replica_rows[name] = replica_returned()
            marks.append((name, time.monotonic()))

        mark("baseline")
        time.sleep(s / 2)

        mark("a: replica stopped and restarted")
        pg("pg_ctl", "-D", BASE / "replica", "-m", "fast", "-w", "stop")
        time.sleep(s / 2)
        pg_start(BASE / "replica", REPLICA)
        time.sleep(s / 2)

        verdicts = {"before pause": verdict_now(PRIMARY)}
        mark("e: replica lies (replay paused, receiver streaming)")
        sql(REPLICA, "SELECT pg_wal_replay_pause()")
        time.sleep(s / 4)
        verdicts["replay paused"] = verdict_now(PRIMARY)
        time.sleep(s / 4)
        receiver = sql(REPLICA, "SELECT status FROM pg_stat_wal_receiver")
        report["lying_replica_receiver_status"] = receiver[0][0] if receiver else None
        mark("e2: replay resumed")
        sql(REPLICA, "SELECT pg_wal_replay_resume()")
        time.sleep(s / 2)
        verdicts["replay resumed"] = verdict_now(PRIMARY)
        report["router_verdicts_on_the_real_replica"] = verdicts

        mark("b: worker killed -9 (restarted after 2 s)")
        os.kill(procs["workers"][1].pid, signal.SIGKILL)
        procs["workers"][1].wait()
        time.sleep(2)
        procs["workers"][1] = worker(1)
        time.sleep(s / 2)

        mark("d: PgBouncer restarted")
        bouncer_stop(procs["bouncer"])
        procs["bouncer"] = bouncer_start()
        time.sleep(s / 2)

        mark("c: primary killed, replica promoted, PgBouncer repointed")
        t_kill = time.monotonic()
        keeper.stop.set()
        pg("pg_ctl", "-D", BASE / "primary", "-m", "immediate", "-w", "stop")
        pg("pg_ctl", "-D", BASE / "replica", "-w", "promote")
        write_bouncer(REPLICA)
        sql(BOUNCER, "RELOAD", dbname="pgbouncer")
        # Close the server connections of the old primary as they are released (idle
        # ones at once): without it, clients queued for up to query_wait_timeout.
        sql(BOUNCER, f"RECONNECT {DB}", dbname="pgbouncer")
        report["promotion_s"] = round(time.monotonic() - t_kill, 2)
        time.sleep(s)
        mark("end")
        load.join()
        search.stop.set()
        search.join(timeout=30)

        # Deliveries finish, then the figures on the new primary.
        wait_for(lambda: sql(REPLICA, "SELECT count(*) FROM notifications_notification WHERE"
                             " status IN ('pending', 'sending')")[0][0] == 0, 120, 1)  # fmt: skip
        time.sleep(6)  # a lease + a sweep for a message left 'sending' by the kill
        report["resent_after_kill"] = resend_uncertain()
        names_next = {a[0]: b[0] for a, b in zip(marks, marks[1:], strict=False)}
        for (name, t0), (_, t1) in zip(marks, marks[1:], strict=False):
            figures = window_figures(load, t0, t1)
            stale = [x for x in search.samples if t0 <= x[0] < t1 and not x[3]]
            figures["search_probes"] = len(stale)
            figures["stale_without_cookie"] = sum(1 for x in stale if x[1])
            figures["stale_with_cookie"] = sum(1 for x in stale if x[2])
            figures["search_errors"] = dict(Counter(x[3] for x in search.samples
                                                    if t0 <= x[0] < t1 and x[3]))  # fmt: skip
            r0, r1 = replica_rows.get(name), replica_rows.get(names_next[name])
            figures["replica_rows_returned"] = (
                r1 - r0 if r0 is not None and r1 is not None else None
            )
            report["faults"][name] = figures
        report["sync_standby_changes"] = [(round(t - started, 1), w) for t, w in keeper.changes]
        report.update(final_checks(load))
        report["stale_with_cookie_total"] = sum(
            f["stale_with_cookie"] for f in report["faults"].values()
        )
        report["statuses"] = dict(Counter(e[3] for e in load.events))
        report["total_s"] = round(time.monotonic() - started, 1)
        with open(BASE / "events.jsonl", "w") as handle:  # every attempt, for a closer look
            for e in sorted(load.events):
                handle.write(json.dumps([round(e[0] - started, 3), round(e[1] - started, 3),
                                         e[2], e[3]]) + "\n")  # fmt: skip
            for name, t in marks:
                handle.write(json.dumps(["mark", round(t - started, 3), name]) + "\n")
    finally:
        for w in (procs.get("workers") or {}).values():
            w.send_signal(signal.SIGTERM)
        for p in procs.get("nodes") or []:
            p.send_signal(signal.SIGTERM)
        for p in [*(procs.get("workers") or {}).values(), *(procs.get("nodes") or [])]:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if procs.get("bouncer"):
            bouncer_stop(procs["bouncer"])
        if not args.keep:
            for d in ("primary", "replica"):
                pg("pg_ctl", "-D", BASE / d, "-m", "fast", "-w", "stop", check=False)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    bad = (report.get("double_bookings", 1) or report.get("lost_bookings", 1)
           or report.get("failed_left", 1)
           or report.get("lost_notifications", 1) or report.get("duplicated_notifications", 1)
           or report.get("stale_with_cookie_total", 1))  # fmt: skip
    print("FAIL" if bad else "OK")
    return 1 if bad else 0


RESEND = (
    "import sys; from relais.notifications.models import Notification;"
    " from relais.notifications.services import notification_resend;"
    " from django.contrib.auth import get_user_model;"
    " admin, _ = get_user_model().objects.get_or_create(username='drill-coordinator');"
    " refs = set(sys.stdin.read().split());"
    " todo = [n for n in Notification.objects.filter(status='failed')"
    " if str(n.public_id) not in refs];"
    " [notification_resend(notification=n, user=admin) for n in todo]; print(len(todo))"
)


def gateway_refs() -> Counter:
    refs = Counter()
    for path in SINK.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            refs[json.loads(line)["reference"]] += 1
    for path in (BASE / "var" / "mail").glob("*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("X-Relais-Reference:"):
                refs[line.split(":", 1)[1].strip()] += 1
    return refs


def resend_uncertain() -> int:
    """A coordinator's "Renvoyer" for the messages failed as uncertain by the kill that
    the gateway's log lacks (docs/operations.md, Worker supervision), then delivery."""
    extra = {"DB_POOLER": "", "DATABASE_URL": f"postgres://postgres@127.0.0.1:{REPLICA}/{DB}"}
    out = subprocess.run(
        [str(ROOT / ".venv/bin/relais"), "shell", "-c", RESEND], env=env(extra),
        input="\n".join(gateway_refs()), capture_output=True, text=True, check=False,
        timeout=600,
    )  # fmt: skip
    if out.returncode:
        print("resend failed:", out.stderr.strip().splitlines()[-3:])
        return -1
    wait_for(lambda: sql(REPLICA, "SELECT count(*) FROM notifications_notification WHERE"
                         " status IN ('pending', 'sending')")[0][0] == 0, 120, 1)  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1])


def final_checks(load: Load) -> dict:
    port = REPLICA  # the new primary
    doubles = sql(port, "SELECT count(*) FROM (SELECT slot_id FROM orientation_booking WHERE"
                  " status IN ('booked','fulfilled','noshow') GROUP BY slot_id HAVING count(*) > 1)"
                  " x")[0][0]  # fmt: skip
    requests_twice = sql(port, "SELECT count(*) FROM (SELECT request_id FROM orientation_booking"
                         " WHERE status = 'booked' GROUP BY request_id HAVING count(*) > 1)"
                         " x")[0][0]  # fmt: skip
    present = {r[0] for r in sql(port, "SELECT public_id::text FROM orientation_booking")}
    lost = [b for b in load.created if b not in present]
    rows = sql(port, "SELECT public_id::text, channel, status FROM notifications_notification")
    refs = gateway_refs()
    statuses = Counter(r[2] for r in rows)
    sent = [r for r in rows if r[2] == "sent"]
    lost_n = [r for r in sent if refs[r[0]] == 0]
    dup = [r for r in rows if refs[r[0]] > 1]
    uncertain = [r for r in rows if r[2] == "failed"]
    return {
        "bookings_answered_201": len(load.created),
        "double_bookings": doubles + requests_twice,
        "lost_bookings": len(lost),
        "notifications": len(rows),
        "notification_statuses": dict(statuses),
        "lost_notifications": len(lost_n),
        "duplicated_notifications": len(dup),
        "failed_left": len(uncertain),
        "uncertain_in_gateway_log": sum(1 for r in uncertain if refs[r[0]]),
    }


def cleanup_old() -> None:
    if not BASE.exists():
        return
    for d in ("primary", "replica"):
        if (BASE / d / "postmaster.pid").exists():
            pg("pg_ctl", "-D", BASE / d, "-m", "immediate", "-w", "stop", check=False)
    pid = BASE / "pgbouncer.pid"
    if pid.exists():
        try:
            os.kill(int(pid.read_text().split()[0]), signal.SIGTERM)
            time.sleep(1)
        except (ProcessLookupError, ValueError):
            pass
    shutil.rmtree(BASE)


if __name__ == "__main__":
    sys.exit(main())
