"""Thin task wrappers around the directory services."""

from django_tasks import task


@task()
def invite_imported(batch_id: int) -> int:
    """The invitations of a confirmed CSV import (relais.directory.imports)."""
    from relais.directory.imports import import_invite
    from relais.directory.models import ImportBatch

    batch = ImportBatch.objects.select_related("cpts", "created_by").filter(pk=batch_id).first()
    if batch is None or batch.applied_at is None:
        return 0
    return import_invite(batch=batch)
