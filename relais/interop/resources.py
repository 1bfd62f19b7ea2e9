"""FHIR R4 resources Relais emits, as plain JSON dicts (validated against the
`fhir.resources` R4B models in the tests). Codes and systems: ANS IG "Service d'Accès
aux Soins" (see /work/shared/DOMAIN.md)."""

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from relais.agenda.models import Modality, Slot
from relais.directory.models import Practice, Professional
from relais.territory.models import Cpts

FHIR_CONTENT_TYPE = "application/fhir+json; charset=utf-8"
FHIR_VERSION = "4.0.1"

SYSTEM_RPPS = "urn:oid:1.2.250.1.71.4.2.1"  # value "8" + RPPS (11 digits)
SYSTEM_STRUCTURE = "urn:oid:1.2.250.1.71.4.2.2"  # value "1" + FINESS
SYSTEM_TYPE_CRENEAU = (
    "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"
)
SYSTEM_SPECIALTY = (
    "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
)
SYSTEM_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SYSTEM_APPOINTMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"
SYSTEM_CISP2 = "urn:oid:1.2.250.1.213.2.10"  # CISP-2 (French ICPC-2)
SYSTEM_RELAIS_BOOKING = "urn:relais:booking"  # Relais's own appointment id
# Not from the ANS IG (its exact R4 mechanism is to be confirmed): Relais's own extension.
EXT_SERVICE_TYPE_REFERENCE = "urn:relais:fhir:service-type-reference"

MODALITY_SERVICE_TYPE = {
    Modality.CABINET: ("AMB", "ambulatory"),
    Modality.VISITE: ("HH", "home health"),
    Modality.TELECONSULTATION: ("VR", "virtual"),
}


def rpps_identifier(rpps: str) -> dict:
    return {"system": SYSTEM_RPPS, "value": f"8{rpps}"}


def finess_identifier(finess: str) -> dict:
    return {"system": SYSTEM_STRUCTURE, "value": f"1{finess}"}


def iso(dt) -> str:
    return timezone.localtime(dt).isoformat(timespec="seconds")


def base_url() -> str:
    return f"{settings.SITE_URL}/fhir"


def full_url(resource: dict) -> str:
    return f"{base_url()}/{resource['resourceType']}/{resource['id']}"


def schedule_id(slot: Slot) -> str:
    return f"sch-{slot.professional_id}-{slot.practice_id}"


def role_id(professional_id: int, practice_id: int) -> str:
    return f"role-{professional_id}-{practice_id}"


def security_labels(slot: Slot) -> list[dict]:
    codes = []
    if slot.for_public:
        codes.append("PUBLIC")
    if slot.for_partners:
        codes.append("PRO")
    if slot.for_sas:
        codes.append("SNP")
    if slot.for_cpts:
        codes.append("CPTS")
    return [{"system": SYSTEM_TYPE_CRENEAU, "code": c} for c in codes]


def slot_deep_link(slot: Slot) -> str:
    return settings.SITE_URL + reverse("interop:slot_open", args=[slot.public_id])


def slot_resource(slot: Slot, *, cpts: Cpts | None = None) -> dict:
    code, display = MODALITY_SERVICE_TYPE.get(slot.modality, MODALITY_SERVICE_TYPE["cabinet"])
    resource = {
        "resourceType": "Slot",
        "id": str(slot.public_id),
        "meta": {"security": security_labels(slot)},
        "serviceType": [
            {"coding": [{"system": SYSTEM_ACT_CODE, "code": code, "display": display}]}
        ],
        "appointmentType": {"coding": [{"system": SYSTEM_APPOINTMENT_TYPE, "code": "ROUTINE"}]},
        "schedule": {"reference": f"Schedule/{schedule_id(slot)}"},
        "status": "free" if slot.status == "free" else "busy",
        "start": iso(slot.start),
        "end": iso(slot.end),
        "comment": slot_deep_link(slot),
    }
    if slot.professional.specialty:
        resource["specialty"] = [
            {"coding": [{"system": SYSTEM_SPECIALTY, "code": slot.professional.specialty}]}
        ]
    if slot.is_plage:
        resource["overbooked"] = False
    if cpts is not None:
        # R4 has no CodeableReference: the reference rides in an extension of serviceType.
        resource["serviceType"].append(
            {
                "extension": [
                    {
                        "url": EXT_SERVICE_TYPE_REFERENCE,
                        "valueReference": {"reference": f"HealthcareService/hs-{cpts.pk}"},
                    }
                ],
                "text": cpts.name,
            }
        )
    return resource


def schedule_resource(slot: Slot) -> dict:
    return {
        "resourceType": "Schedule",
        "id": schedule_id(slot),
        "active": True,
        "actor": [
            {"reference": f"Practitioner/{slot.professional.public_id}"},
            {"reference": f"PractitionerRole/{role_id(slot.professional_id, slot.practice_id)}"},
        ],
    }


def practitioner_resource(pro: Professional) -> dict:
    return {
        "resourceType": "Practitioner",
        "id": str(pro.public_id),
        "identifier": [rpps_identifier(pro.rpps)],
        "active": pro.active,
        "name": [{"family": pro.last_name, "given": [pro.first_name]}],
    }


def _address(practice: Practice) -> dict:
    commune = practice.commune
    address = {"line": [practice.address], "city": commune.name}
    if commune.postal_codes:
        address["postalCode"] = commune.postal_codes.split(";")[0]
    return address


def location_resource(practice: Practice, *, id_: str | None = None) -> dict:
    resource = {
        "resourceType": "Location",
        "id": id_ or str(practice.public_id),
        "name": practice.name,
        "address": _address(practice),
        "position": {"latitude": practice.latitude, "longitude": practice.longitude},
    }
    if practice.phone:
        resource["telecom"] = [{"system": "phone", "value": practice.phone}]
    return resource


def practitioner_role_resource(pro: Professional, practice: Practice) -> dict:
    resource = {
        "resourceType": "PractitionerRole",
        "id": role_id(pro.pk, practice.pk),
        "contained": [location_resource(practice, id_="loc")],
        "active": pro.active,
        "practitioner": {"reference": f"Practitioner/{pro.public_id}"},
        "location": [{"reference": "#loc"}],
    }
    if pro.specialty:
        resource["specialty"] = [{"coding": [{"system": SYSTEM_SPECIALTY, "code": pro.specialty}]}]
    if pro.phone:
        resource["telecom"] = [{"system": "phone", "value": pro.phone}]
    return resource


def organization_resource(cpts: Cpts) -> dict:
    return {
        "resourceType": "Organization",
        "id": f"org-{cpts.pk}",
        "identifier": [finess_identifier(cpts.finess)],
        "active": True,
        "name": cpts.name,
    }


def healthcare_service_resource(cpts: Cpts) -> dict:
    return {
        "resourceType": "HealthcareService",
        "id": f"hs-{cpts.pk}",
        "active": True,
        "providedBy": {"reference": f"Organization/org-{cpts.pk}"},
        "name": f"Soins non programmés — {cpts.name}",
    }


def bundle_searchset(entries: list[tuple[dict, str]], *, self_url: str, total: int) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": iso(timezone.now()),
        "total": total,
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {"fullUrl": full_url(res), "resource": res, "search": {"mode": mode}}
            for res, mode in entries
        ],
    }


def operation_outcome(message: str, *, code: str = "processing", severity: str = "error") -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }


def appointment_resource(booking, *, identifier: dict | None = None) -> dict:
    """The Appointment as Relais reports it (to the caller, and to the SAS in INT_R03)."""
    slot = booking.slot
    pro = slot.professional
    identifiers = [{"system": SYSTEM_RELAIS_BOOKING, "value": str(booking.public_id)}]
    if identifier:
        identifiers.insert(0, identifier)
    resource = {
        "resourceType": "Appointment",
        "id": str(booking.public_id),
        "identifier": identifiers,
        "status": booking.status,
        "start": iso(slot.start),
        "end": iso(slot.end),
        "created": iso(booking.created_at),
        "slot": [{"reference": f"Slot/{slot.public_id}"}],
        "serviceType": [
            {
                "coding": [
                    {
                        "system": SYSTEM_ACT_CODE,
                        "code": MODALITY_SERVICE_TYPE.get(
                            slot.modality, MODALITY_SERVICE_TYPE["cabinet"]
                        )[0],
                    }
                ]
            }
        ],
        "participant": [
            {
                "actor": {
                    "reference": f"Practitioner/{pro.public_id}",
                    "identifier": rpps_identifier(pro.rpps),
                    "display": pro.display_name,
                },
                "status": "accepted",
            },
            {
                "actor": {
                    "reference": f"Patient/{booking.request.patient.public_id}",
                    "display": "Patient",
                },
                "status": "accepted",
            },
        ],
    }
    if pro.specialty:
        resource["specialty"] = [{"coding": [{"system": SYSTEM_SPECIALTY, "code": pro.specialty}]}]
    return resource


def capability_statement() -> dict:
    def search(name, doc):
        return {"name": name, "type": "token" if name != "start" else "date", "documentation": doc}

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": iso(timezone.now()),
        "publisher": "Relais",
        "kind": "instance",
        "software": {"name": "Relais"},
        "implementation": {
            "description": "Relais — FHIR SAS (INT_R01, INT_R03, INT_R04)",
            "url": base_url(),
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": "Jeton porteur (Authorization: Bearer rls_…) créé avec "
                    "`relais create_api_client`, portées slots:read, appointments:read, "
                    "appointments:write.",
                },
                "resource": [
                    {
                        "type": "Slot",
                        "interaction": [{"code": "search-type"}],
                        "searchInclude": [
                            "Slot:schedule",
                            "Schedule:actor",
                            "Slot:service-type-reference",
                            "HealthcareService:organization",
                        ],
                        "searchParam": [
                            search("start", "ge… et le… (fenêtre de recherche)"),
                            search("status", "free"),
                            search(
                                "schedule.actor:Practitioner.identifier",
                                "1 à 25 RPPS : urn:oid:1.2.250.1.71.4.2.1|8…",
                            ),
                        ],
                    },
                    {
                        "type": "Appointment",
                        "interaction": [
                            {"code": "create"},
                            {"code": "update"},
                            {"code": "search-type"},
                        ],
                        "conditionalUpdate": True,
                        "searchParam": [search("identifier", "system|value")],
                    },
                ],
                "operation": [
                    {
                        "name": "bulk-publish",
                        "definition": "http://fhir.org/guides/smart-scheduling-links",
                    }
                ],
            }
        ],
    }
