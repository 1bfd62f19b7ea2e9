"""Request ids, JSON logs and Prometheus metrics (issue 20, item 5).

- `RequestIdMiddleware`: every request gets an id, the proxy's `X-Request-ID` when it is a
  sane token (8 to 128 characters of ``A-Za-z0-9._:-``), else a fresh UUID; it is
  returned in the response's `X-Request-ID` and put on every log record of the request
  (`RequestIdFilter`), so one line of nginx's log leads to Relais's lines.
- `JsonFormatter`: one JSON object per line (time, level, logger, message, request_id,
  exception). It formats the message the other filters already cleaned (no query string:
  relais/core/logging.py); Relais never logs a patient's name, phone or NIR (the tests of
  tests/core/test_observability.py check it during a request with a patient).
- metrics (prometheus_client): counters and histograms with a bounded set of labels
  (route names from settings, never a URL, an id or a user). Under gunicorn with several
  workers set PROMETHEUS_MULTIPROC_DIR (an empty directory, wiped at each start): each
  process writes its figures there and /metrics adds them up (deploy/gunicorn.conf.py
  marks dead workers). `MetricsMiddleware` times requests by resolved route name and
  counts the booking refusals (409) and holds from the outside of the booking service.

This module imports no app: the routes it knows are names in settings.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid

from django.conf import settings
from django.core.signals import request_finished
from prometheus_client import Counter, Histogram

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("relais_request_id", default="")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
HEADER = "X-Request-ID"


def current_request_id() -> str:
    return _request_id.get()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(HEADER, "")
        rid = given if _VALID_ID.match(given) else uuid.uuid4().hex
        request.request_id = rid
        # Left set until the request is finished (request_finished below): Django logs a
        # 4xx/5xx ("Not Found: /x") after the middleware chain has returned.
        _request_id.set(rid)
        response = self.get_response(request)
        response[HEADER] = rid
        return response


def _forget_request_id(**kwargs) -> None:
    _request_id.set("")


request_finished.connect(_forget_request_id, dispatch_uid="relais_forget_request_id")


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or "") on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Extra fields are NOT copied from the record (a call
    could pass a patient object in `extra`): only these keys exist."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            + f".{int(record.msecs):03d}"
            + time.strftime("%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or _request_id.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# --- metrics ----------------------------------------------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "relais_request_duration_seconds",
    "Request duration by route (search, FHIR and booking routes by name, others by area)",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
RESPONSES = Counter(
    "relais_responses_total", "Responses by area and status class", ["area", "status"]
)
BOOKINGS_CREATED = Counter("relais_bookings_created_total", "Bookings created", ["channel"])
BOOKINGS_REFUSED = Counter(
    "relais_bookings_refused_total", "Booking attempts refused with 409 (slot taken)", ["route"]
)
HOLDS = Counter("relais_holds_total", "Slot holds by outcome (held, refused)", ["outcome"])
TASK_WAIT_SECONDS = Histogram(
    "relais_task_queue_wait_seconds",
    "From enqueued (or run_after) to started, by task",
    ["task"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
TASK_RUN_SECONDS = Histogram(
    "relais_task_run_seconds",
    "Task run time by task and outcome",
    ["task", "status"],
    buckets=LATENCY_BUCKETS + (30.0, 60.0, 300.0),
)

# Route names timed under their own label (every other route is timed by area).
DEFAULT_TIMED_ROUTES = (
    "api:ranked_slots",
    "api:create_booking",
    "api:create_hold",
    "fhir:slot_search",
    "fhir:appointment",
    "fhir:slot_read",
    "fhir:bulk_publish",
    "orientation:book",
    "orientation:hold",
)
DEFAULT_BOOKING_ROUTES = ("api:create_booking", "orientation:book", "fhir:appointment")
DEFAULT_HOLD_ROUTES = ("api:create_hold", "orientation:hold")


def _area(path: str) -> str:
    if path.startswith("/fhir/"):
        return "fhir"
    if path.startswith("/api/"):
        return "api"
    return "page"


def _setting(name: str, default):
    return getattr(settings, name, default) or default


class MetricsMiddleware:
    """Times every request and counts refusals; labels are route names from settings."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        try:
            self._observe(request, response, time.perf_counter() - started)
        except Exception:  # noqa: BLE001 - metrics never break a response
            logging.getLogger("relais.metrics").exception("metrics failed")
        return response

    @staticmethod
    def _observe(request, response, elapsed: float) -> None:
        area = _area(request.path)
        match = getattr(request, "resolver_match", None)
        name = match.view_name if match is not None else ""
        timed = _setting("RELAIS_METRICS_TIMED_ROUTES", DEFAULT_TIMED_ROUTES)
        REQUEST_SECONDS.labels(name if name in timed else f"other_{area}").observe(elapsed)
        status = response.status_code
        RESPONSES.labels(area, f"{status // 100}xx").inc()
        booking = _setting("RELAIS_METRICS_BOOKING_ROUTES", DEFAULT_BOOKING_ROUTES)
        if name in booking and status == 409:
            BOOKINGS_REFUSED.labels(name).inc()
        hold = _setting("RELAIS_METRICS_HOLD_ROUTES", DEFAULT_HOLD_ROUTES)
        if name in hold and request.method == "POST":
            if status < 400:
                HOLDS.labels("held").inc()
            elif status == 409:
                HOLDS.labels("refused").inc()


def task_label(path: str) -> str:
    """A task path is a bounded label (the tasks modules); anything else is 'other'."""
    return path if path.startswith("relais.") and path.count(".") <= 4 else "other"
