"""Thin task wrappers around regulation services."""

from django_tasks import task


@task()
def anonymise_patients() -> int:
    from relais.regulation.retention import patients_anonymise

    return patients_anonymise()
