"""Reads for the territory: commune autocomplete, CPTS of a commune."""

from django.db.models import Q, QuerySet

from relais.territory.geo import search_key
from relais.territory.models import Commune, Cpts


def communes_search(*, query: str, departement_codes: list[str] | None = None, limit: int = 10):
    """Communes whose name starts with the query (accent-insensitive) or whose postal
    code starts with it; the most populated first, so 'saint' proposes big towns."""
    query = (query or "").strip()
    # Longer than any commune name or postal code list: nothing can start with it (and a
    # 50,000-character LIKE pattern is refused by SQLite as "too complex").
    if not 2 <= len(query) <= 100:
        return []
    qs = Commune.objects.select_related("departement")
    if query.isdigit():
        qs = qs.filter(Q(postal_codes__startswith=query) | Q(postal_codes__contains=f";{query}"))
    else:
        key = search_key(query)
        qs = qs.filter(Q(search_name__startswith=key) | Q(search_name__contains=f" {key}"))
    if departement_codes:
        qs = qs.filter(departement__code__in=departement_codes)
    return list(qs.order_by("-population", "name")[:limit])


def commune_get(*, insee: str) -> Commune | None:
    return Commune.objects.select_related("departement").filter(insee=insee).first()


def communes_named(*, name: str, limit: int = 2) -> list[Commune]:
    """Communes whose name is exactly `name` (accent-insensitive)."""
    return list(
        Commune.objects.select_related("departement").filter(search_name=search_key(name))[:limit]
    )


def cpts_for_commune(*, commune: Commune) -> Cpts | None:
    return Cpts.objects.filter(communes=commune).select_related("sas").first()


def cpts_list(*, departement_codes: list[str] | None = None) -> QuerySet[Cpts]:
    qs = Cpts.objects.select_related("sas__departement")
    if departement_codes:
        qs = qs.filter(sas__departement__code__in=departement_codes)
    return qs


def cpts_get_public(*, public_id) -> Cpts | None:
    return Cpts.objects.select_related("sas").filter(public_id=public_id).first()


def cpts_communes(*, cpts: Cpts) -> list[Commune]:
    return list(cpts.communes.order_by("name"))
