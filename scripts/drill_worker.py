# ruff: noqa: S108, S603 - a drill: fixed throwaway paths under /tmp, our own PostgreSQL tools
"""Fault drills of the task system, against a THROWAWAY PostgreSQL cluster of its own.

    .venv/bin/python scripts/drill_worker.py [--n 300] [--port 5479]

Starts its own cluster (initdb in /tmp/relais-drill-pg, port --port; never the shared
server), migrates a fresh database, then:
  (a) N messages, the worker killed with -9 mid-delivery, restarted (same worker id, as
      systemd does): delivered == expected, no duplicates;
  (b) N messages, PostgreSQL restarted under the running worker: the worker survives
      (same pid) and delivers all;
  (c) gateway down (the SMS backend fails while a flag file exists): the messages fail
      for good (they are created at their last attempt, to skip the minutes of backoff),
      are counted as failed; gateway back, "Renvoyer" (notification_resend) delivers them.
Prints expected vs delivered for each. The SMS sink is the file backend (one JSON line per
SMS, with the message's reference), slowed down so a kill lands mid-delivery.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATA = Path("/tmp/relais-drill-pg")
SINK = Path("/tmp/relais-drill-sms")
FLAG = Path("/tmp/relais-drill-gateway-down")


class SlowFileSmsBackend:
    """File backend, 20 ms per SMS, failing while FLAG exists (gateway down)."""

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        from relais.notifications.backends import FileSmsBackend, SmsError

        if FLAG.exists():
            raise SmsError("gateway down (drill)")
        time.sleep(float(os.environ.get("DRILL_SMS_DELAY", "0.02")))
        FileSmsBackend(str(SINK)).send(to=to, text=text, reference=reference)


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: run its tools as the postgres user then.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg(*args):
    cmd = _as_postgres([str(PG_BIN / args[0]), *args[1:]])
    # No pipes: a postmaster started by pg_ctl would inherit them and hold them open.
    return subprocess.run(
        cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120
    )


def start_cluster(port: int) -> None:
    if DATA.exists():
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(DATA), "stop", "-m",
                       "immediate"]), capture_output=True)  # fmt: skip
        shutil.rmtree(DATA)
    pg("initdb", "-D", str(DATA), "-U", "postgres", "--auth=trust")
    pg("pg_ctl", "-D", str(DATA), "-l", "/tmp/relais-drill-pg.log", "-o",
       f"-p {port} -k /tmp -c listen_addresses=127.0.0.1", "-w", "start")  # fmt: skip


def env(port: int) -> dict:
    e = dict(os.environ)
    e.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/relais_drill",
        SMS_BACKEND="drill_worker.SlowFileSmsBackend",
        PYTHONPATH=f"{ROOT / 'scripts'}:{ROOT}",
        RELAIS_TASK_LEASE_SECONDS="5",
        RELAIS_SWEEP_SECONDS="2",
        DJANGO_SETTINGS_MODULE="relais.settings",
    )
    return e


def worker(port: int):
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/relais"), "run_worker", "--worker-id", "drill-1",
         "--interval", "0.2", "--no-startup-delay", "--heartbeat", "1", "--max-backoff", "2"],
        env=env(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def sink() -> list[str]:
    refs = []
    for path in SINK.glob("*.jsonl"):
        refs += [json.loads(line)["reference"] for line in path.read_text().splitlines()]
    return refs


def db_counts():
    from relais.notifications.models import Notification

    rows = Notification.objects.values_list("status", flat=True)
    counts: dict[str, int] = {}
    for status in rows:
        counts[status] = counts.get(status, 0) + 1
    return counts


def enqueue(n: int, tag: str, attempts: int = 0) -> set[str]:
    from relais.notifications.models import Notification
    from relais.notifications.services import notifications_create

    refs = set()
    for start in range(0, n, 10):
        created = notifications_create(
            [
                {"kind": tag, "channel": "sms", "recipient": f"0639{i:06d}", "body": f"{tag} {i}"}
                for i in range(start, min(start + 10, n))
            ]
        )
        refs |= {str(c.public_id) for c in created}
        if attempts:
            Notification.objects.filter(pk__in=[c.pk for c in created]).update(attempts=attempts)
    return refs


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def report(name: str, expected: set[str], extra: str = "") -> bool:
    got = [r for r in sink() if r in expected]
    delivered, duplicates = len(set(got)), len(got) - len(set(got))
    ok = delivered == len(expected) and duplicates == 0
    print(f"[{name}] expected {len(expected)}, delivered {delivered}, duplicates {duplicates}"
          f"{extra} -> {'OK' if ok else 'FAIL'}")  # fmt: skip
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--port", type=int, default=5479)
    args = parser.parse_args()
    shutil.rmtree(SINK, ignore_errors=True)
    FLAG.unlink(missing_ok=True)
    start_cluster(args.port)
    pg("createdb", "-h", "/tmp", "-p", str(args.port), "-U", "postgres", "relais_drill")
    os.environ.update(env(args.port))
    sys.path[:0] = [str(ROOT / "scripts"), str(ROOT)]
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from relais.notifications.models import Notification
    from relais.notifications.services import notification_resend

    admin = get_user_model().objects.create(username="drill-admin")  # the coordinator
    results = []
    try:
        # (a) kill -9 mid-delivery
        refs = enqueue(args.n, "drill_a")
        w = worker(args.port)
        wait_for(lambda: len(sink()) >= args.n // 3, 120)
        os.kill(w.pid, signal.SIGKILL)
        w.wait()
        connection.close()
        at_kill = len(sink())
        w = worker(args.port)
        wait_for(
            lambda: (
                not Notification.objects.filter(
                    kind="drill_a", status__in=["pending", "sending"]
                ).exists()
            ),
            120,
        )  # noqa: E501
        time.sleep(7)  # one lease + sweep for a message left "sending"
        uncertain = list(Notification.objects.filter(kind="drill_a", status="failed"))
        in_sink = set(sink())
        # A coordinator re-sends the interrupted ones that the gateway log shows missing.
        for n in uncertain:
            if str(n.public_id) not in in_sink:
                notification_resend(notification=n, user=admin)
        wait_for(
            lambda: (
                not Notification.objects.filter(
                    kind="drill_a", status__in=["pending", "sending"]
                ).exists()
            ),
            60,
        )  # noqa: E501
        results.append(report("a: kill -9", refs,
                              f" (killed after {at_kill} sent; {len(uncertain)} left 'sending'"
                              " by the kill, marked failed, resent if missing)"))  # fmt: skip
        # (b) PostgreSQL restarted under the running worker
        refs = enqueue(args.n, "drill_b")
        wait_for(lambda: len(sink()) >= args.n + args.n // 3, 120)
        connection.close()
        started = time.monotonic()
        pg("pg_ctl", "-D", str(DATA), "-l", "/tmp/relais-drill-pg.log", "-m", "fast", "-w",
           "restart")  # fmt: skip
        restart_s = time.monotonic() - started
        alive = w.poll() is None
        wait_for(
            lambda: (
                not Notification.objects.filter(
                    kind="drill_b", status__in=["pending", "sending"]
                ).exists()
            ),
            120,
        )  # noqa: E501
        failed_b = Notification.objects.filter(kind="drill_b", status="failed").count()
        alive = alive and w.poll() is None
        results.append(report("b: PostgreSQL restart", refs,
                              f" (restart {restart_s:.1f} s; worker alive after: {alive};"
                              f" failed {failed_b})"))  # fmt: skip
        # (c) gateway down, then back
        FLAG.touch()
        refs = enqueue(args.n // 3, "drill_c", attempts=4)  # next failure is the 5th, final
        wait_for(
            lambda: (
                Notification.objects.filter(kind="drill_c", status="failed").count() == len(refs)
            ),
            120,
        )  # noqa: E501
        failed_c = Notification.objects.filter(kind="drill_c", status="failed").count()
        from relais.notifications.selectors import health_status

        _, health = health_status()
        FLAG.unlink()
        for n in Notification.objects.filter(kind="drill_c", status="failed"):
            notification_resend(notification=n, user=admin)
        wait_for(
            lambda: not Notification.objects.filter(kind="drill_c").exclude(status="sent").exists(),
            120,
        )  # noqa: E501
        results.append(report("c: gateway down then back", refs,
                              f" (failed for good while down: {failed_c}; /healthz"
                              f" failed_for_good={health.get('failed_for_good')})"))  # fmt: skip
        print("status counts:", db_counts())
        w.send_signal(signal.SIGTERM)
        w.wait(timeout=30)
    finally:
        connection.close()
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(DATA), "stop", "-m",
                       "fast"]), capture_output=True)  # fmt: skip
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
