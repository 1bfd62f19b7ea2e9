"""What a FHIR resource says of a SAS regulator (INT_R02), without the accounts endpoint:
the identifier systems, the operator identifier of a booking made by a regulator account
and the signed deep link of `Slot.comment`. relais.interop.resources reads these;
relais.interop.regulators (the endpoint and the link's landing page) builds on them, so
the resources never import the endpoint that renders them."""

from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.urls import reverse

SYSTEM_NATIONAL = "urn:oid:1.2.250.1.71.4.2.1"  # IDNPS (RPPS / ADELI prefixed)
SYSTEM_SAS = "urn:oid:1.2.250.1.213.3.6"  # SAS technical id; also the platform's meta.source
SYSTEM_V2_0203 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
LINK_SALT = "relais.interop.sas-slot-link"


def regulator_identifier(user) -> dict | None:
    """The FrAppointmentOperator identifier of a booking made by a SAS regulator account
    (national id if known, else the SAS technical id), or None for anyone else."""
    account = getattr(user, "sas_regulator", None) if user is not None else None
    if account is None:
        return None
    if account.national_id:
        code, system, value = "IDNPS", SYSTEM_NATIONAL, account.national_id
    else:
        code, system, value = "INTRN", SYSTEM_SAS, account.technical_id
    return {
        "type": {"coding": [{"system": SYSTEM_V2_0203, "code": code}]},
        "system": system,
        "value": value,
    }


def sas_deep_link(slot) -> str:
    """The URL of `Slot.comment`: this slot's booking, signed by Relais and valid
    RELAIS_SAS_LINK_MINUTES (the platform re-reads slots at every search). No patient data:
    the slot's public id only."""
    token = signing.dumps(str(slot.public_id), salt=LINK_SALT)
    return settings.SITE_URL + _link_path(token)


_PLACEHOLDER = "TOKEN"


@lru_cache(maxsize=1)
def _link_path_parts() -> tuple[str, str]:
    path = reverse("interop:sas_slot_link", args=[_PLACEHOLDER])
    head, _, tail = path.rpartition(_PLACEHOLDER)
    return head, tail


def _link_path(token: str) -> str:
    """reverse("interop:sas_slot_link", args=[token]), resolved once: reverse() cost
    0.22 ms a slot (an INT_R01 batch publishes hundreds). A signed token holds only
    URL-safe characters (base64url and ':'), which reverse() leaves as they are."""
    head, tail = _link_path_parts()
    return f"{head}{token}{tail}"
