"""Queue a task by its path: the string its queued row keeps (DBTaskResult.task_path) and
the worker imports it by. Tasks are thin wrappers that import their service; a service
that queues work names the task instead of importing the tasks module back, so no
services <-> tasks circle exists (docs/architecture.md). Queued in the caller's
transaction (the database task backend): a rollback drops the task with the rows.

`batched()`: the tasks queued inside the block (a booking queues its messages' delivery,
two reminders and the outcome reminder) are written in one INSERT when the block ends,
still inside the caller's transaction; a block left by an exception writes none."""

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.utils.module_loading import import_string

_batch: ContextVar[list | None] = ContextVar("relais_queue_batch", default=None)


def enqueue(path: str, *args, run_after: datetime | None = None, **kwargs):
    """Queue the task at `path` ("relais.notifications.tasks.deliver_notification") with
    these arguments, after `run_after` if given; returns the task result."""
    task = import_string(path)
    if run_after is not None:
        task = task.using(run_after=run_after)
    pending = _batch.get()
    if pending is not None and _is_database_backend(task.get_backend()):
        return _pending_row(task, args, kwargs, pending)
    return task.enqueue(*args, **kwargs)


@contextmanager
def batched():
    """Write the tasks queued in the block in one INSERT at its end (nested blocks: the
    outermost writes). Use it inside the transaction the tasks belong to."""
    if _batch.get() is not None:
        yield
        return
    pending: list = []
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    if pending:
        _write(pending)


def _is_database_backend(backend) -> bool:
    from django_tasks_db.backend import DatabaseBackend

    return isinstance(backend, DatabaseBackend)


def _pending_row(task, args, kwargs, pending: list):
    """The row DatabaseBackend.enqueue would create, kept for one bulk INSERT."""
    from django_tasks_db.compat import normalize_json
    from django_tasks_db.models import DBTaskResult, get_date_max

    backend = task.get_backend()
    backend.validate_task(task)
    row = DBTaskResult(
        id=backend._get_id(),
        args_kwargs=normalize_json({"args": args, "kwargs": kwargs}),
        priority=task.priority,
        task_path=task.module_path,
        queue_name=task.queue_name,
        # What the backend's pre_save handler does (bulk_create sends no pre_save).
        run_after=task.run_after if task.run_after is not None else get_date_max(),
        backend_name=backend.alias,
    )
    pending.append((type(backend), row))
    return row.task_result


def _write(pending: list) -> None:
    from django_tasks_db.compat import task_enqueued
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.bulk_create([row for _, row in pending])
    for sender, row in pending:
        task_enqueued.send(sender, task_result=row.task_result)
