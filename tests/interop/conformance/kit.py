"""The checks of the ANS SAS test kit (ansforge/interop-outil-fhir-sas-test-kit,
lib/sas_test_kit/aggregation/), ported one by one: the same Slot query and the same
FHIRPath expressions, evaluated with fhirpathpy (R4 model).

Two mechanical adaptations, both about the FHIRPath dialect and not the checks:
- the kit writes string literals in double quotes (accepted by Inferno's HAPI-based
  service); fhirpathpy only accepts the standard single quotes, so they are requoted;
- HAPI evaluates `<primitive>.value` to the primitive itself; fhirpathpy yields nothing,
  so a trailing `.value` after a primitive (`postalCode.value`) is dropped.
Each check raises AssertionError with the kit's own message when it fails.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fhirpathpy import evaluate
from fhirpathpy.models import models

RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
P_PRACTITIONER = "http://sas.fr/fhir/StructureDefinition/FrPractitionerAgregateur"
P_ROLE = "http://sas.fr/fhir/StructureDefinition/FrPractitionerRoleExerciceAgregateur"
P_SCHEDULE = "http://sas.fr/fhir/StructureDefinition/FrScheduleAgregateur"
P_SLOT_V1 = "http://sas.fr/fhir/StructureDefinition/FrSlotAgregateur"
IG = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition"
P_SLOT_CPTS = f"{IG}/sas-cpts-slot-aggregator"
P_HS = f"{IG}/sas-cpts-healthcareservice-aggregator"
P_ORG = f"{IG}/sas-cpts-organization-aggregator"
EXT_SERVICE_TYPE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Slot.serviceType"
TRE_R66 = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
_PRIMITIVE_VALUE = re.compile(r"\.(line|city|postalCode|value|given|family)\.value$")


def fhirpath(resource, path: str) -> list:
    """The kit's evaluate_fhirpath, as a plain list of values."""
    path = re.sub(
        r'"((?:[^"\\]|\\.)*)"', lambda m: "'" + m.group(1).replace("'", "\\'") + "'", path
    )
    path = _PRIMITIVE_VALUE.sub(r".\1", path)
    return evaluate(resource, path, model=models["r4"])


def date_range(now: datetime | None = None) -> dict:
    """SetupHelper.calculate_date_range (Europe/Paris): now → min(now + 72 h, end of D+2)."""
    now = now or datetime.now(ZoneInfo("Europe/Paris"))
    end_of_third_day = (now + timedelta(days=2)).replace(hour=23, minute=59, second=59)
    capped = min(now + timedelta(hours=72), end_of_third_day)
    return {
        "start": now.strftime("%Y-%m-%dT%H:%M:%S"),
        "end": capped.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def slot_search_params(idnps: list[str], dates: dict) -> list[tuple[str, str]]:
    """SetupHelper.build_slot_search_params for ig_launch_2 (the IG with the CPTS variant)."""
    return [
        ("_include", "Slot:schedule"),
        ("_include", "Slot:service-type-reference"),
        ("_include:iterate", "Schedule:actor"),
        ("_include:iterate", "HealthcareService:organization"),
        ("schedule.actor:Practitioner.identifier", ",".join(f"{RPPS_SYSTEM}|{i}" for i in idnps)),
        ("start", f"ge{dates['start']}.000"),
        ("start", f"le{dates['end']}.000"),
        ("status", "free"),
    ]


@dataclass
class Ctx:
    bundle: dict
    idnps: str
    date_fin: str
    query: str
    type_slot: list[str] = field(default_factory=list)
    type_consultation: list[str] = field(default_factory=list)
    scratch: dict = field(default_factory=dict)


def _where(profile: str) -> str:
    return f'entry.where(resource.meta.profile="{profile}")'


# --- slot_group: "Vérification du Bundle par le validateur" ------------------------------


P_BUNDLE_CPTS = f"{IG}/sas-cpts-bundle-aggregator"


def slot_bundle_validator(c: Ctx):
    """assert_resource_type('Bundle') and assert_valid_resource(profile: the CPTS Bundle
    profile). Medplum cannot read that profile (its entry slicing is by profile), so its
    rules are checked here from its snapshot: type, total and link 1..1, entry 4..*, and
    at least one entry of each of the four required profiles; every entry resource is
    validated against its own profile by tests/interop/test_fhir_validation.py."""
    b = c.bundle
    assert b["resourceType"] == "Bundle"
    assert b.get("meta", {}).get("profile") == [P_BUNDLE_CPTS], "profil du Bundle absent"
    assert b.get("type") == "searchset" and "total" in b and len(b.get("link", [])) == 1
    entries = b.get("entry", [])
    assert len(entries) >= 4
    for profile in (P_SLOT_CPTS, P_SCHEDULE, P_PRACTITIONER, P_ROLE):
        assert fhirpath(b, f"{_where(profile)}.exists()") == [True], f"aucune entrée {profile}"


SLOT_GROUP = [slot_bundle_validator]


# --- single_practitioner_single_location --------------------------------------------


def validate_cardinality(c: Ctx):
    b = c.bundle
    practi = fhirpath(b, f"{_where(P_PRACTITIONER)}.count()")[0]
    schedule = fhirpath(b, f"{_where(P_SCHEDULE)}.count()")[0]
    assert practi == 1, "Une seule ressource practitioner doit être présente pour un RPPS appelé"
    role = fhirpath(b, f"{_where(P_ROLE)}.count()")[0]
    lieux = fhirpath(b, f"{_where(P_ROLE)}.resource.contained.count()")[0]
    assert schedule == 1, "Une seule ressource schedule doit être présente pour un RPPS appelé"
    assert role == 1, "Une seule ressource PractitionerRole doit être présente ce RPPS"
    assert lieux == 1, "Une seule ressource Location doit être présente pour ce RPPS"
    # (the kit's total == number of slots check is a warning, not a failure)
    assert fhirpath(
        b,
        f"{_where(P_SLOT_CPTS)}.exists() and {_where(P_SCHEDULE)}.exists() and "
        f"{_where(P_PRACTITIONER)}.exists() and {_where(P_ROLE)}.exists()",
    ) == [True]


def validate_rpps(c: Ctx):
    got = fhirpath(c.bundle, f"{_where(P_PRACTITIONER)}.resource.identifier.value")
    assert got and got[0] == c.idnps, "le RPPS retourné doit être égal au RPPS appelé"
    assert re.fullmatch(r"8[0-9]{11}", str(got[0])), "11 chiffres préfixés par 8"


def validate_dates(c: Ctx):
    b = c.bundle
    before = fhirpath(b, f"{_where(P_SLOT_V1)[:-1]} and resource.start < now()).count()")[0]
    assert before == 0, "Il ne doit pas y avoir de créneaux antérieurs à la date courante"
    starts = fhirpath(b, f"{_where(P_SLOT_CPTS)}.resource.start")
    for s in starts:
        assert s[:10] <= c.date_fin[:10], f"La date {s} dépasse la fin de la recherche"
    fmt = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")
    for s in starts:
        assert fmt.match(s), f"La date de début {s} ne respecte pas le format attendu"
    for e in fhirpath(b, f"{_where(P_SLOT_CPTS)}.resource.end"):
        assert fmt.match(e), f"La date de fin {e} ne respecte pas le format attendu"
    assert fhirpath(b, f"{_where(P_SLOT_CPTS)}.resource.end.exists()") == [True]
    assert fhirpath(b, f"{_where(P_SLOT_CPTS)}.resource.all(start<end)") == [True]


def validate_ref(c: Ctx):
    b = c.bundle
    ref_practi = fhirpath(b, f"{_where(P_ROLE)}.resource.practitioner.reference")
    ref_schedule = fhirpath(b, f"{_where(P_SCHEDULE)}.resource.actor.reference")
    practitioner_id = fhirpath(b, f"{_where(P_PRACTITIONER)}.resource.id")
    role_id = fhirpath(b, f"{_where(P_ROLE)}.resource.id")
    assert ref_practi and practitioner_id and role_id
    assert ref_practi[0] == f"Practitioner/{practitioner_id[0]}"
    joined = ", ".join(ref_schedule)
    assert f"PractitionerRole/{role_id[0]}" in joined
    assert f"Practitioner/{practitioner_id[0]}" in joined
    ref_loc = fhirpath(b, f"{_where(P_ROLE)}.resource.location.reference")
    loc_id = fhirpath(b, f"{_where(P_ROLE)}.resource.contained.id")
    assert ref_loc and loc_id and ref_loc[0] == f"#{loc_id[0]}"


def validate_location(c: Ctx):
    b = c.bundle
    base = f"{_where(P_ROLE)}.resource.contained.address"
    assert fhirpath(b, f"{base}.line.exists()") == [True]
    assert fhirpath(b, f"{base}.city.exists()") == [True]
    assert fhirpath(b, f"{base}.postalCode.exists()") == [True]
    postal = fhirpath(b, f"{base}.postalCode.value")
    assert postal and re.fullmatch(r"[0-9]{5}", str(postal[0])), "5 chiffres"


def bundle_url_equal_url(c: Ctx):
    from urllib.parse import parse_qs, urlsplit

    urls = fhirpath(c.bundle, "link.url")
    assert urls and urls[0], "Le champ link.URL n'est pas présent ou est vide"

    def normalized(url):
        return {k: sorted(v) for k, v in parse_qs(urlsplit(url).query).items()}

    assert normalized(c.query) == normalized(urls[0]), "Les query ne correspondent pas"


def slot_has_url(c: Ctx):
    got = fhirpath(
        c.bundle,
        f"{_where(P_SLOT_V1)}.resource.all(comment.exists() and comment.empty().not() "
        'and comment.matches("^[[:space:]]*$").not())',
    )
    assert got == [True], "Une URL de prise de RDV doit être présente sur chacun des créneaux"


def ps_validate_slots_status(c: Ctx):
    for status in fhirpath(c.bundle, f"{_where(P_SLOT_CPTS)}.resource.status"):
        assert status == "free", "le status des slots retourné doit être égal à free"


def ps_validate_appointment_type(c: Ctx):
    codes = fhirpath(
        c.bundle, f"{_where(P_SLOT_CPTS)}.resource.appointmentType.coding.code.distinct()"
    )
    for code in codes:
        assert code in ("ROUTINE", "WALKIN"), "ROUTINE ou WALKIN"


def validate_cardinality_cpts(c: Ctx):
    hs = fhirpath(c.bundle, f"{_where(P_HS)}.count()")[0]
    org = fhirpath(c.bundle, f"{_where(P_ORG)}.count()")[0]
    assert hs > 0, "Il n'y a pas de ressources Healthcare_Service dans le bundle."
    assert org > 0, "Il n'y a pas de ressources Organization dans le bundle."
    assert hs == org, f"Il y a {hs} healthcare services pour {org} organization"


def validate_ref_cpts(c: Ctx):
    b = c.bundle
    ref_org = fhirpath(b, f"{_where(P_HS)}.resource.providedBy.reference")
    org_id = fhirpath(b, f"{_where(P_ORG)}.resource.id")
    refs_hs = fhirpath(
        b,
        f'entry.resource.where(meta.profile = "{P_SLOT_CPTS}").serviceType.where(coding.code '
        f'= "604").extension.where(url = "{EXT_SERVICE_TYPE}" and value is Reference)'
        ".value.reference",
    )
    hs_id = fhirpath(b, f"{_where(P_HS)}.resource.id")
    assert ref_org, "Impossible d'accèder au champ providedBy.reference"
    assert org_id, "Impossible d'accèder au champ id d'une ressource Organization"
    assert refs_hs
    assert hs_id, "Impossible d'accèder au champ id d'une resource Healthcare_Service"
    assert ref_org[0] == f"Organization/{org_id[0]}"
    for ref in refs_hs:
        assert ref == f"HealthcareService/{hs_id[0]}"


def validate_cpts_id(c: Ctx):
    got = fhirpath(c.bundle, f"{_where(P_ORG)}.resource.identifier.value")
    assert got, "Impossible d'accèder au champ identifier.value d'une ressource Organization"
    assert re.fullmatch(r"1[0-9]{9}", str(got[0])), "9 chiffres préfixés par 1"


SINGLE_LOCATION = [
    validate_cardinality,
    validate_rpps,
    validate_dates,
    validate_ref,
    validate_location,
    bundle_url_equal_url,
    slot_has_url,
    ps_validate_slots_status,
    ps_validate_appointment_type,
    validate_cardinality_cpts,
    validate_ref_cpts,
    validate_cpts_id,
]


# --- multi_lieux_group ---------------------------------------------------------------


def validate_practitioner_cardinality_1(c: Ctx):
    c.scratch["practitioner"] = fhirpath(c.bundle, f"{_where(P_PRACTITIONER)}.resource")
    assert len(c.scratch["practitioner"]) == 1


def validate_practitionerrole_cardinality_1(c: Ctx):
    c.scratch["practitioner_roles"] = fhirpath(c.bundle, f"{_where(P_ROLE)}.resource")
    assert len(c.scratch["practitioner_roles"]) == 2


def validate_schedule_cardinality_1(c: Ctx):
    c.scratch["schedules"] = fhirpath(c.bundle, f"{_where(P_SCHEDULE)}.resource")
    assert len(c.scratch["schedules"]) == 2


def validate_practitionerrole_practitioner_ref(c: Ctx):
    practitioner, roles = c.scratch.get("practitioner"), c.scratch.get("practitioner_roles")
    assert practitioner and roles, "skip: les tests précédents doivent être validés"
    for role in roles:
        assert role["practitioner"]["reference"] == f"Practitioner/{practitioner[0]['id']}"


def validate_schedule_practitionerrole_ref(c: Ctx):
    roles, schedules = c.scratch.get("practitioner_roles"), c.scratch.get("schedules")
    assert roles and schedules, "skip: les tests précédents doivent être validés"
    for s in schedules:
        for a in s["actor"]:
            if a["reference"].startswith("PractitionerRole/"):
                assert any(r["id"] == a["reference"].split("/")[-1] for r in roles)


def validate_schedule_practitioner_ref(c: Ctx):
    practitioner, schedules = c.scratch.get("practitioner"), c.scratch.get("schedules")
    assert practitioner and schedules, "skip: les tests précédents doivent être validés"
    for s in schedules:
        refs = [a["reference"] for a in s["actor"] if a["reference"].startswith("Practitioner/")]
        assert len(refs) == 1, "Un Schedule doit référencer exactement un Practitioner"
        assert refs[0] == f"Practitioner/{practitioner[0]['id']}"


def validate_practitionerrole_location_ref(c: Ctx):
    roles = c.scratch.get("practitioner_roles")
    assert roles, "skip: le test 4.5.03 doit être validé"
    locations = [loc["reference"] for r in roles for loc in r.get("location", [])]
    ids = [
        x["id"] for r in roles for x in r.get("contained", []) if x["resourceType"] == "Location"
    ]
    for i, ref in enumerate(locations):
        assert f"#{ids[i]}" == ref


MULTI_LIEUX = [
    validate_practitioner_cardinality_1,
    validate_practitionerrole_cardinality_1,
    validate_schedule_cardinality_1,
    validate_practitionerrole_practitioner_ref,
    validate_schedule_practitionerrole_ref,
    validate_schedule_practitioner_ref,
    validate_practitionerrole_location_ref,
]


# --- search_multiple_ps_group ----------------------------------------------------------


def validate_practitioner_cardinality_2(c: Ctx):
    assert len(fhirpath(c.bundle, f"{_where(P_PRACTITIONER)}.resource")) == 2


def validate_practitionerrole_cardinality_2(c: Ctx):
    assert len(fhirpath(c.bundle, f"{_where(P_ROLE)}.resource")) >= 2


def validate_schedule_cardinality_2(c: Ctx):
    assert len(fhirpath(c.bundle, f"{_where(P_SCHEDULE)}.resource")) >= 2


SEARCH_MULTIPLE_PS = [
    validate_practitioner_cardinality_2,
    validate_practitionerrole_cardinality_2,
    validate_schedule_cardinality_2,
]


# --- practi_optionnel_group_ps -----------------------------------------------------------


def ps_validate_rpps(c: Ctx):
    validate_rpps(c)


def ps_validate_name(c: Ctx):
    assert fhirpath(c.bundle, f"{_where(P_PRACTITIONER)}.resource.name.family")


def ps_validate_firstname(c: Ctx):
    given = fhirpath(c.bundle, f"{_where(P_PRACTITIONER)}.resource.name.given")
    assert given and given[0], "Le prénom doit être renseigné"


def ps_validate_phone(c: Ctx):
    phones = fhirpath(c.bundle, f"{_where(P_ROLE)}.resource.telecom.value")
    assert phones and phones[0], "Le numéro de téléphone est manquant"
    assert re.match(r"^\+33\d{9}$|^\+262\d{9}$|^\+590\d{9}$|^\+596\d{9}$|^\+594\d{9}$", phones[0])


def ps_validate_idnst(c: Ctx):
    got = fhirpath(c.bundle, f"{_where(P_ROLE)}.resource.organization.identifier.value")
    value = str(got[0]) if got else ""
    assert value, "L'identifiant de structure est manquant"
    assert any(re.fullmatch(p, value) for p in (r"1[0-9]{9}", r"3[0-9]{14}", r"4[0-9]{14}")), (
        "L'IDNST doit être au bon format"
    )


PRACTITIONER_OPTIONAL = [
    ps_validate_rpps,
    ps_validate_name,
    ps_validate_firstname,
    ps_validate_phone,
    ps_validate_idnst,
]


# --- optionslots_group (ig_launch_2) ------------------------------------------------------


def cpts_validate_slot_type(c: Ctx):
    returned = {
        str(x).upper()
        for x in fhirpath(c.bundle, f"{_where(P_SLOT_CPTS)}.resource.meta.security.code.distinct()")
        if str(x) != "604"
    }
    available = {x.upper() for x in c.type_slot}
    assert not available - returned, f"types non retournés : {available - returned}"
    assert not returned - available, f"types retournés non déclarés : {returned - available}"


def ps_validate_motif_type(c: Ctx):
    returned = {
        str(x).upper()
        for x in fhirpath(
            c.bundle, f"{_where(P_SLOT_CPTS)}.resource.serviceType.coding.code.distinct()"
        )
        if str(x) != "604"
    }
    available = {x.upper() for x in c.type_consultation}
    assert not available - returned, f"types non retournés : {available - returned}"
    assert not returned - available, f"types retournés non déclarés : {returned - available}"


OPTION_SLOTS = [cpts_validate_slot_type, ps_validate_motif_type]


# --- single_practitioner_multiple_cpts (two_slot_two_cpts, single_slot_two_cpts) -------------


def cpts_validate_healthcare_service_cardinality(c: Ctx):
    c.scratch["healthcareServices"] = fhirpath(c.bundle, f"{_where(P_HS)}.resource")
    assert len(c.scratch["healthcareServices"]) >= 2


def cpts_validate_organization_cardinality(c: Ctx):
    c.scratch["organization"] = fhirpath(c.bundle, f"{_where(P_ORG)}.resource")
    assert len(c.scratch["organization"]) >= 2


def cpts_validate_meta(c: Ctx):
    codes = fhirpath(c.bundle, f"{_where(P_SLOT_CPTS)}.resource.meta.security.code.distinct()")
    assert all(str(x) == "CPTS" for x in codes), "Les ressources slots ne sont pas de type CPTS"


def cpts_validate_service_type(c: Ctx):
    service_types = fhirpath(c.bundle, f"{_where(P_SLOT_CPTS)}.resource.serviceType")
    c.scratch["serviceType"] = service_types
    assert service_types, "Aucun champ serviceType n'est présent dans les slots du bundle"
    assert any(
        x.get("system") == TRE_R66 and x.get("code") == "604"
        for st in service_types
        for x in st.get("coding", [])
    ), "serviceType TRE_R66 604 attendu"


def cpts_validate_service_type_healthcare_service_ref(c: Ctx):
    service_types = c.scratch.get("serviceType") or []
    assert service_types, "Aucun champ serviceType trouvé dans les Slots du Bundle"
    hs = c.scratch.get("healthcareServices") or []
    assert hs, "Aucune ressource HealthcareService trouvé dans le Bundle"
    refs = {f"HealthcareService/{x['id']}" for x in hs}
    assert any(
        (ext.get("url") or "").strip() == EXT_SERVICE_TYPE
        and (ext.get("valueReference") or {}).get("reference") in refs
        for st in service_types
        for ext in st.get("extension", [])
    ), "Aucune extension serviceType valide trouvée"


def cpts_validate_service_type_multiple_healthcare_service_ref(c: Ctx):
    slots = fhirpath(c.bundle, f"{_where(P_SLOT_CPTS)}.resource")
    hs_refs = {
        f"HealthcareService/{x['id']}" for x in fhirpath(c.bundle, f"{_where(P_HS)}.resource")
    }
    found = False
    for slot in slots:
        refs = [
            (ext.get("valueReference") or {}).get("reference")
            for st in slot.get("serviceType", [])
            for ext in st.get("extension", [])
            if ext.get("url") == EXT_SERVICE_TYPE
        ]
        refs = [x for x in refs if x]
        if len(set(refs)) >= 2 and all(x in hs_refs for x in refs):
            found = True
    assert found, "Aucun Slot ne référence au moins deux HealthcareService distincts"


def cpts_validate_healthcare_service_organization_ref(c: Ctx):
    hs = c.scratch.get("healthcareServices") or []
    assert hs, "Aucune ressource HealthcareService trouvé dans le Bundle"
    orgs = c.scratch.get("organization") or []
    assert orgs, "Aucune ressource Organization trouvé dans le Bundle"
    org_refs = {f"Organization/{o['id']}" for o in orgs}
    found = [(x.get("providedBy") or {}).get("reference") for x in hs]
    validity = all(ref in org_refs for ref in found)
    assert validity and len({x for x in found if x}) >= 2


TWO_SLOT_TWO_CPTS = [
    cpts_validate_healthcare_service_cardinality,
    cpts_validate_organization_cardinality,
    cpts_validate_meta,
    cpts_validate_service_type,
    cpts_validate_service_type_healthcare_service_ref,
    cpts_validate_healthcare_service_organization_ref,
]
SINGLE_SLOT_TWO_CPTS = [
    cpts_validate_healthcare_service_cardinality,
    cpts_validate_organization_cardinality,
    cpts_validate_meta,
    cpts_validate_service_type,
    cpts_validate_service_type_multiple_healthcare_service_ref,
    cpts_validate_healthcare_service_organization_ref,
]


# --- orga_optionnel_group --------------------------------------------------------------------


def cpts_validate_name(c: Ctx):
    assert fhirpath(c.bundle, f"{_where(P_ORG)}.resource.name"), "Le nom de la CPTS"


def cpts_validate_phone(c: Ctx):
    assert fhirpath(c.bundle, f"{_where(P_ORG)}.resource.telecom.value"), "Le téléphone de la CPTS"


ORGANIZATION_OPTIONAL = [cpts_validate_name, cpts_validate_phone]
