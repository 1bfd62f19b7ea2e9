"""Thin task wrappers around the agenda services (queue them from a scheduler)."""

from django_tasks import task


@task()
def materialise_slots(horizon_days: int = 14) -> dict:
    from relais.agenda.services import slots_materialise

    result = slots_materialise(horizon_days=horizon_days)
    return {
        "professionals": result.professionals,
        "created": result.created,
        "updated": result.updated,
        "removed": result.removed,
    }
