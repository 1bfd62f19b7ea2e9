"""Lag-tolerant reads on a streaming replica (issue 20, item 2).

Nothing here is active unless `REPLICA_DATABASE_URL` is set (settings then add the
"replica" alias, `ReplicaRouter` and `ReadYourWritesMiddleware`). Then:

- every read goes to the primary ("default"), except inside `lag_tolerant()`;
- inside `lag_tolerant()` a read goes to the replica unless
  * the request is pinned to the primary: a POST/PUT/PATCH/DELETE request, a request
    within `RELAIS_REPLICA_PIN_SECONDS` of the client's last write (cookie
    `relais_primary_until`), or a request (or worker thread) that already wrote;
  * the default connection is inside an atomic block (a booking, a hold, any read that
    decides a write, `select_for_update`, which needs a transaction anyway);
  * the replica is unhealthy: down, replay paused, not in recovery (promoted: a split
    brain must not be read as a replica), or lagging more than
    `RELAIS_REPLICA_MAX_LAG_SECONDS`. Checked at most every `RELAIS_REPLICA_CHECK_SECONDS`
    per process; the verdict is cached between checks.

Lag is measured against the primary, not taken from the replica's word: the bytes of WAL
between the primary's `pg_current_wal_lsn()` and the replica's `pg_last_wal_replay_lsn()`.
None behind: lag 0, even when `pg_last_xact_replay_timestamp()` is hours old (an idle
primary; that timestamp alone would "lie" and send everything to the primary). Some bytes
behind: the larger of (now - last replayed commit) and the time for which this process has
seen the replay position stuck while WAL was pending (a replica whose WAL receiver streams
happily but whose replay is paused, delayed or wedged "lies" through its receive LSN and
its `pg_stat_wal_receiver` status; the replay LSN does not).

A replica that fails under a `lag_tolerant` *decorated* call (the call form below) is
marked down and the call is run again on the primary (reads only: safe to repeat).

This module is core: it imports no app.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"
PIN_COOKIE = "relais_primary_until"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_tolerant = contextvars.ContextVar("relais_lag_tolerant", default=False)
_pinned = contextvars.ContextVar("relais_primary_pinned", default=False)
_used_replica = contextvars.ContextVar("relais_used_replica", default=False)
UNPINNED_WRITES = ("audit.auditevent", "sessions.session")


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


# --- health ---------------------------------------------------------------------------


@dataclass
class Verdict:
    healthy: bool
    reason: str
    lag_seconds: float | None = None
    lag_bytes: int | None = None


class ReplicaHealth:
    """The per-process cached verdict on the replica. `probe` returns the raw figures and
    is replaced by a fake in unit tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._verdict = Verdict(False, "not checked")
        # Replay position last seen and since when (monotonic) it has not moved.
        self._replay_lsn: int | None = None
        self._replay_stuck_since: float | None = None

    def reset(self) -> None:
        with self._lock:
            self._checked_at = None
            self._verdict = Verdict(False, "not checked")
            self._replay_lsn = None
            self._replay_stuck_since = None

    def mark_down(self, reason: str) -> None:
        with self._lock:
            self._checked_at = time.monotonic()
            self._verdict = Verdict(False, reason)
        logger.warning("replica marked down: %s", reason)

    def verdict(self) -> Verdict:
        interval = float(getattr(settings, "RELAIS_REPLICA_CHECK_SECONDS", 3))
        now = time.monotonic()
        with self._lock:
            if self._checked_at is not None and now - self._checked_at < interval:
                return self._verdict
            # One thread checks; the others keep the previous verdict meanwhile.
            self._checked_at = now
        verdict = self._evaluate(now)
        with self._lock:
            if verdict.healthy != self._verdict.healthy:
                logger.warning(
                    "replica %s: %s", "usable" if verdict.healthy else "unusable", verdict.reason
                )
            self._verdict = verdict
        return verdict

    def _evaluate(self, now: float) -> Verdict:
        try:
            figures = self.probe()
        except Exception as exc:  # down, refused, timed out, or the primary is unreachable
            _close_quietly(REPLICA)
            return Verdict(False, f"probe failed: {type(exc).__name__}")
        return self.judge(figures, now)

    def judge(self, figures: dict, now: float) -> Verdict:
        max_lag = float(getattr(settings, "RELAIS_REPLICA_MAX_LAG_SECONDS", 5))
        if not figures["in_recovery"]:
            return Verdict(False, "not in recovery (promoted?)")
        if figures["replay_paused"]:
            return Verdict(False, "replay paused")
        replay = figures["replay_lsn"]
        if replay is None:
            return Verdict(False, "nothing replayed yet")
        lag_bytes = max(0, figures["primary_lsn"] - replay)
        with self._lock:
            if replay != self._replay_lsn or lag_bytes == 0:
                self._replay_lsn, self._replay_stuck_since = replay, now
            stuck_for = now - (self._replay_stuck_since or now)
        if lag_bytes == 0:
            return Verdict(True, "caught up", 0.0, 0)
        ts_lag = figures["replay_age_seconds"]
        lag = max(stuck_for, ts_lag if ts_lag is not None else stuck_for)
        if lag > max_lag:
            return Verdict(False, f"lag {lag:.1f} s > {max_lag:g} s", lag, lag_bytes)
        return Verdict(True, "within lag", lag, lag_bytes)

    def probe(self) -> dict:
        """Figures from the primary and the replica (PostgreSQL only)."""
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            primary_lsn = int(cursor.fetchone()[0])
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(),"
                " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,"
                " pg_last_wal_replay_lsn() - '0/0'::pg_lsn,"
                " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
            )
            in_recovery, paused, replay_lsn, replay_age = cursor.fetchone()
        return {
            "in_recovery": bool(in_recovery),
            "replay_paused": bool(paused),
            "replay_lsn": int(replay_lsn) if replay_lsn is not None else None,
            "primary_lsn": primary_lsn,
            "replay_age_seconds": float(replay_age) if replay_age is not None else None,
        }


health = ReplicaHealth()


def _close_quietly(alias: str) -> None:
    with contextlib.suppress(Exception):  # a broken connection is what we are closing
        connections[alias].close()


# --- marking reads --------------------------------------------------------------------


class lag_tolerant:  # noqa: N801 - used like contextlib's lower-case managers
    """`with lag_tolerant(): …` or `lag_tolerant()(func)(…)` / `@lag_tolerant()`: the reads
    within may be served by the replica (see the module's docstring). Evaluate querysets
    inside the block: a lazy queryset evaluated after it reads the primary."""

    def __enter__(self):
        self._tokens = getattr(self, "_tokens", [])
        self._tokens.append((_tolerant.set(True), _used_replica.set(False)))
        return self

    def __exit__(self, *exc):
        tolerant, used = self._tokens.pop()
        _used_replica.reset(used)
        _tolerant.reset(tolerant)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            token = _tolerant.set(True)
            used = _used_replica.set(False)
            try:
                return func(*args, **kwargs)
            except (OperationalError, InterfaceError) as exc:
                if not _used_replica.get():
                    raise
                health.mark_down(f"query failed: {type(exc).__name__}")
                _close_quietly(REPLICA)
            finally:
                _used_replica.reset(used)
                _tolerant.reset(token)
            return func(*args, **kwargs)  # again, on the primary

        return wrapper


class primary_only:  # noqa: N801
    """`with primary_only():` or `@primary_only()`: the reads within go to the primary even
    inside a `lag_tolerant()` block (a service that decides a write, e.g. the booking
    service's permission reads before its transaction)."""

    def __enter__(self):
        self._tokens = getattr(self, "_tokens", [])
        self._tokens.append(_tolerant.set(False))
        return self

    def __exit__(self, *exc):
        _tolerant.reset(self._tokens.pop())
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            token = _tolerant.set(False)
            try:
                return func(*args, **kwargs)
            finally:
                _tolerant.reset(token)

        return wrapper


def _unpinned_writes() -> frozenset[str]:
    return frozenset(getattr(settings, "RELAIS_REPLICA_UNPINNED_WRITES", UNPINNED_WRITES))


def pin_to_primary() -> None:
    """The rest of this request (or worker thread) reads the primary."""
    _pinned.set(True)


def routes_to_replica() -> bool:
    """Would a read here go to the replica? (The router's decision, for tests and logs.)"""
    if not (_tolerant.get() and replica_configured()) or _pinned.get():
        return False
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return False
    return health.verdict().healthy


class ReplicaRouter:
    """DATABASE_ROUTERS entry when a replica is configured."""

    def db_for_read(self, model, **hints):
        if routes_to_replica():
            _used_replica.set(True)
            return REPLICA
        # Explicitly the primary: else Django would follow an instance read on the replica.
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        # Reads-your-writes within this request; not for the rows a read itself writes
        # (its audit row, the session's idle stamp), which no read reads back.
        if model is None or model._meta.label_lower not in _unpinned_writes():
            _pinned.set(True)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # same data on both

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


# --- reads-your-writes across requests ------------------------------------------------


class ReadYourWritesMiddleware:
    """Pins to the primary the requests that write (unsafe methods) and, through the
    `relais_primary_until` cookie (a Unix time; forging it only costs its bearer the
    replica), the client's requests within `RELAIS_REPLICA_PIN_SECONDS` of its last
    write. API clients that want the same send the cookie back; the API's own writes
    answer with it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        now = time.time()
        pinned = request.method in UNSAFE_METHODS or _cookie_time(request) > now
        token = _pinned.set(pinned)
        try:
            response = self.get_response(request)
            wrote = _pinned.get() and not pinned or request.method in UNSAFE_METHODS
        finally:
            _pinned.reset(token)
        if wrote:
            seconds = int(getattr(settings, "RELAIS_REPLICA_PIN_SECONDS", 10))
            response.set_cookie(
                PIN_COOKIE,
                str(int(now) + seconds),
                max_age=seconds,
                httponly=True,
                samesite="Lax",
                secure=getattr(settings, "SESSION_COOKIE_SECURE", False),
            )
        return response


def _cookie_time(request) -> float:
    value = request.COOKIES.get(PIN_COOKIE, "")
    return float(value) if value.isdigit() and len(value) <= 12 else 0.0
