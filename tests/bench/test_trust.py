"""The benchmark's own logic (issue 22, item 4): statistics over repeated runs, the
quietness of the machine and PostgreSQL's CPU per database. Tests of the bench's logic,
not timed tests: nothing here measures a speed."""

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relais.bench import http, quiet, stats
from relais.bench.report import Report, quiet_cell


# -- median / min–max / verdict -----------------------------------------------------------
def test_spread_is_the_median_with_the_runs_min_and_max():
    s = stats.spread([30.0, 10.0, 20.0])
    assert (s["median"], s["min"], s["max"], s["runs"]) == (20.0, 10.0, 30.0, 3)
    assert stats.spread([4.0, 1.0, 3.0, 2.0])["median"] == 2.5
    assert stats.spread([])["runs"] == 0
    assert stats.fmt_spread(stats.spread([24.0, 20.14, 27.3])) == "24.0 (20.1–27.3)"
    assert stats.fmt_spread(stats.spread([]), unit=" ms") == "—"


def test_a_target_is_met_only_when_every_run_meets_it():
    assert stats.verdict([20, 25, 29], 30) == "met"
    assert stats.verdict([31, 35, 40], 30) == "not met"
    # The median meets the target, but one run does not: the runs straddle it.
    assert stats.verdict([20, 25, 31], 30) == "not significant"
    # The median misses it, but one run meets it: not "not met" either.
    assert stats.verdict([29, 31, 35], 30) == "not significant"
    # Exactly on the target meets it (≤ / ≥).
    assert stats.verdict([30, 30, 30], 30) == "met"


def test_a_floor_target_reads_the_other_way():
    assert stats.verdict([2.6, 2.9, 3.1], 2.5, at_most=False) == "met"
    assert stats.verdict([2.0, 2.4, 2.45], 2.5, at_most=False) == "not met"
    assert stats.verdict([2.4, 2.6, 2.7], 2.5, at_most=False) == "not significant"


def test_fewer_than_three_runs_give_no_verdict():
    assert stats.verdict([1.0], 30) == "too few runs"
    assert stats.verdict([1.0, 2.0], 30) == "too few runs"
    assert stats.verdict([], 30) == "too few runs"


def _booking(rate, cpu, contested=True, others=0.02, clients=16):
    meter = {"others_share": others, "warn": others > quiet.WARN_SHARE}
    return {
        "clients": clients,
        "contested": contested,
        "rounds": 10,
        "races": 5 if contested else 0,
        "attempts": 20,
        "statuses": {201: 15, 409: 5},
        "errors": 0,
        "wall": 1.0,
        "bookings": 15,
        "bookings_in_db": 15,
        "rate": rate,
        "all": stats.summary_ms([0.01]),
        "created": stats.summary_ms([0.01]),
        "conflict": stats.summary_ms([0.01]),
        "cpu_ms": cpu,
        "web_ms": cpu * 0.7,
        "pg_ms": cpu * 0.3,
        "clients_ms": 1.0,
        "meter": meter,
    }


def test_the_report_declares_targets_from_the_runs_not_from_one_sample():
    report = Report(
        bookings=[
            _booking(60, 7.0, contested=False),
            _booking(62, 7.5, contested=False),
            _booking(58, 8.4, contested=False),  # one run above 8 ms
            _booking(50, 9.0),
            _booking(52, 9.5),
            _booking(51, 9.9, others=0.25),  # measured on a busy machine
        ],
        double_bookings={"slots": 0, "requests": 0, "inconsistent": 0},
        peers={
            "gnuhealth": {
                "runs": [
                    {**_booking(20, 20.0), "meter": {"others_share": 0.01}},
                    {**_booking(21, 20.0), "meter": {"others_share": 0.01}},
                    {**_booking(19, 20.0), "meter": {"others_share": 0.01}},
                ]
            }
        },
    )
    rows = {
        label: (measured, quietness, verdict)
        for label, measured, quietness, verdict in report.verdicts()
    }
    uncontested = rows["CPU per booking (web + PostgreSQL) ≤ 8 ms, uncontested, 16 clients"]
    assert uncontested[0] == "7.5 (7.0–8.4) ms"
    assert uncontested[2] == "not significant"
    contested = rows[
        "CPU per booking (web + PostgreSQL) ≤ 10 ms, 1 attempt in 4 contested, 16 clients"
    ]
    assert contested[2] == "**met**"
    assert contested[1].startswith("⚠ ")  # one of its runs had 25 % of the machine taken
    ratio = rows["bookings/s ≥ 2.5× GNU Health's correct flow (contested, 16 clients)"]
    # run by run: 50/20, 52/21, 51/19
    assert ratio[0] == "2.50 (2.48–2.68)×"
    assert ratio[2] == "not significant"
    assert rows["0 double bookings"][2] == "**met**"


def test_the_quietness_cell_gives_the_median_and_the_worst_run():
    assert quiet_cell([{"others_share": 0.01}, {"others_share": 0.03}, {"others_share": 0.02}]) == (
        "2% (max 3%)"
    )
    assert quiet_cell(
        [{"others_share": 0.01}, {"others_share": 0.5}, {"others_share": 0.02}]
    ).startswith("⚠ ")
    assert quiet_cell([]) == "—"


# -- quietness -------------------------------------------------------------------------------
def test_quietness_is_what_the_machine_used_beyond_the_bench_and_its_database():
    q = quiet.quietness(busy=10.0, own=6.0, pg_db=2.5, pg_shared=0.5, wall=10.0, ncpu=2)
    assert q["others_cpu"] == pytest.approx(1.0)
    assert q["others_share"] == pytest.approx(0.05)  # 1 CPU-second of 20
    assert q["others_cpus"] == pytest.approx(0.1)
    assert not q["warn"]
    busy = quiet.quietness(busy=18.0, own=6.0, pg_db=2.5, pg_shared=0.5, wall=10.0, ncpu=2)
    assert busy["others_share"] == pytest.approx(0.45)
    assert busy["warn"]
    # Rounding between /proc readings never yields negative CPU.
    assert quiet.quietness(busy=1, own=2, pg_db=0, pg_shared=0, wall=1, ncpu=2)["others_cpu"] == 0


def test_it_reads_the_machine_busy_time_from_proc_stat():
    text = "cpu  100 5 50 1000 40 3 2 7 11 0\ncpu0 50 2 25 500 20 1 1 3 0 0\n"
    # user + nice + system + irq + softirq + steal; idle and iowait excluded; guest in user.
    assert quiet.machine_busy_ticks(text) == 100 + 5 + 50 + 3 + 2 + 7
    assert quiet.machine_busy_ticks() > 0


def test_the_process_tree_counts_children_even_after_they_exit():
    table = {
        1: (0, 500),  # not ours
        10: (1, 100),  # the bench
        11: (10, 40),  # gunicorn master
        12: (11, 30),  # a worker
        13: (12, 7),  # a worker's child
        20: (1, 999),  # another program
    }
    assert quiet.tree_ticks(10, table) == 177
    assert quiet.tree_ticks(11, table) == 77
    assert quiet.tree_ticks(99, table) == 0
    # A real child that burns CPU and is reaped still counts in its parent's cutime.
    before = quiet.tree_ticks(os.getpid())
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import time\nt=time.process_time()+0.3\nwhile time.process_time()<t: pass",
        ],
        check=True,
    )
    assert quiet.tree_ticks(os.getpid()) - before >= 0.2 * quiet.TICK


def _burner(seconds: float):
    """A process that waits 0.3 s, burns `seconds` of CPU, then idles."""
    return subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import time\n"
            "time.sleep(0.3)\n"
            f"t = time.process_time() + {seconds}\n"
            "while time.process_time() < t: pass\n"
            "time.sleep(30)",
        ],
        start_new_session=True,
    )


def _until_burnt(*procs, seconds: float, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all((quiet.process_ticks(p.pid) or 0) >= seconds * quiet.TICK for p in procs):
            return
        time.sleep(0.05)
    raise AssertionError("the burners did not get their CPU in time")


def test_the_meter_sees_a_busy_neighbour_as_other_processes():
    hog = _burner(0.6)
    try:
        # The hog is this test's child; a meter rooted at no process counts it as another's.
        with quiet.Meter(lambda: {}, root=2**22 + 12345, interval=0.05) as meter:
            _until_burnt(hog, seconds=0.6)
    finally:
        hog.kill()
        hog.wait()
    r = meter.reading
    assert r.own == 0  # no such root: nothing is the bench's
    assert r.quiet["others_cpu"] >= 0.5  # the hog's CPU is someone else's
    assert r.samples >= 1


# -- PostgreSQL CPU per database -----------------------------------------------------------
def test_backend_cpu_counts_each_backend_from_its_first_reading():
    cpu = quiet.BackendCpu({100: 50, 101: 10})  # two backends there at the start
    cpu.observe({100: 60, 101: 10, 102: 5})  # a third one connects
    cpu.observe({100: 75, 102: 9})  # 101 disconnects: its last reading is kept
    assert cpu.used() == (75 - 50) + (10 - 10) + (9 - 0)


def test_backend_cpu_banks_a_backend_whose_pid_is_reused():
    cpu = quiet.BackendCpu({100: 50})
    cpu.observe({100: 80})
    cpu.observe({100: 3})  # fewer ticks: another process with the same pid
    assert cpu.used() == 30 + 3


class _FakeBackends:
    """pg_stat_activity as seen by the sampler: pids of real processes of this test, each
    tagged with the database it would be connected to."""

    def __init__(self, kinds):
        self.kinds = kinds

    def __call__(self):
        return dict(self.kinds)


def test_the_meter_counts_only_the_backends_of_the_bench_database():
    ours, theirs = _burner(0.5), _burner(0.5)
    try:
        # The sampler's query lists the bench database's backends and PostgreSQL's shared
        # processes only: a backend of another database ("theirs") is not in its answer.
        backends = _FakeBackends({ours.pid: "db"})
        with quiet.Meter(backends, root=2**22 + 12345, interval=0.05) as meter:
            _until_burnt(ours, theirs, seconds=0.5)
    finally:
        ours.kill()
        theirs.kill()
        ours.wait()
        theirs.wait()
    r = meter.reading
    assert 0.45 <= r.pg_db <= 0.75  # the bench database's backend, and only it
    assert r.backends_seen == 1
    # The other database's backend is another process as far as the bench is concerned.
    assert r.quiet["others_cpu"] >= 0.3


@pytest.mark.django_db
def test_the_sampler_query_names_the_bench_database_only():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    import psycopg

    s = connection.settings_dict
    url = (
        f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )
    backends = quiet.pg_backends_query(lambda: psycopg.connect(url), s["NAME"])
    try:
        kinds = backends()
    finally:
        backends.close()
    assert "self" in kinds.values()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert kinds[cursor.fetchone()[0]] == "db"  # the test's own connection


# -- true races ------------------------------------------------------------------------------
def test_racing_posts_release_both_attempts_of_a_round_together():
    arrivals, lock = {}, threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            import json

            data = json.loads(body)
            with lock:
                arrivals.setdefault(data["round"], []).append(time.perf_counter())
                first = len(arrivals[data["round"]]) == 1
            time.sleep(0.5)  # a slow booking: a sequential client would arrive 500 ms later
            status = 201 if first or data["slot"] != "same" else 409
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rounds = [
            (
                {"round": i, "slot": "same" if i % 2 == 0 else f"a{i}"},
                {"round": i, "slot": "same" if i % 2 == 0 else f"b{i}"},
            )
            for i in range(12)
        ]
        result = http.racing_posts("127.0.0.1", server.server_address[1], "t", "/b", rounds, 4, 30)
    finally:
        server.shutdown()
    assert result.rounds_done == 12
    assert result.statuses == {201: 18, 409: 6}  # one loser per contested round
    gaps = [abs(a - b) for a, b in arrivals.values()]
    assert max(gaps) < 0.25  # both attempts of each round arrived together (not 0.5 s apart)
    with pytest.raises(ValueError):
        http.racing_posts("127.0.0.1", 1, "t", "/b", rounds, 3, 1)


def test_the_peers_section_shows_their_double_bookings_beside_relais():
    peer_run = {
        **_booking(70, 15.0),
        "refused": 0,
        "double_bookings": 9,
        "meter": {"others_share": 0.03},
    }
    report = Report(
        bookings=[_booking(50, 9.0), _booking(52, 9.5), _booking(51, 9.9)],
        double_bookings={"slots": 0, "requests": 0, "inconsistent": 0},
        peers={
            "django-appointment": {
                "title": "django-appointment (PyPI)",
                "description": "A reusable app.",
                "install": "Installed from PyPI in 30 s.",
                "runs": [peer_run, {**peer_run, "double_bookings": 11}, peer_run],
            },
            "gnuhealth": {"title": "GNU Health", "why": "could not be installed: no wheel"},
        },
    )
    text = report.markdown()
    assert "### django-appointment (PyPI)" in text
    assert (
        "| 16 | contested | 20 (20–20) | **70 (70–70)** | 51 (50–52) | 15.0 (15.0–15.0) "
        "| 10.5 (10.5–10.5) / 4.5 (4.5–4.5) | 0 (0–0) | **9 (9–11)** | 3% (max 3%) |" in text
    )
    assert "**Not measured**: could not be installed: no wheel" in text
