"""Read routing to a replica (relais/core/db_routing.py), with fakes for the replica's
state. The real replica (pg_basebackup, paused replay, stopped, promoted) is exercised by
`make test-deploy` (scripts/drill_deploy.py)."""

import pytest
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from relais.core import db_routing as r
from relais.notifications.models import Notification
from relais.orientation.services import booking_create
from tests import factories as f

CAUGHT_UP = {
    "in_recovery": True,
    "replay_paused": False,
    "replay_lsn": 1000,
    "primary_lsn": 1000,
    "replay_age_seconds": 7200.0,  # an idle primary: the last commit is two hours old
}


@pytest.fixture
def health(settings):
    settings.RELAIS_REPLICA_MAX_LAG_SECONDS = 5
    settings.RELAIS_REPLICA_CHECK_SECONDS = 3
    h = r.ReplicaHealth()
    return h


def test_a_caught_up_replica_is_healthy_even_with_an_old_replay_timestamp(health):
    verdict = health.judge(dict(CAUGHT_UP), now=100.0)
    assert verdict.healthy and verdict.lag_seconds == 0 and verdict.lag_bytes == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"in_recovery": False}, "not in recovery"),
        ({"replay_paused": True}, "replay paused"),
        ({"replay_lsn": None}, "nothing replayed"),
        ({"primary_lsn": 5000, "replay_age_seconds": 6.0}, "lag 6.0 s > 5 s"),
    ],
)
def test_it_refuses_a_promoted_paused_empty_or_late_replica(health, change, reason):
    verdict = health.judge({**CAUGHT_UP, **change}, now=100.0)
    assert not verdict.healthy
    assert reason in verdict.reason


def test_a_replica_behind_but_within_the_limit_is_used(health):
    verdict = health.judge({**CAUGHT_UP, "primary_lsn": 5000, "replay_age_seconds": 1.5}, 100.0)
    assert verdict.healthy and verdict.lag_bytes == 4000 and verdict.lag_seconds == 1.5


def test_a_replica_whose_replay_is_stuck_is_refused_though_its_timestamp_looks_fresh(health):
    """The lying replica: WAL pending, replay position not moving, but the replay
    timestamp (e.g. a clock ahead, or commits replayed just before it wedged) says 1 s."""
    behind = {**CAUGHT_UP, "primary_lsn": 5000, "replay_age_seconds": 1.0}
    assert health.judge(behind, now=100.0).healthy
    assert health.judge(behind, now=103.0).healthy
    later = health.judge({**behind, "primary_lsn": 9000}, now=106.5)
    assert not later.healthy
    assert later.lag_seconds == pytest.approx(6.5)
    # Replay moves again and catches up: usable again.
    assert health.judge({**behind, "replay_lsn": 9000, "primary_lsn": 9000}, now=107.0).healthy


def test_the_verdict_is_checked_at_most_every_interval_and_cached(health, monkeypatch):
    calls = []
    clock = [1000.0]
    monkeypatch.setattr(r.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(health, "probe", lambda: calls.append(1) or dict(CAUGHT_UP))
    assert health.verdict().healthy
    clock[0] += 2.9
    assert health.verdict().healthy
    assert len(calls) == 1
    clock[0] += 0.2
    health.verdict()
    assert len(calls) == 2


def test_a_replica_that_does_not_answer_is_down_until_it_answers_again(health, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(r.time, "monotonic", lambda: clock[0])
    state = {"up": False}

    def probe():
        if not state["up"]:
            raise OperationalError("connection refused")
        return dict(CAUGHT_UP)

    monkeypatch.setattr(health, "probe", probe)
    verdict = health.verdict()
    assert not verdict.healthy and "OperationalError" in verdict.reason
    state["up"] = True
    assert not health.verdict().healthy  # cached until the next check
    clock[0] += 3
    assert health.verdict().healthy


# --- the router -----------------------------------------------------------------------


@pytest.fixture
def replica(monkeypatch, settings):
    """A configured replica judged healthy, the router installed. Its alias does not exist
    here: a read the router sends to it fails loudly (ConnectionDoesNotExist)."""
    state = r.Verdict(True, "fake")
    monkeypatch.setattr(r, "replica_configured", lambda: True)
    monkeypatch.setattr(r.health, "verdict", lambda: state)
    settings.DATABASE_ROUTERS = ["relais.core.db_routing.ReplicaRouter"]
    token = r._pinned.set(False)
    yield state
    r._pinned.reset(token)


def test_without_a_replica_every_read_goes_to_the_primary(db):
    router = r.ReplicaRouter()
    with r.lag_tolerant():
        assert router.db_for_read(Notification) == "default"
        assert Notification.objects.count() == 0


def test_lag_tolerant_reads_go_to_a_healthy_replica_and_others_to_the_primary(
    transactional_db, replica
):
    router = r.ReplicaRouter()
    assert router.db_for_read(Notification) == "default"
    with r.lag_tolerant():
        assert router.db_for_read(Notification) == "replica"
        replica.healthy = False
        assert router.db_for_read(Notification) == "default"
        replica.healthy = True
        with transaction.atomic():  # a read that decides a write
            assert router.db_for_read(Notification) == "default"
            assert connection.in_atomic_block
    assert router.db_for_read(Notification) == "default"


def test_a_booking_inside_a_lag_tolerant_block_reads_the_primary(transactional_db, replica, olivia):
    """Through a request: a POST is pinned to the primary by the middleware, so a booking
    (its permission reads outside the transaction included) never reads the replica, even
    if a view wrapped it in lag_tolerant()."""
    slot, req = f.SlotFactory(), f.RequestFactory()
    r._pinned.set(False)  # the factories' writes pinned this thread: start unpinned
    booked = {}

    def view(request):
        with r.lag_tolerant():
            booked["booking"] = booking_create(request=req, slot=slot, operator=olivia)
        return HttpResponse("ok")

    r.ReadYourWritesMiddleware(view)(RequestFactory().post("/api/v1/bookings"))
    assert booked["booking"].slot_id == slot.pk
    # Control: unpinned, the same block does send a plain read to the (absent) replica...
    r._pinned.set(False)
    with r.lag_tolerant(), pytest.raises(Exception, match="replica"):
        list(Notification.objects.all())


def test_outside_a_request_primary_only_keeps_a_booking_on_the_primary(
    transactional_db, replica, olivia
):
    """The booking service's scope read comes before its transaction: called inside a
    lag_tolerant block outside a request, it would read the replica; the services' entry
    points carry primary_only(), so it stays on the primary (the control shows the same
    block does send a plain read to the absent replica)."""
    other, req = f.SlotFactory(), f.RequestFactory()
    r._pinned.set(False)  # the factories' writes pinned this thread
    with r.lag_tolerant(), pytest.raises(Exception, match="replica"):
        list(Notification.objects.all())
    r._pinned.set(False)
    with r.lag_tolerant():
        assert booking_create(request=req, slot=other, operator=olivia).slot_id == other.pk


def test_a_write_pins_the_rest_of_the_request_but_an_audit_row_does_not(transactional_db, replica):
    from relais.audit.models import AuditEvent

    router = r.ReplicaRouter()
    token = r._pinned.set(False)
    try:
        with r.lag_tolerant():
            router.db_for_write(AuditEvent)
            assert router.db_for_read(Notification) == "replica"
            router.db_for_write(Notification)
            assert router.db_for_read(Notification) == "default"
    finally:
        r._pinned.reset(token)


def test_the_call_form_retries_on_the_primary_when_the_replica_fails(
    transactional_db, replica, monkeypatch
):
    downs = []
    monkeypatch.setattr(r.health, "mark_down", downs.append)
    calls = []

    def read():
        calls.append(r.routes_to_replica())
        if len(calls) == 1:
            r.ReplicaRouter().db_for_read(Notification)  # routed to the replica
            raise OperationalError("server closed the connection unexpectedly")
        return "ok"

    assert r.lag_tolerant()(read)() == "ok"
    assert calls == [True, False]
    assert downs and "OperationalError" in downs[0]


def test_the_call_form_does_not_retry_an_error_of_the_primary(transactional_db, replica):
    def read():
        raise OperationalError("primary down")

    with pytest.raises(OperationalError):
        r.lag_tolerant()(read)()


# --- reads-your-writes across requests --------------------------------------------------


def _through_middleware(request, *, write=False):
    seen = {}

    def view(req):
        seen["pinned"] = r._pinned.get()
        if write:
            r.ReplicaRouter().db_for_write(Notification)
        return HttpResponse("ok")

    response = r.ReadYourWritesMiddleware(view)(request)
    return seen["pinned"], response


def test_unsafe_methods_are_pinned_and_leave_a_pin_cookie(settings):
    settings.RELAIS_REPLICA_PIN_SECONDS = 10
    pinned, response = _through_middleware(RequestFactory().post("/x"))
    assert pinned
    assert int(response.cookies[r.PIN_COOKIE]["max-age"]) == 10
    assert response.cookies[r.PIN_COOKIE]["httponly"]


def test_a_get_after_a_write_is_pinned_until_the_cookie_time(monkeypatch):
    factory = RequestFactory()
    monkeypatch.setattr(r.time, "time", lambda: 5000.0)
    fresh = factory.get("/x")
    fresh.COOKIES[r.PIN_COOKIE] = "5008"
    assert _through_middleware(fresh)[0]
    old = factory.get("/x")
    old.COOKIES[r.PIN_COOKIE] = "4999"
    assert not _through_middleware(old)[0]
    for garbage in ("abc", "-1", "9" * 40, ""):
        bad = factory.get("/x")
        bad.COOKIES[r.PIN_COOKIE] = garbage
        pinned, response = _through_middleware(bad)
        assert not pinned and r.PIN_COOKIE not in response.cookies


def test_a_get_that_writes_sets_the_cookie_and_a_plain_get_does_not():
    _, response = _through_middleware(RequestFactory().get("/x"), write=True)
    assert r.PIN_COOKIE in response.cookies
    _, response = _through_middleware(RequestFactory().get("/x"))
    assert r.PIN_COOKIE not in response.cookies
    assert r._pinned.get() is False  # reset after the request


def test_settings_refuse_an_unknown_pooler(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import relais.settings as s

    monkeypatch.setenv("DB_POOLER", "pgpool")
    try:
        with pytest.raises(ImproperlyConfigured, match="DB_POOLER"):
            importlib.reload(s)
    finally:
        monkeypatch.delenv("DB_POOLER")
        importlib.reload(s)


def test_settings_for_pgbouncer_and_a_replica(monkeypatch):
    import importlib

    import relais.settings as s

    monkeypatch.setenv("DATABASE_URL", "postgres://app@127.0.0.1:6432/relais")
    monkeypatch.setenv("REPLICA_DATABASE_URL", "postgres://app@10.0.0.2:5432/relais")
    monkeypatch.setenv("DB_POOLER", "pgbouncer")
    try:
        importlib.reload(s)
        default, replica_db = s.DATABASES["default"], s.DATABASES["replica"]
        assert default["DISABLE_SERVER_SIDE_CURSORS"] and replica_db["DISABLE_SERVER_SIDE_CURSORS"]
        assert default["OPTIONS"]["prepare_threshold"] is None
        assert replica_db["TEST"] == {"MIRROR": "default"}
        assert s.DATABASE_ROUTERS == ["relais.core.db_routing.ReplicaRouter"]
        assert "relais.core.db_routing.ReadYourWritesMiddleware" in s.MIDDLEWARE
    finally:
        for name in ("DATABASE_URL", "REPLICA_DATABASE_URL", "DB_POOLER"):
            monkeypatch.delenv(name)
        importlib.reload(s)
    assert "replica" not in s.DATABASES
