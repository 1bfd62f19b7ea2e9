"""The INT_R01 / INT_R04 Slot search, lean: rows as tuples, the searchset Bundle built
as plain dicts without model or fhir.resources objects, serialised once (orjson).

The SAS platform calls it for 25 professionals over 48 h (~165 slots, ~170 KiB per
answer), thousands of times a minute: docs/benchmarks.md "FHIR INT_R01 (issue 22)".
What it publishes is exactly what `relais.interop.resources` builds for one resource
(GET Slot/<id>, the SMART feed), which tests/interop/test_fhir_lean_equivalence.py
checks on generated data; what it hides is the search's visibility rules:

- channels (TRE_R314): PUBLIC, PRO, SNP for a SAS participant only, CPTS (INT_R04
  variant) for a member of a CPTS only; each type published carries its meta.security;
- nothing the professional hid: inactive or "niveau 2 uniquement" professionals, slots
  with an age or motif restriction, slots on a day or week whose SNP cap is reached;
- the client's territory (départements of its scope) and, for a CPTS-limited client,
  its CPTS's members only;
- one Slot per plage (appointmentType WALKIN), free and unheld, from now on.

Statements: professionals (with the identifiers' warnings), their other CPTS, the
slots, their places (with each place's rank among the professional's), the CPTS; plus
one per capped professional (the booking search's own capacity reader). Every list
given to the database is short (a batch's professionals, places or CPTS): the
territory is checked in Python on the places, never as a 100-code IN list.
"""

import hashlib
import hmac
import uuid
from datetime import datetime
from functools import lru_cache

import orjson
from django.conf import settings
from django.core import signing
from django.db import connection, connections, router
from django.db.models import Q
from django.utils import timezone

from relais.accounts.permissions import Scope
from relais.agenda.models import LOCAL_SOURCES, Modality, Slot, SlotStatus
from relais.directory.models import Practice, Profession, Professional
from relais.interop import resources as r
from relais.interop.regulator_links import LINK_SALT, _link_path
from relais.interop.selectors import SlotQuery
from relais.territory.models import Commune, Cpts

# --- static parts, built once per process (never mutated: shared by every answer) ----

_PROFILE_SLOT = [r.PROFILE_SLOT]
_PROFILE_SLOT_CPTS = [r.PROFILE_SLOT_CPTS]
_META_SCHEDULE = {"profile": [r.PROFILE_SCHEDULE]}
_META_PRACTITIONER = {"profile": [r.PROFILE_PRACTITIONER]}
_META_ROLE = {"profile": [r.PROFILE_ROLE]}
_META_LOCATION = {"profile": [r.PROFILE_LOCATION]}
_META_HEALTHCARE_SERVICE = {"profile": [r.PROFILE_HEALTHCARE_SERVICE]}
_META_ORGANIZATION = {"profile": [r.PROFILE_ORGANIZATION]}
_SEARCH_MATCH = {"mode": "match"}
_SEARCH_INCLUDE = {"mode": "include"}
_SEARCH_OUTCOME = {"mode": "outcome"}
_LOC_REFERENCE = [{"reference": "#loc"}]
_IDNPS_TYPE = {"coding": [{"system": r.SYSTEM_V2_0203, "code": "IDNPS"}]}
_IDNST_TYPE = {"coding": [{"system": r.SYSTEM_V2_0203, "code": "IDNST"}]}
_IDNST_FR_CORE_TYPE = {"coding": [{"system": r.SYSTEM_FR_CORE_V2_0203, "code": "IDNST"}]}
_LOCATION_ID_TYPE = {"coding": [{"system": r.SYSTEM_LOCATION_ID_TYPE, "code": "INTRN"}]}
_APPOINTMENT_TYPE = {
    is_plage: {
        "coding": [
            {"system": r.SYSTEM_APPOINTMENT_TYPE, "code": "WALKIN" if is_plage else "ROUTINE"}
        ]
    }
    for is_plage in (False, True)
}
_SERVICE_TYPE = {
    modality: {"coding": [{"system": r.SYSTEM_ACT_CODE, "code": code, "display": display}]}
    for modality, (code, display) in r.MODALITY_SERVICE_TYPE.items()
}
_SERVICE_TYPE_DEFAULT = _SERVICE_TYPE[Modality.CABINET]
_CPTS_CODING = [
    {
        "system": r.SYSTEM_TRE_R66,
        "code": "604",
        "display": "Communauté Professionnelle Territoriale de Santé (CPTS)",
    }
]
_SECURITY = {
    code: {"system": r.SYSTEM_TYPE_CRENEAU, "code": code}
    for code in ("PUBLIC", "PRO", "SNP", "CPTS")
}
_INCLUDE_ACTORS = {
    "Schedule:actor",
    "Schedule:actor:Practitioner",
    "Schedule:actor:PractitionerRole",
}

_PRO_FIELDS = (
    "pk",
    "rpps",
    "adeli",
    "public_id",
    "first_name",
    "last_name",
    "active",
    "level2_only",
    "specialty",
    "profession",
    "phone",
    "sas_participant",
    "cpts_id",
    "max_snp_per_day",
    "max_snp_per_week",
)
_SLOT_FIELDS = (
    "public_id",
    "start",
    "end",
    "modality",
    "is_plage",
    "for_sas",
    "for_cpts",
    "for_public",
    "for_partners",
    "professional_id",
    "practice_id",
    "source",
    "partner_mirror__deep_link",
)
_PRACTICE_FIELDS = (
    "pk",
    "public_id",
    "name",
    "address",
    "phone",
    "latitude",
    "longitude",
    "commune__name",
    "commune__postal_codes",
    "commune__departement__code",
)


# Instant (as PostgreSQL prints it, or a datetime) -> the IG's dateTime, per time zone.
_INSTANTS: dict = {}


def _as_datetime(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class _LinkSigner:
    """`signing.dumps(str(public_id), salt=LINK_SALT)` (regulator_links.sas_deep_link)
    with the salted key derived once per answer instead of once per slot, and one
    timestamp per answer: the same tokens, verified by the same `signing.loads`."""

    def __init__(self):
        signer = signing.TimestampSigner(salt=LINK_SALT)
        secret = signing.force_bytes(signer.key)
        key_salt = signing.force_bytes(signer.salt + "signer")
        self._key = hashlib.sha256(key_salt + secret).digest()
        self._suffix = f"{signer.sep}{signer.timestamp()}"
        self._prefix = settings.SITE_URL

    def link(self, public_id: str) -> str:
        value = signing.b64_encode(b'"' + public_id.encode() + b'"').decode() + self._suffix
        mac = hmac.digest(self._key, value.encode(), "sha256")
        return self._prefix + _link_path(f"{value}:{signing.b64_encode(mac).decode()}")


def _specialty(specialty: str, profession: str) -> list[dict] | None:
    code = specialty or ("SM54" if profession == Profession.MEDECIN else "")
    return [{"coding": [{"system": r.SYSTEM_SPECIALTY, "code": code}]}] if code else None


class _Pro:
    """One professional of the batch, as the answer needs it (from one tuple)."""

    __slots__ = (
        "pk",
        "rpps",
        "public_id",
        "first_name",
        "last_name",
        "active",
        "specialty",
        "phone",
        "sas_participant",
        "cpts_id",
        "per_day",
        "per_week",
        "cpts",
        "practice_ids",
    )

    def __init__(self, row):
        (
            self.pk,
            self.rpps,
            _adeli,
            public_id,
            self.first_name,
            self.last_name,
            self.active,
            _level2_only,
            specialty,
            profession,
            self.phone,
            self.sas_participant,
            self.cpts_id,
            self.per_day,
            self.per_week,
        ) = row
        self.public_id = str(public_id)
        self.specialty = _specialty(specialty, profession)
        self.cpts: list[int] = [self.cpts_id] if self.cpts_id else []
        self.practice_ids: list[int] = []  # linked places, by id (their rank: RPPS-rang)


def _rang(pro: _Pro, practice_id: int) -> int:
    """The place's rank among the professional's places (resources.practice_rang)."""
    ids = pro.practice_ids
    return ids.index(practice_id) + 1 if practice_id in ids else 1


def _warnings_outcome(query: SlotQuery, found: set[str]) -> dict | None:
    warnings = list(query.warnings)
    for number, asked in query.asked.items():
        if number not in found:
            warnings.append(f"Aucun professionnel connu pour l'identifiant {asked}.")
    if not warnings:
        return None
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "not-found" if "Aucun" in w else "invalid",
                "diagnostics": w,
            }
            for w in warnings
        ],
    }


def _address(name, address, city, postal_codes) -> dict:
    out = {"line": [address or name], "city": city}
    if postal_codes:
        out["postalCode"] = postal_codes.split(";")[0]
    return out


class _Fetched:
    """What the answer is built from: every identifier found (warnings), the publishing
    professionals, their slot rows (_SLOT_FIELDS, by start then id, in the client's
    territory), the places of those rows (_PRACTICE_FIELDS) and the CPTS of the batch."""

    __slots__ = ("found", "pros", "rows", "practices", "cpts")

    def __init__(self):
        self.found: set[str] = set()
        self.pros: dict[int, _Pro] = {}
        self.rows: list[tuple] = []
        self.practices: dict[int, tuple] = {}
        self.cpts: dict[int, tuple] = {}


def _cpts_limit(scope: Scope) -> set[int]:
    """The CPTS a CPTS-limited client sees the members of (empty: no such limit), as
    relais.accounts.permissions.cpts_limit_q."""
    return set() if scope.sas_ids or not scope.cpts_ids else set(scope.cpts_ids)


def _keep_pro(fetched: _Fetched, row, cpts_limit: set[int]) -> None:
    """Count the identifiers of one professional's row, keep it if it publishes: active,
    not "niveau 2 uniquement", and a member of the client's CPTS for a limited client."""
    fetched.found.add(row[1])
    if row[2]:
        fetched.found.add(row[2])
    if row[6] and not row[7]:
        pro = _Pro(row[: len(_PRO_FIELDS)])
        for cpts_id in row[len(_PRO_FIELDS)] or ():
            if cpts_id not in pro.cpts:
                pro.cpts.append(cpts_id)
        pro.practice_ids = list(row[len(_PRO_FIELDS) + 1] or ())
        if not cpts_limit or cpts_limit.intersection(pro.cpts):
            fetched.pros[pro.pk] = pro


@lru_cache(maxsize=1)
def _sql() -> dict[str, str]:
    """The statements of the PostgreSQL path, written once (table names from the models,
    never a value: every value is a parameter). Lists go as one array parameter each
    (= ANY(%s)): one short text and one small plan whatever the batch."""
    from relais.interop.models import PartnerSlot

    t = {
        "pro": Professional._meta.db_table,
        "other": Professional.other_cpts.through._meta.db_table,
        "link": Practice.professionals.through._meta.db_table,
        "slot": Slot._meta.db_table,
        "mirror": PartnerSlot._meta.db_table,
        "motif": Slot._meta.get_field("rule").related_model.motifs.through._meta.db_table,
        "practice": Practice._meta.db_table,
        "commune": Practice._meta.get_field("commune").related_model._meta.db_table,
        "departement": Commune._meta.get_field("departement").related_model._meta.db_table,
        "cpts": Cpts._meta.db_table,
    }
    # Instants and UUIDs as text: loaded in C, the answer only prints them.
    pro_columns = ", ".join(
        f'p."{_column(Professional, f)}"' + ("::text" if f == "public_id" else "")
        for f in _PRO_FIELDS
    )
    # Only table and column names are formatted into the texts (S608).
    pros = (
        f"SELECT {pro_columns},"  # noqa: S608
        f' ARRAY(SELECT o.cpts_id FROM "{t["other"]}" o WHERE o.professional_id = p.id'
        " ORDER BY o.id),"
        f' ARRAY(SELECT l.practice_id FROM "{t["link"]}" l WHERE l.professional_id = p.id'
        " ORDER BY l.practice_id)"
        f' FROM "{t["pro"]}" p WHERE p.rpps = ANY(%s)'
    )
    return {
        "pros": pros,
        "pros_adeli": pros + " OR p.adeli = ANY(%s)",
        "slots": (
            'SELECT s.public_id::text, s.start::text, s."end"::text, s.modality, s.is_plage,'  # noqa: S608
            " s.for_sas,"
            " s.for_cpts, s.for_public, s.for_partners, s.professional_id, s.practice_id,"
            f' s.source, m.deep_link FROM "{t["slot"]}" s'
            f' LEFT JOIN "{t["mirror"]}" m ON m.slot_id = s.id'
            " WHERE s.professional_id = ANY(%s) AND s.status = %s"
            " AND s.start >= %s AND s.start <= %s"
            " AND s.age_min IS NULL AND s.age_max IS NULL"
            " AND (s.held_until IS NULL OR s.held_until < %s)"
            " AND (s.for_public OR s.for_partners OR (s.for_sas AND s.professional_id = ANY(%s))"
            " OR (s.for_cpts AND s.professional_id = ANY(%s)))"
            " AND (s.rule_id IS NULL OR NOT EXISTS"
            f' (SELECT 1 FROM "{t["motif"]}" r WHERE r.availabilityrule_id = s.rule_id))'
            " ORDER BY s.start, s.id"
        ),
        "practices": (
            "SELECT pr.id, pr.public_id::text, pr.name, pr.address, pr.phone, pr.latitude,"  # noqa: S608
            f' pr.longitude, c.name, c.postal_codes, d.code FROM "{t["practice"]}" pr'
            f' JOIN "{t["commune"]}" c ON c.id = pr.commune_id'
            f' JOIN "{t["departement"]}" d ON d.id = c.departement_id WHERE pr.id = ANY(%s)'
        ),
        "cpts": f'SELECT id, name, finess, phone FROM "{t["cpts"]}" WHERE id = ANY(%s)',  # noqa: S608
    }


def _column(model, name: str) -> str:
    return model._meta.pk.column if name == "pk" else model._meta.get_field(name).column


def _fetch_postgresql(query: SlotQuery, scope: Scope, now: datetime) -> _Fetched:
    """Four statements (professionals with their CPTS and places, slots, places, CPTS),
    no ORM query building: what the lean answer is about (docs/benchmarks.md)."""
    sql = _sql()
    fetched = _Fetched()
    cpts_limit = _cpts_limit(scope)
    # The router's choice (the replica inside lag_tolerant(), else the primary).
    with connections[router.db_for_read(Slot)].cursor() as cursor:
        if query.adeli:
            cursor.execute(sql["pros_adeli"], [query.rpps, query.adeli])
        else:
            cursor.execute(sql["pros"], [query.rpps])
        for row in cursor.fetchall():
            _keep_pro(fetched, row, cpts_limit)
        pros = fetched.pros
        if not pros:
            return fetched
        members = [pk for pk, p in pros.items() if p.cpts] if query.cpts_variant else []
        cursor.execute(
            sql["slots"],
            [
                list(pros),
                SlotStatus.FREE.value,
                max(query.start_min, now),
                query.start_max,
                now,
                [pk for pk, p in pros.items() if p.sas_participant],
                members,
            ],
        )
        rows = cursor.fetchall()
        if not rows:
            return fetched
        cursor.execute(sql["practices"], [list({row[10] for row in rows})])
        fetched.practices = {row[0]: row for row in cursor.fetchall()}
        codes = scope.departement_codes
        fetched.rows = [row for row in rows if fetched.practices[row[10]][9] in codes]
        if query.cpts_variant and fetched.rows:
            cursor.execute(sql["cpts"], [list({c for p in pros.values() for c in p.cpts})])
            fetched.cpts = {row[0]: row for row in cursor.fetchall()}
    return fetched


def _fetch_portable(query: SlotQuery, scope: Scope, now: datetime) -> _Fetched:
    """The same rows through the ORM, for the other backends (SQLite: development and
    the local tests); PostgreSQL takes _fetch_postgresql."""
    fetched = _Fetched()
    cpts_limit = _cpts_limit(scope)
    if not (query.rpps or query.adeli):
        return fetched
    who = Q(rpps__in=query.rpps)
    if query.adeli:
        who |= Q(adeli__in=query.adeli)
    pro_rows = list(Professional.objects.filter(who).order_by().values_list(*_PRO_FIELDS))
    ids = [row[0] for row in pro_rows]
    others: dict[int, list[int]] = {}
    links: dict[int, list[int]] = {}
    through = Professional.other_cpts.through.objects.filter(professional_id__in=ids)
    for pro_id, cpts_id in through.order_by("pk").values_list("professional_id", "cpts_id"):
        others.setdefault(pro_id, []).append(cpts_id)
    through = Practice.professionals.through.objects.filter(professional_id__in=ids)
    for pro_id, practice_id in through.order_by("practice_id").values_list(
        "professional_id", "practice_id"
    ):
        links.setdefault(pro_id, []).append(practice_id)
    for row in pro_rows:
        _keep_pro(fetched, (*row, others.get(row[0]), links.get(row[0])), cpts_limit)
    pros = fetched.pros
    if not pros:
        return fetched
    channel = (
        Q(for_sas=True, professional_id__in=[pk for pk, p in pros.items() if p.sas_participant])
        | Q(for_public=True)
        | Q(for_partners=True)
    )
    if query.cpts_variant:
        channel |= Q(for_cpts=True, professional_id__in=[pk for pk, p in pros.items() if p.cpts])
    rows = list(
        Slot.objects.filter(
            channel,
            professional_id__in=list(pros),
            status=SlotStatus.FREE,
            start__gte=max(query.start_min, now),
            start__lte=query.start_max,
            age_min__isnull=True,
            age_max__isnull=True,
        )
        .filter(Q(held_until__isnull=True) | Q(held_until__lt=now))
        .exclude(rule__motifs__isnull=False)
        .order_by("start", "pk")
        .values_list(*_SLOT_FIELDS)
    )
    if not rows:
        return fetched
    fetched.practices = {
        row[0]: row
        for row in Practice.objects.filter(pk__in={row[10] for row in rows})
        .order_by()
        .values_list(*_PRACTICE_FIELDS)
    }
    codes = scope.departement_codes
    fetched.rows = [row for row in rows if fetched.practices[row[10]][9] in codes]
    if query.cpts_variant and fetched.rows:
        ids = {c for p in pros.values() for c in p.cpts}
        fetched.cpts = {
            row[0]: row
            for row in Cpts.objects.filter(pk__in=ids)
            .order_by()
            .values_list("pk", "name", "finess", "phone")
        }
    return fetched


def fetch(query: SlotQuery, scope: Scope, now: datetime, *, portable: bool = False) -> _Fetched:
    if connection.vendor == "postgresql" and not portable:
        return _fetch_postgresql(query, scope, now)
    return _fetch_portable(query, scope, now)


def slot_search(
    *,
    query: SlotQuery,
    scope: Scope,
    self_url: str,
    now: datetime | None = None,
    portable: bool = False,
):
    """(the searchset Bundle as a dict, its number of matched slots). `portable`: the
    ORM reading even on PostgreSQL (the equivalence test compares both)."""
    from relais.orientation.selectors import _Capacity

    now = now or timezone.now()
    base = r.base_url()
    fetched = fetch(query, scope, now, portable=portable)
    pros, rows, practices, cpts_rows = (
        fetched.pros,
        fetched.rows,
        fetched.practices,
        fetched.cpts,
    )
    found = fetched.found
    with_schedule = "Slot:schedule" in query.includes
    actors = query.includes & _INCLUDE_ACTORS
    with_role = with_schedule and actors and actors != {"Schedule:actor:Practitioner"}
    with_practitioner = with_schedule and actors and actors != {"Schedule:actor:PractitionerRole"}

    # 5. The entries: one per plage, none past a professional's SNP cap.
    capacity = _Capacity()
    plages: set[tuple] = set()
    signer = _LinkSigner()
    tz = timezone.get_current_timezone()
    instants = _INSTANTS.setdefault(tz, {})  # most slots start on the same quarter hours
    slot_profile = _PROFILE_SLOT_CPTS if query.cpts_variant else _PROFILE_SLOT
    entries: list[dict] = []
    included: list[dict] = []
    seen: set = set()
    cpts_service_types: dict[int, dict] = {}

    def instant(value) -> str:
        text = instants.get(value)
        if text is None:
            if len(instants) > 50_000:
                instants.clear()
            text = instants[value] = (
                _as_datetime(value).astimezone(tz).isoformat(timespec="milliseconds")
            )
        return text

    def add(resource: dict) -> None:
        included.append(
            {
                "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": _SEARCH_INCLUDE,
            }
        )

    for row in rows:
        (public_id, start, end, modality, is_plage, for_sas, for_cpts, for_public) = row[:8]
        for_partners, pro_id, practice_id, source, deep_link = row[8:]
        pro = pros[pro_id]
        if (pro.per_day is not None or pro.per_week is not None) and capacity.full(
            pro_id, _as_datetime(start), per_day=pro.per_day, per_week=pro.per_week
        ):
            continue
        if is_plage:
            key = (pro_id, practice_id, start, end)
            if key in plages:
                continue
            plages.add(key)
        slot_id = str(public_id)  # text already on PostgreSQL
        cpts_list = [c for c in pro.cpts if c in cpts_rows] if for_cpts else []
        security = []
        if for_public:
            security.append(_SECURITY["PUBLIC"])
        if for_partners:
            security.append(_SECURITY["PRO"])
        if for_sas and pro.sas_participant:
            security.append(_SECURITY["SNP"])
        if for_cpts and cpts_list:
            security.append(_SECURITY["CPTS"])
        service_types = [_SERVICE_TYPE.get(modality, _SERVICE_TYPE_DEFAULT)]
        for cpts_id in cpts_list:
            service_type = cpts_service_types.get(cpts_id)
            if service_type is None:
                service_type = cpts_service_types[cpts_id] = {
                    "extension": [
                        {
                            "url": r.EXT_SERVICE_TYPE_REFERENCE,
                            "valueReference": {"reference": f"HealthcareService/hs-{cpts_id}"},
                        }
                    ],
                    "coding": _CPTS_CODING,
                    "text": cpts_rows[cpts_id][1],
                }
            service_types.append(service_type)
        schedule = f"sch-{pro_id}-{practice_id}"
        # A partner's mirrored slot is booked at the partner's (its own link).
        comment = deep_link if source not in LOCAL_SOURCES and deep_link else signer.link(slot_id)
        slot = {
            "resourceType": "Slot",
            "id": slot_id,
            "meta": {"profile": slot_profile, "security": security}
            if security
            else {"profile": slot_profile},
            "serviceType": service_types,
            "appointmentType": _APPOINTMENT_TYPE[bool(is_plage)],
            "schedule": {"reference": f"Schedule/{schedule}"},
            "status": "free",
            "start": instant(start),
            "end": instant(end),
            "comment": comment,
        }
        if pro.specialty:
            slot["specialty"] = pro.specialty
        entries.append(
            {"fullUrl": f"{base}/Slot/{slot_id}", "resource": slot, "search": _SEARCH_MATCH}
        )
        if with_schedule and ("Schedule", schedule) not in seen:
            seen.add(("Schedule", schedule))
            role = f"role-{pro_id}-{practice_id}"
            add(
                {
                    "resourceType": "Schedule",
                    "id": schedule,
                    "meta": _META_SCHEDULE,
                    "active": True,
                    "actor": [
                        {"reference": f"Practitioner/{pro.public_id}"},
                        {"reference": f"PractitionerRole/{role}"},
                    ],
                }
            )
            if with_practitioner and ("Practitioner", pro_id) not in seen:
                seen.add(("Practitioner", pro_id))
                add(_practitioner(pro))
            if with_role:  # one Schedule per (professional, place): one role too
                add(_role(pro, practices[practice_id], _rang(pro, practice_id), base))
        for cpts_id in cpts_list:
            if ("HealthcareService", cpts_id) not in seen:
                seen.add(("HealthcareService", cpts_id))
                add(_healthcare_service(cpts_rows[cpts_id]))
                if "HealthcareService:organization" in query.includes:
                    add(_organization(cpts_rows[cpts_id]))

    bundle = {"resourceType": "Bundle"}
    # The IG's Bundle profile; the CPTS one requires at least a Slot, a Schedule, a
    # Practitioner and a PractitionerRole (claimed only when they are all there).
    kinds = {e["resource"]["resourceType"] for e in included}
    if entries:
        kinds.add("Slot")
    if not query.cpts_variant:
        bundle["meta"] = {"profile": [r.PROFILE_BUNDLE]}
    elif {"Slot", "Schedule", "Practitioner", "PractitionerRole"} <= kinds:
        bundle["meta"] = {"profile": [r.PROFILE_BUNDLE_CPTS]}
    bundle.update(
        type="searchset",
        timestamp=r.instant(now),
        total=len(entries),
        link=[{"relation": "self", "url": self_url}],
    )
    items = entries + included
    outcome = _warnings_outcome(query, found)
    if outcome is not None:
        items.append(
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": outcome, "search": _SEARCH_OUTCOME}
        )
    if items:
        bundle["entry"] = items
    return bundle, len(entries)


def _practitioner(pro: _Pro) -> dict:
    return {
        "resourceType": "Practitioner",
        "id": pro.public_id,
        "meta": _META_PRACTITIONER,
        "identifier": [{"type": _IDNPS_TYPE, "system": r.SYSTEM_RPPS, "value": f"8{pro.rpps}"}],
        "active": pro.active,
        "name": [{"family": pro.last_name, "given": [pro.first_name]}],
    }


def _role(pro: _Pro, practice: tuple, rang: int, base: str) -> dict:
    pk, public_id, name, address, phone, latitude, longitude, city, postal_codes, _ = practice
    location = {
        "resourceType": "Location",
        "id": "loc",
        "meta": _META_LOCATION,
        "identifier": [
            {"type": _LOCATION_ID_TYPE, "system": f"{base}/Location", "value": str(public_id)}
        ],
        "name": name,
        "address": _address(name, address, city, postal_codes),
        "position": {"latitude": latitude, "longitude": longitude},
    }
    practice_phone = r.phone_e164(phone)
    if practice_phone:
        location["telecom"] = [{"system": "phone", "value": practice_phone}]
    role = {
        "resourceType": "PractitionerRole",
        "id": f"role-{pro.pk}-{pk}",
        "meta": _META_ROLE,
        "contained": [location],
        "active": pro.active,
        "practitioner": {"reference": f"Practitioner/{pro.public_id}"},
        "organization": {
            "identifier": {
                "type": _IDNST_TYPE,
                "system": r.SYSTEM_STRUCTURE,
                "value": f"4{pro.rpps}{rang:03d}",
            },
            "display": name,
        },
        "location": _LOC_REFERENCE,
    }
    if pro.specialty:
        role["specialty"] = pro.specialty
    telephone = r.phone_e164(pro.phone) or practice_phone
    if telephone:
        role["telecom"] = [{"system": "phone", "value": telephone}]
    return role


def _healthcare_service(cpts: tuple) -> dict:
    pk, name, _finess, _phone = cpts
    return {
        "resourceType": "HealthcareService",
        "id": f"hs-{pk}",
        "meta": _META_HEALTHCARE_SERVICE,
        "active": True,
        "providedBy": {"reference": f"Organization/org-{pk}"},
        "name": f"Soins non programmés — {name}",
    }


def _organization(cpts: tuple) -> dict:
    pk, name, finess, phone = cpts
    resource = {
        "resourceType": "Organization",
        "id": f"org-{pk}",
        "meta": _META_ORGANIZATION,
        "identifier": [
            {"type": _IDNST_FR_CORE_TYPE, "system": r.SYSTEM_STRUCTURE, "value": f"1{finess}"}
        ],
        "active": True,
        "name": name,
    }
    telephone = r.phone_e164(phone)
    if telephone:
        resource["telecom"] = [{"system": "phone", "value": telephone}]
    return resource


def dumps(bundle: dict) -> bytes:
    """The answer's bytes, serialised once (UTF-8, not ASCII-escaped)."""
    return orjson.dumps(bundle)
