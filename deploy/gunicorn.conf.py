"""gunicorn configuration for Relais: `gunicorn -c deploy/gunicorn.conf.py relais.wsgi`.

The access log never shows a query string (a patient's name or symptoms typed into an
old client or the deprecated GET /api/v1/motifs/suggest?q=…): relais.core.logging's
GunicornLogger cuts every URL at its "?", on every route, and the format below prints
the path (%(U)s), never %(q)s or the raw request line."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))

logger_class = "relais.core.logging.GunicornLogger"
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
# Combined format, with the path instead of the request line and no user agent details
# beyond what operations need; %(f)s (referrer) is cut at its "?" by the logger class.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(f)s"'


def post_worker_init(worker):
    """Build the motif matcher (EDS-NLP pipeline, 5-15 s) when a worker starts, not on the
    first suggestion a call-taker asks for (relais.regulation.matching.warm)."""
    from relais.regulation.matching import warm

    worker.notify()  # the arbiter's heartbeat: the build must fit in `timeout` (30 s)
    warm()


def on_starting(server):
    """Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR, relais/core/observability.py):
    the directory holds the figures of the previous run's workers; start from empty."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))


def child_exit(server, worker):
    """A dead worker's live gauges leave /metrics (its counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
