"""Writes for the territory: loading the real communes file."""

import csv
import gzip
import io
from pathlib import Path

from django.db import transaction

from relais.territory.geo import search_key
from relais.territory.models import Commune, Departement

COMMUNES_FILE = Path(__file__).resolve().parent / "data" / "communes-fr.csv.gz"

# Paris, Lyon and Marseille are present both as communes and as arrondissements;
# we keep the arrondissements too (a patient in Paris 15e is closer to a doctor in
# the 15e), see data/README-communes.md.


def _float(value: str) -> float | None:
    return float(value) if value else None


@transaction.atomic
def communes_load(*, path: Path = COMMUNES_FILE, departements: set[str] | None = None) -> int:
    """Load (or refresh) départements and communes from the INSEE/La Poste file.

    Idempotent: existing rows are updated in place, keyed by INSEE code.
    Returns the number of communes in the database for the loaded départements.
    """
    with gzip.open(path, "rb") as raw:
        rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")))
    if departements:
        rows = [r for r in rows if r["departement"] in departements]

    deps: dict[str, Departement] = {d.code: d for d in Departement.objects.all()}
    new_deps = []
    for row in rows:
        code = row["departement"]
        if code not in deps:
            dep = Departement(
                code=code,
                name=row["departement_name"],
                region_code=row["region"],
                region_name=row["region_name"],
            )
            deps[code] = dep
            new_deps.append(dep)
    Departement.objects.bulk_create(new_deps)
    deps = {d.code: d for d in Departement.objects.all()}

    fields = [
        "name",
        "search_name",
        "postal_codes",
        "departement_id",
        "latitude",
        "longitude",
        "population",
    ]
    existing = {
        row[0]: row for row in Commune.objects.values_list("insee", "pk", *fields).iterator()
    }
    to_create, to_update = [], []
    for row in rows:
        commune = Commune(
            insee=row["insee"],
            name=row["name"],
            search_name=search_key(row["name"]),
            postal_codes=row["postal_codes"],
            departement=deps[row["departement"]],
            latitude=_float(row["latitude"]),
            longitude=_float(row["longitude"]),
            population=int(row["population"]) if row["population"] else None,
        )
        current = existing.get(commune.insee)
        if current is None:
            to_create.append(commune)
        elif current[2:] != tuple(getattr(commune, f) for f in fields):
            # Only rows that changed are written: a reload of the same file is a no-op.
            commune.pk = current[1]
            to_update.append(commune)
    Commune.objects.bulk_create(to_create, batch_size=2000)
    Commune.objects.bulk_update(to_update, [f.removesuffix("_id") for f in fields], batch_size=500)
    return len(rows)


# --- back-office settings (docs/administration.md) ----------------------------------------

SETTINGS_FIELDS = (
    "name", "phone", "email", "address", "finess", "siret", "majoration_eur",
    "majoration_weekly_cap", "forfait_eur", "service_hours",
)  # fmt: skip


def _identifiers_check(*, finess: str, siret: str, current=None) -> list[str]:
    from relais.directory.identifiers import finess_error, siret_error

    errors = []
    # A number already stored is kept as it is (the demo's are fictitious); a new one is checked.
    if finess and (current is None or finess != current.finess) and (e := finess_error(finess)):
        errors.append(e)
    if siret and (current is None or siret != current.siret) and (e := siret_error(siret)):
        errors.append(e)
    return errors


@transaction.atomic
def cpts_update_settings(*, actor, cpts, data: dict, commune_codes: list[str] | None = None):
    """A CPTS's settings (contact, identifiers, pay parameters, service hours and closures
    of the web form) and, when given, its communes (INSEE codes of its SAS's département).
    `data` holds SETTINGS_FIELDS; the caller checked the actor manages this CPTS."""
    from relais.audit.services import audit_record
    from relais.core.errors import ApplicationError
    from relais.territory.models import Cpts

    errors = _identifiers_check(finess=data["finess"], siret=data["siret"], current=cpts)
    if Cpts.objects.filter(name=data["name"]).exclude(pk=cpts.pk).exists():
        errors.append(f"Une CPTS s'appelle déjà « {data['name']} ».")
    if data["finess"] != cpts.finess and Cpts.objects.filter(finess=data["finess"]).exists():
        errors.append("Ce numéro FINESS est déjà celui d'une autre CPTS.")
    communes = None
    if commune_codes is not None:
        communes, commune_errors = _communes_of(cpts.sas, commune_codes)
        errors += commune_errors
    if errors:
        raise ApplicationError(" ".join(errors), code="invalid_settings")
    changed = [f for f in SETTINGS_FIELDS if getattr(cpts, f) != data[f]]
    for f in changed:
        setattr(cpts, f, data[f])
    if changed:
        cpts.save(update_fields=changed)
    if communes is not None:
        before = set(cpts.communes.values_list("insee", flat=True))
        after = {c.insee for c in communes}
        if before != after:
            cpts.communes.set(communes)
            changed.append(f"communes (+{len(after - before)} / -{len(before - after)})")
    if changed:
        audit_record(
            user=actor, action="update", obj=cpts, reason=("réglages : " + ", ".join(changed))[:200]
        )
    return cpts


def _communes_of(sas, codes: list[str]):
    from relais.territory.selectors import communes_by_insee

    codes = sorted({c.strip().upper() for c in codes if c.strip()})
    found = communes_by_insee(codes=codes)
    errors = []
    unknown = [c for c in codes if c not in found]
    if unknown:
        errors.append(f"Codes INSEE inconnus : {', '.join(unknown[:10])}.")
    outside = [c.name for c in found.values() if c.departement_id != sas.departement_id]
    if outside:
        errors.append(
            f"Communes hors du département du SAS ({sas.departement.name}) : "
            f"{', '.join(sorted(outside)[:10])}."
        )
    return list(found.values()), errors


@transaction.atomic
def cpts_create(*, actor, sas, name: str, finess: str, siret: str = "", phone: str = "",
                email: str = ""):  # fmt: skip
    """A new CPTS in an administered SAS (the caller checked the SAS is the actor's)."""
    from relais.audit.services import audit_record
    from relais.core.errors import ApplicationError
    from relais.directory.identifiers import clean, finess_error
    from relais.territory.models import Cpts

    name, finess, siret = name.strip(), clean(finess), clean(siret)
    errors = [finess_error(finess)] if finess_error(finess) else []
    errors += _identifiers_check(finess="", siret=siret)
    if Cpts.objects.filter(name=name).exists():
        errors.append(f"Une CPTS s'appelle déjà « {name} ».")
    if Cpts.objects.filter(finess=finess).exists():
        errors.append("Ce numéro FINESS est déjà celui d'une autre CPTS.")
    if not name:
        errors.append("Le nom est obligatoire.")
    if errors:
        raise ApplicationError(" ".join(errors), code="invalid_settings")
    cpts = Cpts.objects.create(
        name=name, finess=finess, siret=siret, sas=sas, phone=phone, email=email,
        service_hours={},
    )  # fmt: skip
    audit_record(user=actor, action="create", obj=cpts, reason="CPTS créée")
    return cpts


@transaction.atomic
def sas_update_settings(*, actor, sas, name: str, phone: str, radius_km: int,
                        forfait_eur=None, forfait_min_weekly_hours=None):  # fmt: skip
    """A SAS's name and phone, its département's search radius (1 to 100 km) and the
    participation forfait of its effecteurs (amount 0 to 99,999 €, 0.5 to 40 h published a
    week; None = the national settings; a CPTS's own amount comes first)."""
    from decimal import Decimal

    from relais.audit.services import audit_record
    from relais.core.errors import ApplicationError

    if not 1 <= radius_km <= 100:
        raise ApplicationError("Le rayon de recherche doit être compris entre 1 et 100 km.")
    if not name.strip():
        raise ApplicationError("Le nom est obligatoire.")
    if forfait_eur is not None and not 0 <= Decimal(forfait_eur) <= 99999:
        raise ApplicationError("Le forfait doit être compris entre 0 et 99 999 €.")
    if forfait_min_weekly_hours is not None and not (
        Decimal("0.5") <= Decimal(forfait_min_weekly_hours) <= 40
    ):
        raise ApplicationError("Les heures par semaine doivent être comprises entre 0,5 et 40.")
    changed = []
    for field, label, value in (
        ("forfait_eur", "forfait", forfait_eur),
        ("forfait_min_weekly_hours", "heures du forfait", forfait_min_weekly_hours),
    ):
        value = None if value is None else Decimal(value).quantize(Decimal("0.01"))
        if getattr(sas, field) != value:
            setattr(sas, field, value)
            sas.save(update_fields=[field])
            shown = "national" if value is None else f"{value:f}".replace(".", ",")
            changed.append(f"{label} {shown}")
    if (sas.name, sas.phone) != (name.strip(), phone.strip()):
        sas.name, sas.phone = name.strip(), phone.strip()
        sas.save(update_fields=["name", "phone"])
        changed.append("nom/téléphone")
    dep = sas.departement
    if dep.default_radius_km != radius_km:
        dep.default_radius_km = radius_km
        dep.save(update_fields=["default_radius_km"])
        changed.append(f"rayon {radius_km} km")
    if changed:
        audit_record(
            user=actor, action="update", obj=sas, reason="réglages : " + ", ".join(changed)
        )
    return sas
