"""Queue a task by its path: the string its queued row keeps (DBTaskResult.task_path) and
the worker imports it by. Tasks are thin wrappers that import their service; a service
that queues work names the task instead of importing the tasks module back, so no
services <-> tasks circle exists (docs/architecture.md). Queued in the caller's
transaction (the database task backend): a rollback drops the task with the rows."""

from datetime import datetime

from django.utils.module_loading import import_string


def enqueue(path: str, *args, run_after: datetime | None = None, **kwargs):
    """Queue the task at `path` ("relais.notifications.tasks.deliver_notification") with
    these arguments, after `run_after` if given; returns the task result."""
    task = import_string(path)
    if run_after is not None:
        task = task.using(run_after=run_after)
    return task.enqueue(*args, **kwargs)
