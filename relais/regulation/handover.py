"""Hand-over from the regulation software (LRM): a URL with parameters opens a
pre-filled intake form, so a call is never typed twice.

    /demandes/nouvelle/?origine=LRM&rpps_mt=99900000001&specialite=SM54&commune=91228
    /demandes/nouvelle/?origine=LRM&code_postal=91000&adresse=Évry-Courcouronnes

Only non-identifying context travels in the URL (origin, médecin traitant RPPS,
specialty, commune or address); the patient's identity is typed or searched in Relais.
"""

import re

from relais.directory.selectors import doctor_by_rpps
from relais.territory.selectors import commune_get, communes_search

RPPS = re.compile(r"^\d{11}$")
INSEE = re.compile(r"^\d[0-9AB]\d{3}$")


def handover_initial(params) -> dict:
    """Initial values of the intake form from the LRM parameters (unknown ones ignored)."""
    initial: dict = {}
    origin = (params.get("origine") or "").strip()[:30]
    if origin:
        initial["motif_text"] = f"[Transmis par {origin}] "
        initial["channel"] = "phone"
    rpps = (params.get("rpps_mt") or "").strip()
    if RPPS.match(rpps):
        doctor = doctor_by_rpps(rpps=rpps)
        if doctor is not None:
            initial["medecin_traitant"] = f"{doctor.display_name} — {doctor.rpps}"
    commune = None
    insee = (params.get("commune") or "").strip().upper()
    if INSEE.match(insee):
        commune = commune_get(insee=insee)
    if commune is None:
        query = (params.get("code_postal") or params.get("adresse") or "").strip()[:100]
        found = communes_search(query=query, limit=1) if query else []
        commune = found[0] if found else None
    if commune is not None:
        first_postal = commune.postal_codes.split(";")[0]
        initial["commune"] = f"{commune.name} ({first_postal}) — {commune.insee}"
    return initial
