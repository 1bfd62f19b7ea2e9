"""Run callables at the same instant in threads, each with its own database connection
(PostgreSQL row-level concurrency), and report how each ended."""

import contextvars
import threading

from django.db import connections

from relais.core.errors import ApplicationError


def race(functions) -> list[str]:
    """Outcomes, in completion order: "ok", "refused:<French message>" for a domain
    refusal, "error:<repr>" for anything else (which a test must treat as a failure)."""
    barrier = threading.Barrier(len(functions))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(function, context):
        try:
            barrier.wait()
            context.run(function)  # the caller's context: its audit actor, as one caller
            result = "ok"
        except ApplicationError as exc:
            result = f"refused:{exc.message}"
        except Exception as exc:  # noqa: BLE001 - reported, and a failure for the caller
            result = f"error:{exc!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [
        threading.Thread(target=worker, args=(fn, contextvars.copy_context())) for fn in functions
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
