from ninja import Router, Schema

from relais.territory.selectors import communes_search

router = Router(tags=["territoire"])


class CommuneOut(Schema):
    insee: str
    name: str
    postal_codes: list[str]
    departement: str
    latitude: float | None
    longitude: float | None


@router.get("", response=list[CommuneOut], summary="Recherche de communes (autocomplétion)")
def communes(request, q: str, limit: int = 10):
    found = communes_search(query=q, limit=max(1, min(limit, 50)))
    return [
        CommuneOut(
            insee=c.insee,
            name=c.name,
            postal_codes=[p for p in c.postal_codes.split(";") if p],
            departement=c.departement.code,
            latitude=c.latitude,
            longitude=c.longitude,
        )
        for c in found
    ]
