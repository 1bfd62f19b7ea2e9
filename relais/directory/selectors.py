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


# --- back-office (docs/administration.md): professionals and practices a manager sees ----


def _managed_q(managed):
    return (
        Q(cpts_id__in=managed.cpts_ids)
        | Q(other_cpts__in=managed.cpts_ids)
        | Q(practices__commune__departement__code__in=managed.departement_codes)
    )


def professionals_managed(*, managed, query: str = "", active: bool | None = None):
    """Professionals of the manager's CPTS (main or further) or practising in their SAS's
    département; matched by name or RPPS prefix."""
    ids = Professional.objects.filter(_managed_q(managed)).values("pk")
    qs = Professional.objects.filter(pk__in=ids).select_related("cpts", "user")
    query = (query or "").strip()[:100]
    if query.isdigit():
        qs = qs.filter(rpps__startswith=query)
    elif query:
        qs = qs.filter(Q(last_name__istartswith=query) | Q(first_name__istartswith=query))
    if active is not None:
        qs = qs.filter(active=active)
    return qs.prefetch_related("other_cpts", "practices__commune")


def professional_managed_get(*, managed, public_id) -> Professional:
    from django.http import Http404

    professional = professionals_managed(managed=managed).filter(public_id=public_id).first()
    if professional is None:
        raise Http404("Professionnel introuvable.")
    return professional


def practices_managed(*, managed):
    from relais.directory.models import Practice

    # An administrator: every practice of their SAS's département; a coordinator: those
    # where a professional of their CPTS consults, or in their CPTS's communes.
    pros = Professional.objects.filter(
        Q(cpts_id__in=managed.cpts_ids) | Q(other_cpts__in=managed.cpts_ids)
    )
    ids = Practice.objects.filter(
        Q(commune__departement__code__in=managed.departement_codes)
        | Q(professionals__in=pros.values("pk"))
        | Q(commune__cpts_set__in=managed.cpts_ids)
    ).values("pk")
    return (
        Practice.objects.filter(pk__in=ids)
        .select_related("commune")
        .prefetch_related("professionals")
    )


def practice_managed_get(*, managed, public_id):
    from django.http import Http404

    practice = practices_managed(managed=managed).filter(public_id=public_id).first()
    if practice is None:
        raise Http404("Lieu d'exercice introuvable.")
    return practice


def managed_departements(*, managed) -> set[str]:
    """The départements of the manager's CPTS (a coordinator's practices lie there)."""
    from relais.territory.models import Cpts

    return set(
        Cpts.objects.filter(pk__in=managed.cpts_ids).values_list(
            "sas__departement__code", flat=True
        )
    )


def join_requests_for(*, managed, status: str | None = "pending"):
    from relais.directory.models import JoinRequest

    qs = JoinRequest.objects.filter(cpts_id__in=managed.cpts_ids).select_related("cpts", "commune")
    return qs.filter(status=status) if status else qs


def join_requests_pending_count(*, managed) -> int:
    return join_requests_for(managed=managed).count()


def join_request_managed_get(*, managed, public_id):
    from django.http import Http404

    found = join_requests_for(managed=managed, status=None).filter(public_id=public_id).first()
    if found is None:
        raise Http404("Demande introuvable.")
    return found


def import_batch_managed_get(*, managed, public_id):
    from django.http import Http404

    from relais.directory.models import ImportBatch

    batch = (
        ImportBatch.objects.select_related("cpts")
        .filter(cpts_id__in=managed.cpts_ids, public_id=public_id)
        .first()
    )
    if batch is None:
        raise Http404("Import introuvable.")
    return batch
