"""Reads for the territory: commune autocomplete, CPTS of a commune."""

from django.db.models import Q, QuerySet

from relais.territory.geo import search_key
from relais.territory.models import Commune, Cpts


def communes_search(*, query: str, departement_codes: list[str] | None = None, limit: int = 10):
    """Communes whose name starts with the query (accent-insensitive) or whose postal
    code starts with it; the most populated first, so 'saint' proposes big towns."""
    qs = _communes_matching(query)
    if qs is None:
        return []
    if departement_codes:
        qs = qs.filter(departement__code__in=departement_codes)
    return list(qs.order_by("-population", "name")[:limit])


def _communes_matching(query: str):
    """The communes a typed prefix or postal code may mean (None: nothing can match)."""
    query = (query or "").strip()
    # Longer than any commune name or postal code list: nothing can start with it (and a
    # 50,000-character LIKE pattern is refused by SQLite as "too complex").
    if not 2 <= len(query) <= 100:
        return None
    qs = Commune.objects.select_related("departement")
    if query.isdigit():
        return qs.filter(Q(postal_codes__startswith=query) | Q(postal_codes__contains=f";{query}"))
    key = search_key(query)
    return qs.filter(Q(search_name__startswith=key) | Q(search_name__contains=f" {key}"))


def departement_codes_for_scope(scope) -> list[str]:
    """The départements of a caller's territory: those of its SAS, and of its CPTS's SAS."""
    from relais.territory.models import Departement

    if not scope.sas_ids and not scope.cpts_ids:
        return []
    return list(
        Departement.objects.filter(
            Q(sas__id__in=scope.sas_ids) | Q(sas__cpts_set__id__in=scope.cpts_ids)
        )
        .values_list("code", flat=True)
        .distinct()
        .order_by("code")
    )


_CENTRES: dict[tuple[str, ...], tuple[float, float] | None] = {}


def _territory_centre(codes: tuple[str, ...]) -> tuple[float, float] | None:
    """The mean point of a territory's communes (cached per process: reference data)."""
    from django.db.models import Avg

    if codes not in _CENTRES:
        centre = Commune.objects.filter(
            departement__code__in=codes, latitude__isnull=False
        ).aggregate(lat=Avg("latitude"), lon=Avg("longitude"))
        _CENTRES[codes] = (centre["lat"], centre["lon"]) if centre["lat"] is not None else None
    return _CENTRES[codes]


def communes_search_territory_first(
    *, query: str, departement_codes: list[str], limit: int = 10
) -> list[Commune]:
    """The commune autocomplete of an operator: the communes of their territory first
    (most populated first), then the others nearest the territory first (its
    neighbours, then the rest of the country). Without a territory: the national order."""
    import math

    from django.db.models import ExpressionWrapper, F, FloatField

    qs = _communes_matching(query)
    if qs is None:
        return []
    codes = tuple(sorted(set(departement_codes or ())))
    if not codes:
        return list(qs.order_by("-population", "name")[:limit])
    inside = list(qs.filter(departement__code__in=codes).order_by("-population", "name")[:limit])
    if len(inside) >= limit:
        return inside
    rest = qs.exclude(departement__code__in=codes)
    centre = _territory_centre(codes)
    if centre is None:
        rest = rest.order_by("-population", "name")
    else:
        lat, lon = centre
        scale = math.cos(math.radians(lat))
        # Squared equirectangular distance in degrees: enough to rank by nearness.
        rest = rest.annotate(
            far=ExpressionWrapper(
                (F("latitude") - lat) * (F("latitude") - lat)
                + (F("longitude") - lon) * (F("longitude") - lon) * scale * scale,
                output_field=FloatField(),
            )
        ).order_by(F("far").asc(nulls_last=True), "-population", "name")
    return inside + list(rest[: limit - len(inside)])


def communes_exact_in_territory(*, value: str, departement_codes: list[str]) -> list[Commune]:
    """The communes an operator's full entry names: an exact name (accent-insensitive)
    or a 5-digit postal code, inside their territory. Several: ambiguous."""
    value = (value or "").strip()
    if not value or len(value) > 100 or not departement_codes:
        return []
    qs = Commune.objects.select_related("departement").filter(
        departement__code__in=departement_codes
    )
    if value.isdigit() and len(value) == 5:
        qs = qs.filter(
            Q(postal_codes=value)
            | Q(postal_codes__startswith=f"{value};")
            | Q(postal_codes__endswith=f";{value}")
            | Q(postal_codes__contains=f";{value};")
        )
    else:
        qs = qs.filter(search_name=search_key(value))
    return list(qs.order_by("-population", "name")[:5])


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


# --- back-office (docs/administration.md): the territory a manager may see ---------------


def sas_managed_list(*, managed):
    from relais.territory.models import Sas

    return Sas.objects.filter(pk__in=managed.sas_ids).select_related("departement")


def sas_managed_get(*, managed, public_id):
    from django.http import Http404

    sas = sas_managed_list(managed=managed).filter(public_id=public_id).first()
    if sas is None:
        raise Http404("SAS introuvable.")
    return sas


def cpts_managed_list(*, managed) -> QuerySet[Cpts]:
    from django.db.models import Count

    return (
        Cpts.objects.filter(pk__in=managed.cpts_ids)
        .select_related("sas__departement")
        .annotate(commune_count=Count("communes", distinct=True))
        .order_by("sas__departement__code", "name")
    )


def cpts_managed_get(*, managed, public_id) -> Cpts:
    """A CPTS the user manages, else 404 (as for one that does not exist)."""
    from django.http import Http404

    cpts = (
        Cpts.objects.select_related("sas__departement")
        .filter(pk__in=managed.cpts_ids, public_id=public_id)
        .first()
    )
    if cpts is None:
        raise Http404("CPTS introuvable.")
    return cpts


def communes_by_insee(*, codes: list[str]) -> dict[str, Commune]:
    return {
        c.insee: c for c in Commune.objects.select_related("departement").filter(insee__in=codes)
    }


def commune_for_address(*, postal_code: str, city: str) -> tuple[Commune | None, str]:
    """The INSEE commune of a practice's address, from its postal code and town name
    (no geocoding service is reachable from Relais: the commune's centroid stands for the
    address until someone adjusts the coordinates). Returns (commune, "") or (None, the
    French reason)."""
    postal_code = (postal_code or "").strip().replace(" ", "")
    if not (postal_code.isdigit() and len(postal_code) == 5):
        return None, "Code postal invalide (5 chiffres)."
    candidates = list(
        Commune.objects.select_related("departement").filter(
            Q(postal_codes=postal_code)
            | Q(postal_codes__startswith=f"{postal_code};")
            | Q(postal_codes__endswith=f";{postal_code}")
            | Q(postal_codes__contains=f";{postal_code};")
        )
    )
    if not candidates:
        return None, f"Aucune commune n'a le code postal {postal_code}."
    key = search_key(city or "")
    named = [c for c in candidates if c.search_name == key] if key else []
    if len(named) == 1:
        return named[0], ""
    if not key and len(candidates) == 1:
        return candidates[0], ""
    if len(candidates) == 1 and not named:
        return None, (
            f"Le code postal {postal_code} est celui de {candidates[0].name}, pas de « {city} »."
        )
    names = ", ".join(sorted(c.name for c in candidates)[:8])
    return None, f"Précisez la commune du code postal {postal_code} : {names}."
