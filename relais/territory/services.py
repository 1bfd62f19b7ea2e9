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
