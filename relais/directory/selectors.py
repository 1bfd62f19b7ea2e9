"""Reads for the directory."""

from django.db.models import Q

from relais.directory.models import Profession, Professional


def doctors_search(*, query: str, departement_codes=None, limit: int = 8) -> list[Professional]:
    """GPs by RPPS prefix or name prefix, for the médecin traitant field."""
    query = query.strip()
    if not 2 <= len(query) <= 100:  # longer than any stored name: nothing matches
        return []
    qs = Professional.objects.filter(profession=Profession.MEDECIN, active=True)
    if query.isdigit():
        qs = qs.filter(rpps__startswith=query)
    else:
        qs = qs.filter(Q(last_name__istartswith=query) | Q(first_name__istartswith=query))
    if departement_codes:
        qs = qs.filter(practices__commune__departement__code__in=departement_codes)
    return list(qs.prefetch_related("practices__commune").distinct()[:limit])


def doctor_by_rpps(*, rpps: str) -> Professional | None:
    return Professional.objects.filter(profession=Profession.MEDECIN, rpps=rpps).first()


def doctors_named(*, last_name: str, limit: int = 2) -> list[Professional]:
    return list(
        Professional.objects.filter(profession=Profession.MEDECIN, last_name__iexact=last_name)[
            :limit
        ]
    )
