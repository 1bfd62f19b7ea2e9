"""FHIR R4 resources Relais emits, as plain JSON dicts (validated against the
`fhir.resources` R4B models in the tests). Codes and systems: ANS IG "Service d'Accès
aux Soins" (see /work/shared/DOMAIN.md)."""

from django.conf import settings
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
SYSTEM_RELAIS_BOOKING = "urn:relais:booking"  # former system of Relais's ids (still read)
SYSTEM_V2_0203 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
SYSTEM_FR_CORE_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
SYSTEM_LOCATION_ID_TYPE = "http://interopsante.org/fhir/CodeSystem/fr-location-identifier-type"
SYSTEM_TRE_R66 = (
    "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/"
    "TRE-R66-CategorieEtablissement"
)
# The ANS IG's R5 cross-version extension: Slot.serviceType is a CodeableReference in R5.
EXT_SERVICE_TYPE_REFERENCE = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Slot.serviceType"
)
EXT_APPOINTMENT_OPERATOR = "http://interopsante.org/fhir/StructureDefinition/FrAppointmentOperator"

# Canonical URLs of the ANS IG v1.2.0 profiles (tests/interop/ig/package).
_IG = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition"
PROFILE_SLOT = "http://sas.fr/fhir/StructureDefinition/FrSlotAgregateur"
PROFILE_SLOT_CPTS = f"{_IG}/sas-cpts-slot-aggregator"
PROFILE_SCHEDULE = "http://sas.fr/fhir/StructureDefinition/FrScheduleAgregateur"
PROFILE_PRACTITIONER = "http://sas.fr/fhir/StructureDefinition/FrPractitionerAgregateur"
PROFILE_REGULATOR = f"{_IG}/FrPractitionerRegul"  # INT_R02 (relais.interop.regulators)
PROFILE_ROLE = "http://sas.fr/fhir/StructureDefinition/FrPractitionerRoleExerciceAgregateur"
PROFILE_LOCATION = "http://sas.fr/fhir/StructureDefinition/FrLocationAgregateur"
PROFILE_HEALTHCARE_SERVICE = f"{_IG}/sas-cpts-healthcareservice-aggregator"
PROFILE_ORGANIZATION = f"{_IG}/sas-cpts-organization-aggregator"
PROFILE_APPOINTMENT = "http://sas.fr/fhir/StructureDefinition/FrAppointmentSAS"
PROFILE_BUNDLE = "http://sas.fr/fhir/StructureDefinition/BundleAgregateur"
PROFILE_BUNDLE_CPTS = f"{_IG}/sas-cpts-bundle-aggregator"
# French overseas prefixes (0262… → +262…), else +33.
_OVERSEAS = {
    "0262": "+262",
    "0692": "+262",
    "0693": "+262",
    "0590": "+590",
    "0690": "+590",
    "0596": "+596",
    "0696": "+596",
    "0594": "+594",
    "0694": "+594",
}

MODALITY_SERVICE_TYPE = {
    Modality.CABINET: ("AMB", "ambulatory"),
    Modality.VISITE: ("HH", "home health"),
    Modality.TELECONSULTATION: ("VR", "virtual"),
}


def rpps_identifier(rpps: str) -> dict:
    """IDNPS of a professional: 8 + RPPS, typed IDNPS (FrPractitioner)."""
    return {
        "type": {"coding": [{"system": SYSTEM_V2_0203, "code": "IDNPS"}]},
        "system": SYSTEM_RPPS,
        "value": f"8{rpps}",
    }


def finess_identifier(finess: str) -> dict:
    """IDNST of a CPTS: 1 + FINESS, typed IDNST (fr-core), as the IG's Organization."""
    return {
        "type": {"coding": [{"system": SYSTEM_FR_CORE_V2_0203, "code": "IDNST"}]},
        "system": SYSTEM_STRUCTURE,
        "value": f"1{finess}",
    }


def rpps_rang_identifier(rpps: str, rang: int) -> dict:
    """IDNST of a professional's cabinet: 4 + RPPS + rang on 3 digits (RPPS-rang)."""
    return {
        "type": {"coding": [{"system": SYSTEM_V2_0203, "code": "IDNST"}]},
        "system": SYSTEM_STRUCTURE,
        "value": f"4{rpps}{rang:03d}",
    }


def phone_e164(raw: str) -> str | None:
    """A French number as the IG writes it (+33…, +262…), None when it is not one."""
    digits = "".join(ch for ch in raw or "" if ch.isdigit() or ch == "+")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("+"):
        return digits if 11 <= len(digits) <= 13 and digits[1:].isdigit() else None
    if len(digits) == 10 and digits.startswith("0"):
        prefix = _OVERSEAS.get(digits[:4])
        return f"{prefix}{digits[1:]}" if prefix else f"+33{digits[1:]}"
    return None


def iso(dt) -> str:
    return timezone.localtime(dt).isoformat(timespec="seconds")


def instant(dt) -> str:
    """The IG's dateTime form: milliseconds and offset (2026-12-02T10:20:00.000+01:00)."""
    return timezone.localtime(dt).isoformat(timespec="milliseconds")


def identifier_system() -> str:
    """The installation's URL for the identifiers it gives (INT_R03 Appointment.identifier)."""
    return getattr(settings, "RELAIS_FHIR_IDENTIFIER_SYSTEM", "") or f"{base_url()}/Appointment"


def base_url() -> str:
    return f"{settings.SITE_URL}/fhir"


def full_url(resource: dict) -> str:
    return f"{base_url()}/{resource['resourceType']}/{resource['id']}"


def schedule_id(slot: Slot) -> str:
    return f"sch-{slot.professional_id}-{slot.practice_id}"


def role_id(professional_id: int, practice_id: int) -> str:
    return f"role-{professional_id}-{practice_id}"


def slot_types(slot: Slot, *, cpts: bool = True) -> list[str]:
    """The TRE_R314 types a slot is open to; SNP only for a SAS participant, CPTS only
    for a member of a CPTS (`cpts`), whatever the slot's own flags."""
    codes = []
    if slot.for_public:
        codes.append("PUBLIC")
    if slot.for_partners:
        codes.append("PRO")
    if slot.for_sas and slot.professional.sas_participant:
        codes.append("SNP")
    if slot.for_cpts and cpts:
        codes.append("CPTS")
    return codes


def security_labels(slot: Slot, codes: list[str] | None = None) -> list[dict]:
    codes = slot_types(slot) if codes is None else codes
    return [{"system": SYSTEM_TYPE_CRENEAU, "code": c} for c in codes]


def specialty(pro: Professional) -> list[dict]:
    """TRE_R38, always: the professional's, else médecine générale for a physician."""
    from relais.directory.models import Profession

    code = pro.specialty or ("SM54" if pro.profession == Profession.MEDECIN else "")
    return [{"coding": [{"system": SYSTEM_SPECIALTY, "code": code}]}] if code else []


def partner_deep_link(slot: Slot) -> str | None:
    """The partner's own booking link of a slot mirrored from its agenda
    (PartnerSlot.deep_link), else None. A mirror is booked there, never in Relais behind
    the partner's back: the SMART feed and the SAS Slot.comment both give it."""
    if not slot.is_partner_mirror:
        return None
    mirror = getattr(slot, "partner_mirror", None)  # select_related by the searches
    return (mirror.deep_link or None) if mirror is not None else None


def slot_deep_link(slot: Slot) -> str:
    """Slot.comment: the partner's link for a mirrored slot, else our signed,
    short-lived SAS booking link (INT_R02)."""
    from relais.interop.regulator_links import sas_deep_link

    return partner_deep_link(slot) or sas_deep_link(slot)


def slot_resource(
    slot: Slot, *, cpts_list=(), cpts_variant: bool = False, types: list[str] | None = None
) -> dict:
    """One Slot (one per plage: appointmentType WALKIN). In the CPTS variant (INT_R04)
    the IG's CPTS profile, and one serviceType TRE_R66 604 per CPTS that sees the slot,
    carrying the R5 cross-version extension that references its HealthcareService."""
    code, display = MODALITY_SERVICE_TYPE.get(slot.modality, MODALITY_SERVICE_TYPE["cabinet"])
    service_types = [{"coding": [{"system": SYSTEM_ACT_CODE, "code": code, "display": display}]}]
    for cpts in cpts_list:
        service_types.append(
            {
                "extension": [
                    {
                        "url": EXT_SERVICE_TYPE_REFERENCE,
                        "valueReference": {"reference": f"HealthcareService/hs-{cpts.pk}"},
                    }
                ],
                "coding": [
                    {
                        "system": SYSTEM_TRE_R66,
                        "code": "604",
                        "display": "Communauté Professionnelle Territoriale de Santé (CPTS)",
                    }
                ],
                "text": cpts.name,
            }
        )
    resource = {
        "resourceType": "Slot",
        "id": str(slot.public_id),
        "meta": {
            "profile": [PROFILE_SLOT_CPTS if cpts_variant else PROFILE_SLOT],
            "security": security_labels(slot, types),
        },
        "serviceType": service_types,
        "appointmentType": {
            "coding": [
                {
                    "system": SYSTEM_APPOINTMENT_TYPE,
                    "code": "WALKIN" if slot.is_plage else "ROUTINE",
                }
            ]
        },
        "schedule": {"reference": f"Schedule/{schedule_id(slot)}"},
        "status": "free" if slot.status == "free" else "busy",
        "start": instant(slot.start),
        "end": instant(slot.end),
        "comment": slot_deep_link(slot),
    }
    if not resource["meta"]["security"]:
        del resource["meta"]["security"]
    spec = specialty(slot.professional)
    if spec:
        resource["specialty"] = spec
    return resource


def schedule_resource(slot: Slot) -> dict:
    return {
        "resourceType": "Schedule",
        "id": schedule_id(slot),
        "meta": {"profile": [PROFILE_SCHEDULE]},
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
        "meta": {"profile": [PROFILE_PRACTITIONER]},
        "identifier": [rpps_identifier(pro.rpps)],
        "active": pro.active,
        "name": [{"family": pro.last_name, "given": [pro.first_name]}],
    }


def _address(practice: Practice) -> dict:
    commune = practice.commune
    address = {"line": [practice.address or practice.name], "city": commune.name}
    if commune.postal_codes:
        address["postalCode"] = commune.postal_codes.split(";")[0]
    return address


def location_identifier(practice: Practice) -> dict:
    return {
        "type": {"coding": [{"system": SYSTEM_LOCATION_ID_TYPE, "code": "INTRN"}]},
        "system": f"{base_url()}/Location",
        "value": str(practice.public_id),
    }


def location_resource(practice: Practice, *, id_: str | None = None, profile: bool = False) -> dict:
    resource = {"resourceType": "Location", "id": id_ or str(practice.public_id)}
    if profile:
        resource["meta"] = {"profile": [PROFILE_LOCATION]}
    resource.update(
        identifier=[location_identifier(practice)],
        name=practice.name,
        address=_address(practice),
        position={"latitude": practice.latitude, "longitude": practice.longitude},
    )
    phone = phone_e164(practice.phone)
    if phone:
        resource["telecom"] = [{"system": "phone", "value": phone}]
    return resource


def practice_rang(pro: Professional, practice: Practice) -> int:
    """The place's rank among the professional's places (1, 2…), stable by creation."""
    ids = list(pro.practices.order_by("pk").values_list("pk", flat=True))
    return ids.index(practice.pk) + 1 if practice.pk in ids else 1


def practitioner_role_resource(
    pro: Professional, practice: Practice, *, rang: int | None = None
) -> dict:
    resource = {
        "resourceType": "PractitionerRole",
        "id": role_id(pro.pk, practice.pk),
        "meta": {"profile": [PROFILE_ROLE]},
        "contained": [location_resource(practice, id_="loc", profile=True)],
        "active": pro.active,
        "practitioner": {"reference": f"Practitioner/{pro.public_id}"},
        "organization": {
            "identifier": rpps_rang_identifier(pro.rpps, rang or practice_rang(pro, practice)),
            "display": practice.name,
        },
        "location": [{"reference": "#loc"}],
    }
    spec = specialty(pro)
    if spec:
        resource["specialty"] = spec
    phone = phone_e164(pro.phone) or phone_e164(practice.phone)
    if phone:
        resource["telecom"] = [{"system": "phone", "value": phone}]
    return resource


def organization_resource(cpts: Cpts) -> dict:
    resource = {
        "resourceType": "Organization",
        "id": f"org-{cpts.pk}",
        "meta": {"profile": [PROFILE_ORGANIZATION]},
        "identifier": [finess_identifier(cpts.finess)],
        "active": True,
        "name": cpts.name,
    }
    phone = phone_e164(cpts.phone)
    if phone:
        resource["telecom"] = [{"system": "phone", "value": phone}]
    return resource


def healthcare_service_resource(cpts: Cpts) -> dict:
    return {
        "resourceType": "HealthcareService",
        "id": f"hs-{cpts.pk}",
        "meta": {"profile": [PROFILE_HEALTHCARE_SERVICE]},
        "active": True,
        "providedBy": {"reference": f"Organization/org-{cpts.pk}"},
        "name": f"Soins non programmés — {cpts.name}",
    }


def bundle_searchset(
    entries: list[tuple[dict, str]], *, self_url: str, total: int, outcome: dict | None = None
) -> dict:
    """A searchset; `outcome` (warnings about the request) goes in as an `outcome` entry.
    No empty `entry` array: FHIR forbids empty elements."""
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(timezone.now()),
        "total": total,
        "link": [{"relation": "self", "url": self_url}],
    }
    items = [
        {"fullUrl": full_url(res), "resource": res, "search": {"mode": mode}}
        for res, mode in entries
    ]
    if outcome is not None:
        import uuid

        items.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": outcome,
                "search": {"mode": "outcome"},
            }
        )
    if items:
        bundle["entry"] = items
    return bundle


def operation_outcome(message: str, *, code: str = "processing", severity: str = "error") -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }


def operator_identifier(booking) -> dict:
    """Who booked (FrAppointmentOperator): the regulator's or operator's IDNPS when they
    are a professional with an RPPS, else the installation's own id of the user, or of
    the API client for a booking made through FHIR or the API."""
    user = booking.operator
    pro = getattr(user, "professional", None) if user is not None else None
    if pro is not None and pro.rpps:
        return rpps_identifier(pro.rpps)
    from relais.interop.regulator_links import regulator_identifier

    regulator = regulator_identifier(user)  # a regulator of the SAS platform (INT_R02)
    if regulator is not None:
        return regulator
    if user is not None:
        system, value = f"{base_url()}/operateurs", f"user-{user.pk}"
    else:
        system, value = f"{base_url()}/clients", booking.idempotency_owner or "relais"
    return {
        "type": {"coding": [{"system": SYSTEM_V2_0203, "code": "INTRN"}]},
        "system": system,
        "value": value,
    }


def appointment_resource(booking, *, identifier: dict | None = None, report: bool = False) -> dict:
    """The Appointment as Relais answers it to the caller (`identifier`: the caller's
    own, echoed), or, with `report`, as INT_R03 sends it to the SAS platform:
    FrAppointmentSAS, FrAppointmentOperator, the installation's identifier, the
    professional as the one participant (IDNPS), no patient."""
    slot = booking.slot
    pro = slot.professional
    ours = {"system": identifier_system(), "value": str(booking.public_id)}
    code = MODALITY_SERVICE_TYPE.get(slot.modality, MODALITY_SERVICE_TYPE["cabinet"])[0]
    resource = {"resourceType": "Appointment", "id": str(booking.public_id)}
    if report:
        resource["meta"] = {"profile": [PROFILE_APPOINTMENT]}
        resource["extension"] = [
            {
                "url": EXT_APPOINTMENT_OPERATOR,
                "valueReference": {"identifier": operator_identifier(booking)},
            }
        ]
    resource.update(
        identifier=[ours if report or not identifier else identifier],
        status=booking.status,
        serviceType=[{"coding": [{"system": SYSTEM_ACT_CODE, "code": code}]}],
        start=instant(slot.start),
        end=instant(slot.end),
        created=instant(booking.created_at),
        slot=[{"reference": f"Slot/{slot.public_id}"}],
        participant=[
            {
                "actor": {
                    "reference": f"Practitioner/{pro.public_id}",
                    "identifier": rpps_identifier(pro.rpps),
                    "display": pro.display_name,
                },
                "status": "accepted",
            }
        ],
    )
    if not report:
        resource["participant"].append(
            {
                "actor": {
                    "reference": f"Patient/{booking.request.patient.public_id}",
                    "display": "Patient",
                },
                "status": "accepted",
            }
        )
    spec = specialty(pro)
    if spec:
        resource["specialty"] = spec
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
            "description": "Relais — FHIR SAS (INT_R01, INT_R02, INT_R03, INT_R04)",
            "url": base_url(),
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": "Jeton porteur (Authorization: Bearer rls_…) créé avec "
                    "`relais create_api_client`, ou certificat client IGC-Santé (TLS mutuel) ; "
                    "portées slots:read, appointments:read, appointments:write, "
                    "regulators:write.",
                },
                "resource": [
                    {
                        "type": "Slot",
                        "profile": PROFILE_SLOT,
                        "supportedProfile": [PROFILE_SLOT_CPTS],
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
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
                        "type": "Schedule",
                        "profile": PROFILE_SCHEDULE,
                        "interaction": [{"code": "read"}],
                    },
                    {
                        "type": "Practitioner",
                        "profile": PROFILE_PRACTITIONER,
                        # INT_R02: the SAS platform's regulator accounts (scope
                        # regulators:write); PUT and DELETE by ?identifier=system|value.
                        "supportedProfile": [PROFILE_REGULATOR],
                        "interaction": [
                            {"code": "read"},
                            {"code": "create"},
                            {"code": "update"},
                            {"code": "delete"},
                        ],
                        "conditionalCreate": False,
                        "conditionalUpdate": True,
                        "conditionalDelete": "single",
                        "searchParam": [
                            search(
                                "identifier",
                                "PUT/DELETE : urn:oid:1.2.250.1.71.4.2.1|8… (IDNPS) ou "
                                "urn:oid:1.2.250.1.213.3.6|… (identifiant technique SAS)",
                            )
                        ],
                    },
                    {
                        "type": "Appointment",
                        "interaction": [
                            {"code": "read"},
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
