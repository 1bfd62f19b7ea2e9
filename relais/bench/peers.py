"""The peers side by side (`relais bench --peers`, `make bench PEERS=1`), Django-free.

Each peer is installed by the bench from PyPI into its own venv under var/peers/<key>/
(nothing of its code is in this repository; only the small harness files of
relais/bench/peer_sites/ are copied beside it), gets its own database on the same
PostgreSQL (relais_bench_peer_<key>, recreated each time), is served by gunicorn on the same
machine, and is driven by the same load generator as Relais' bookings
(`http.racing_posts`: pairs of clients released together by a barrier; contested loads
have one attempt in four losing a true race). Each run is wrapped in a quiet.Meter (CPU of
its web server, of its database's backends, and of other processes). Double bookings =
bookings confirmed to a client − slots actually taken, counted by SQL after each run.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from relais.bench import http, quiet

HOST = "127.0.0.1"
SITES = Path(__file__).parent / "peer_sites"
INSTALL_TIMEOUT = 900  # seconds: beyond that, "cannot be installed here in reasonable time"


class PeerError(Exception):
    pass


def _json(output: str):
    """The last line of a harness' output that is JSON (libraries may log to stdout)."""
    for line in reversed(output.splitlines()):
        if line.startswith(("{", "[")):
            return json.loads(line)
    raise PeerError(f"no JSON in the harness' output: {output[-500:]}")


def _run(argv, *, env=None, cwd=None, timeout=600) -> str:
    done = subprocess.run(  # noqa: S603 - fixed argv of our own
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode:
        raise PeerError(f"{' '.join(map(str, argv[:3]))}…: {done.stderr[-1500:]}")
    return done.stdout


class Peer:
    key = ""
    title = ""
    packages: list[str] = []
    site = ""
    port = 0
    description = ""

    def __init__(self, base: Path, admin_url: str, log):
        self.dir = base / self.key
        self.venv = self.dir / "venv"
        self.admin_url = admin_url
        self.log = log
        self.database = f"relais_bench_peer_{self.key.replace('-', '_')}"
        self.server = None

    # -- install ----------------------------------------------------------------------------
    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def install(self) -> str:
        began = time.perf_counter()
        if not (self.venv / "bin" / "python").exists():
            _run([sys.executable, "-m", "venv", str(self.venv)], timeout=120)
        _run(
            [self.bin("pip"), "install", "--quiet", *self.packages],
            timeout=INSTALL_TIMEOUT,
        )
        seconds = time.perf_counter() - began
        versions = _run([self.bin("pip"), "freeze"], timeout=60)
        wanted = {p.split("[")[0].split("=")[0].lower().replace("_", "-") for p in self.packages}
        pinned = [
            line
            for line in versions.splitlines()
            if line.split("==")[0].lower().replace("_", "-") in wanted
        ]
        shutil.copy(SITES / self.site, self.dir / self.site)
        return (
            f"Installed from PyPI in {seconds:.0f} s into `var/peers/{self.key}/venv` "
            f"({', '.join(pinned)})."
        )

    # -- database ---------------------------------------------------------------------------
    def db_url(self) -> str:
        return urlunsplit(urlsplit(self.admin_url)._replace(path=f"/{self.database}"))

    def recreate_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [self.database],
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def clone_database(self, source: str, target: str) -> None:
        """`target` recreated as a copy of `source` (CREATE DATABASE … TEMPLATE)."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (%s, %s)",
                [source, target],
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{target}"')
            conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')

    def database_exists(self, name: str) -> bool:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return found.fetchone() is not None

    def env(self) -> dict:
        return {**os.environ, "PEER_DB": self.database, "PYTHONWARNINGS": "ignore"}

    def python(self, *args, timeout=900) -> str:
        return _run(
            [self.bin("python"), self.site, *args], env=self.env(), cwd=self.dir, timeout=timeout
        )

    # -- server -----------------------------------------------------------------------------
    def start(self, workers: int, threads: int) -> None:
        log = open(self.dir / "gunicorn.log", "ab")  # noqa: SIM115 - lives with the server
        module = self.site.removesuffix(".py")
        self.server = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                self.bin("gunicorn"),
                f"{module}:application",
                "--bind",
                f"{HOST}:{self.port}",
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
            env=self.env(),
            cwd=str(self.dir),
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        http.wait_ready(HOST, self.port, "/ready", timeout=300)

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.terminate()
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
        self.server = None

    # -- to override ------------------------------------------------------------------------
    def prepare(self, slots_needed: int, quick: bool) -> dict:
        raise NotImplementedError

    def bodies(self, seed: dict, rounds: int, contested: bool, start: int) -> list:
        raise NotImplementedError

    def taken(self) -> int:
        """Slots taken in the database so far."""
        raise NotImplementedError


class DjangoAppointment(Peer):
    key = "django-appointment"
    title = "django-appointment (PyPI)"
    packages = ["django-appointment", "psycopg[binary]", "gunicorn"]
    site = "django_appointment_site.py"
    port = 18302
    description = (
        "A reusable Django app for appointment booking. Harness "
        "(`relais/bench/peer_sites/django_appointment_site.py`): `POST /book` does what the "
        "library's own flow does once a client has picked a time from its slot list — checks "
        "with the library's `get_appointments_for_date_and_time` that nothing overlaps that "
        "time for that staff member, saves its `AppointmentRequestForm`, then "
        "`create_and_save_appointment` (no e-mail, no payment). Staff members with 30-minute "
        "slots every other half-hour from 9:00 (the library's overlap check counts touching "
        "bounds: 9:00–9:30 would refuse 9:30–10:00); clients are existing users. The library "
        "takes no lock and has no unique constraint on a staff member's time."
    )

    def prepare(self, slots_needed: int, quick: bool) -> dict:
        self.python("migrate")
        days = 10
        staff = max(2, slots_needed // (9 * days) + 1)  # 9 slots a day (every other half-hour)
        return _json(self.python("seed", str(staff), str(days), "200"))

    def bodies(self, seed, rounds, contested, start):
        slots, clients = seed["slots"], seed["clients"]
        out, k = [], start
        for i in range(rounds):
            a = slots[k]
            b = a if contested and i % 2 == 0 else slots[k + 1]
            k += 1 if b is a else 2
            out.append(
                (
                    {**a, "email": clients[(2 * i) % len(clients)]},
                    {**b, "email": clients[(2 * i + 1) % len(clients)]},
                )
            )
        return out, k

    def taken(self) -> dict:
        import psycopg

        with psycopg.connect(self.db_url()) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT (r.staff_member_id, r.date, r.start_time))"
                " FROM appointment_appointment a"
                " JOIN appointment_appointmentrequest r ON r.id = a.appointment_request_id"
            ).fetchone()
        return {"confirmed": row[0], "taken": row[1]}


class GnuHealth(Peer):
    key = "gnuhealth"
    title = "GNU Health (PyPI `gnuhealth`, on Tryton): the correct free-slot flow"
    packages = ["gnuhealth", "psycopg2-binary", "psycopg[binary]", "gunicorn"]
    site = "gnuhealth_site.py"
    port = 18303
    description = (
        "GNU Health's appointments (`gnuhealth.appointment`) on trytond, the database created "
        "by `trytond-admin --all -u health`. Harness "
        "(`relais/bench/peer_sites/gnuhealth_site.py`, a WSGI function calling trytond's "
        "models): the centre publishes appointments in advance with state *free*; `POST "
        "/book` searches the appointment still free and writes the patient and state "
        "*confirmed* on it with `Appointment.write`, in one Tryton transaction (REPEATABLE "
        "READ); a serialization failure is retried as trytond's dispatcher does, then finds "
        "the appointment taken: 409. That is the correct flow (a plain read-then-write over "
        "two RPC calls would not be)."
    )

    def env(self) -> dict:
        return {**super().env(), "TRYTOND_CONFIG": str(self.dir / "trytond.conf")}

    def prepare(self, slots_needed: int, quick: bool) -> dict:
        parts = urlsplit(self.admin_url)
        (self.dir / "trytond.conf").write_text(
            "[database]\n"
            f"uri = postgresql://{parts.username or 'postgres'}@{parts.hostname}:"
            f"{parts.port or 5432}/\n"
            "retry = 5\n"
        )
        password = self.dir / "admin-password"
        password.write_text("bench-only\n")
        began = time.perf_counter()
        # Creating the database (trytond-admin --all -u health) takes minutes; its result is
        # kept as a template (relais_bench_peer_gnuhealth_tpl) that later runs copy.
        template = f"{self.database}_tpl"
        if self.database_exists(template):
            self.clone_database(template, self.database)
            self.init_note = (
                f" Its database was copied from `{template}` (made by `trytond-admin --all "
                f"-u health` on an earlier run) in {time.perf_counter() - began:.0f} s."
            )
        else:
            self._admin(password)
            self.init_note = (
                " Its database was created by `trytond-admin --all -u health` in "
                f"{time.perf_counter() - began:.0f} s (kept as `{template}` for later runs)."
            )
            self.clone_database(self.database, template)
        days = 10
        professionals = max(2, slots_needed // (18 * days) + 1)
        return _json(self.python("seed", str(professionals), str(days), "100"))

    def _admin(self, password: Path) -> None:
        _run(
            [
                self.bin("trytond-admin"),
                "-c",
                str(self.dir / "trytond.conf"),
                "-d",
                self.database,
                "--all",
                "-u",
                "health",
                "--activate-dependencies",
                "--email",
                "admin@example.org",
            ],
            env={**self.env(), "TRYTONPASSFILE": str(password)},
            cwd=self.dir,
            timeout=1800,
        )

    def bodies(self, seed, rounds, contested, start):
        slots, patients = seed["slots"], seed["patients"]
        out, k = [], start
        for i in range(rounds):
            a = slots[k]
            b = a if contested and i % 2 == 0 else slots[k + 1]
            k += 1 if b == a else 2
            out.append(
                (
                    {"appointment": a, "patient": patients[(2 * i) % len(patients)]},
                    {"appointment": b, "patient": patients[(2 * i + 1) % len(patients)]},
                )
            )
        return out, k

    def taken(self) -> dict:
        import psycopg

        with psycopg.connect(self.db_url()) as conn:
            taken = conn.execute(
                "SELECT count(*) FROM gnuhealth_appointment WHERE state = 'confirmed'"
            ).fetchone()[0]
        return {"confirmed": None, "taken": taken}


PEERS = (DjangoAppointment, GnuHealth)


def run_peer(peer: Peer, *, runs, duration, clients, quick, workers, threads, rate_guess=60):
    out = {"title": peer.title, "description": peer.description, "runs": []}
    try:
        out["install"] = peer.install()
    except (PeerError, subprocess.TimeoutExpired, OSError) as exc:
        out["why"] = f"could not be installed from PyPI here: {exc}"
        return out
    peer.log(f"{peer.key} : {out['install']}")
    configs = [(c, contested) for c in clients for contested in (False, True)]
    per_run = int(duration * rate_guess)
    try:
        peer.recreate_database()
        seed = peer.prepare(slots_needed=2 * per_run * len(configs) * runs + 100, quick=quick)
        out["install"] += getattr(peer, "init_note", "")
        peer.start(workers, threads)
    except (PeerError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        peer.stop()
        out["why"] = f"could not be set up: {exc}"
        return out
    import psycopg

    backends = quiet.pg_backends_query(lambda: psycopg.connect(peer.db_url()), peer.database)
    position = 0
    try:
        for clients_n, contested in configs:
            for _ in range(runs):
                available = (len(seed["slots"]) - position - 2) // 2
                rounds, _ = peer.bodies(seed, min(per_run, available), contested, position)
                if not rounds:
                    break
                before = peer.taken()
                with quiet.Meter(backends, web_root=peer.server.pid) as meter:
                    result = http.racing_posts(
                        HOST, peer.port, "", "/book", rounds, clients_n, duration
                    )
                _, position = peer.bodies(seed, result.rounds_done, contested, position)
                after = peer.taken()
                ok = result.statuses.get(201, 0)
                taken = after["taken"] - before["taken"]
                reading = meter.reading
                run = {
                    "clients": clients_n,
                    "contested": contested,
                    "attempts": sum(result.statuses.values()),
                    "statuses": dict(result.statuses),
                    "errors": result.errors,
                    "races": sum(1 for a, b in rounds[: result.rounds_done] if _same(a, b)),
                    "rate": ok / result.wall if result.wall else 0.0,
                    "refused": result.statuses.get(409, 0),
                    "double_bookings": max(0, ok - taken),
                    "cpu_ms": (reading.web + reading.pg_db) / ok * 1000 if ok else 0.0,
                    "web_ms": reading.web / ok * 1000 if ok else 0.0,
                    "pg_ms": reading.pg_db / ok * 1000 if ok else 0.0,
                    "meter": reading.as_dict(),
                }
                out["runs"].append(run)
                peer.log(
                    f"{peer.key} {clients_n} clients, {'contesté' if contested else 'sans course'}"
                    f" : {run['rate']:.0f} réservations/s, {run['double_bookings']} doubles, "
                    f"statuts {run['statuses']} ; autres processus "
                    f"{reading.quiet['others_share']:.0%}"
                )
    finally:
        peer.stop()
        backends.close()
    return out


def _same(a: dict, b: dict) -> bool:
    keys = set(a) - {"email", "patient"}
    return all(a.get(k) == b.get(k) for k in keys)


def run_all(
    *, base: Path, admin_url: str, runs, duration, clients, quick, log, workers=0, threads=2
):
    base.mkdir(parents=True, exist_ok=True)
    workers = workers or (os.cpu_count() or 1) + 1
    return {
        cls.key: run_peer(
            cls(base, admin_url, log),
            runs=runs,
            duration=duration,
            clients=clients,
            quick=quick,
            workers=workers,
            threads=threads,
        )
        for cls in PEERS
    }
