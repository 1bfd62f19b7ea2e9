"""The checks of SMART Scheduling Links, ported to run on our own answers.

Sources (read with the fetch tool, December 2026):
- smart-on-fhir/smart-scheduling-links, specification.md: timestamps, Accept headers,
  Cache-Control, the Location / Schedule / Slot field tables, the deep-link rules;
- inferno-framework/smart-scheduling-links-test-kit, lib/smart_scheduling_links_test_kit/
  manifest_group.rb (manifest_url_form, manifest_download, manifest_cache_control_header,
  manifest_structure with its INSTANT_REGEX, manifest_state_extensions) and
  resource_group.rb with the profiles of fsh/input/fsh/ (vaccine-location, -address,
  -schedule, -slot and the invariants vaccine-location-1, vaccine-slot-1/2).
US-only parts are left out (the VTrckS PIN, the COVID-19 serviceType codings); each check
of the list below names its origin.

`run_checks(get)` takes `get(url, headers) -> (status, headers, body bytes)` and returns
[(check id, passed, detail)]: a check passes when it holds for every resource."""

import json
import re
from urllib.parse import urlsplit

from fhir.resources.R4B import get_fhir_model_class

# manifest_group.rb, verbatim.
INSTANT_REGEX = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|"
    r"3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3])"
    r":[0-5][0-9]|14:00))"
)
# specification.md "Timestamps": YYYY-MM-DDThh:mm:ss.sss+zz:zz (milliseconds and offset).
SPEC_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")
# specification.md: "up to 64 alphanumeric characters and may include - and ."
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
BOOKING_PHONE = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"
TYPES = ("Location", "Schedule", "Slot")


def _http_uri(value) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _fhir_valid(resource) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except Exception:  # noqa: BLE001 - any validation error fails the check
        return False
    return True


class _Results:
    def __init__(self):
        self.rows: dict[str, list] = {}

    def check(self, check_id: str, ok: bool, detail: str = ""):
        row = self.rows.setdefault(check_id, [True, ""])
        if not ok and row[0]:
            row[0], row[1] = False, detail

    def as_list(self):
        return [(k, v[0], v[1]) for k, v in self.rows.items()]


def run_checks(get, manifest_url: str, *, public_get=None) -> list[tuple[str, bool, str]]:
    """`public_get`: a `get` without any session (the deep link must open without login);
    defaults to `get`."""
    public_get = public_get or get
    res = _Results()
    # manifest_url_form
    res.check(
        "manifest.url_form", manifest_url.endswith("$bulk-publish") and _http_uri(manifest_url)
    )
    # manifest_download (Accept: application/json) and the spec's "no Accept header"
    status, headers, body = get(manifest_url, {"Accept": "application/json"})
    res.check("manifest.download", status == 200, f"HTTP {status}")
    try:
        manifest = json.loads(body)
    except ValueError:
        res.check("manifest.download", False, "not JSON")
        return res.as_list()
    status2, _, body2 = get(manifest_url, {})
    res.check("manifest.accept_none", status2 == 200 and json.loads(body2) == manifest)
    # manifest_cache_control_header
    res.check(
        "manifest.cache_control",
        bool(re.search(r"max-age=\d+", headers.get("Cache-Control", ""))),
        headers.get("Cache-Control", "none"),
    )
    # manifest_structure
    ok = isinstance(manifest, dict) and all(
        isinstance(manifest.get(k), t)
        for k, t in (("transactionTime", str), ("request", str), ("output", list))
    )
    res.check("manifest.structure.fields", ok)
    if not ok:
        return res.as_list()
    res.check(
        "manifest.structure.transaction_time",
        bool(INSTANT_REGEX.fullmatch(manifest["transactionTime"])),
        manifest["transactionTime"],
    )
    res.check("manifest.structure.request_uri", _http_uri(manifest["request"]))
    outputs = [o for o in manifest["output"] if isinstance(o, dict) and o.get("type") in TYPES]
    for output in outputs:
        res.check(
            "manifest.structure.output",
            isinstance(output.get("type"), str) and _http_uri(output.get("url")),
            str(output),
        )
        ext = output.get("extension")
        if ext is not None:
            states = ext.get("state") if isinstance(ext, dict) else None
            res.check(
                "manifest.structure.state_strings",
                isinstance(ext, dict)
                and (
                    states is None
                    or (isinstance(states, list) and all(isinstance(s, str) for s in states))
                ),
            )
    # manifest_state_extensions (optional in Inferno, a SHOULD of the spec)
    res.check(
        "manifest.state_extensions",
        all((o.get("extension") or {}).get("state") for o in outputs) and bool(outputs),
    )
    res.check("manifest.three_types", {o["type"] for o in outputs} == set(TYPES))
    # Output files: the spec's two Accept cases, same NDJSON; Cache-Control.
    files: dict[str, list[dict]] = {t: [] for t in TYPES}
    for output in outputs:
        path = output["url"]
        status, headers, body = get(path, {"Accept": "application/fhir+ndjson"})
        status2, _, body2 = get(path, {})
        res.check("files.download", status == 200, f"{output['type']}: HTTP {status}")
        res.check("files.accept_none", status2 == 200 and body2 == body)
        res.check(
            "files.cache_control", bool(re.search(r"max-age=\d+", headers.get("Cache-Control", "")))
        )
        for line in body.decode().splitlines():
            try:
                resource = json.loads(line)
            except ValueError:
                res.check("files.ndjson", False, line[:80])
                continue
            res.check("files.ndjson", isinstance(resource, dict))
            res.check(
                "files.type_matches", resource.get("resourceType") == output["type"], line[:80]
            )
            files[output["type"]].append(resource)
    location_ids = {x.get("id") for x in files["Location"]}
    schedule_ids = {x.get("id") for x in files["Schedule"]}
    for loc in files["Location"]:
        _check_location(res, loc)
    for sch in files["Schedule"]:
        rid = sch.get("id")
        res.check("schedule.id", bool(ID_RE.match(str(rid or ""))), str(rid))
        actors = sch.get("actor") or []
        # vaccine-schedule: actor 1..1, only Reference(Location), in the Location file
        res.check("schedule.actor_one", len(actors) == 1, f"{rid}: {len(actors)} actors")
        res.check(
            "schedule.actor_location",
            all(
                str(a.get("reference", "")).startswith("Location/")
                and a["reference"].removeprefix("Location/") in location_ids
                for a in actors
            ),
            rid,
        )
        res.check("schedule.service_type", bool(sch.get("serviceType")), rid)
        res.check("schedule.fhir_valid", _fhir_valid(sch), rid)
    links = []
    for slot in files["Slot"]:
        rid = slot.get("id")
        res.check("slot.id", bool(ID_RE.match(str(rid or ""))), str(rid))
        ref = (slot.get("schedule") or {}).get("reference", "")
        res.check(
            "slot.schedule_ref",
            ref.startswith("Schedule/") and ref.removeprefix("Schedule/") in schedule_ids,
            ref,
        )
        res.check("slot.status", slot.get("status") in ("free", "busy"), str(slot.get("status")))
        for key in ("start", "end"):
            value = str(slot.get(key) or "")
            res.check("slot.instant", bool(INSTANT_REGEX.fullmatch(value)), value)
            res.check("slot.spec_timestamp", bool(SPEC_TIMESTAMP.match(value)), value)
        exts = {e.get("url"): e for e in slot.get("extension") or []}
        link = (exts.get(DEEP_LINK) or {}).get("valueUrl")
        # vaccine-slot-1 (booking link) and -2 (booking phone), warnings of the profile
        res.check("slot.booking_link", _http_uri(link), rid)
        res.check(
            "slot.booking_phone",
            isinstance((exts.get(BOOKING_PHONE) or {}).get("valueString"), str),
        )
        res.check("slot.fhir_valid", _fhir_valid(slot), rid)
        if link:
            links.append(link)
    # Deep links hosted by the Provider Booking Portal: opened by the patient (no staff
    # login), with the client's `source` and `booking-referral` appended.
    for link in links[:5]:
        sep = "&" if urlsplit(link).query else "?"
        status, headers, _ = public_get(f"{link}{sep}source=test&booking-referral=abc", {})
        res.check(
            "slot.deep_link_public",
            status == 200 and "login" not in headers.get("Location", ""),
            f"HTTP {status} {headers.get('Location', '')}",
        )
    res.check("files.not_empty", all(files[t] for t in TYPES))
    return res.as_list()


def _check_location(res: _Results, loc: dict) -> None:
    rid = loc.get("id")
    res.check("location.id", bool(ID_RE.match(str(rid or ""))), str(rid))
    res.check("location.name", bool(loc.get("name")), rid)
    telecom = loc.get("telecom") or []
    res.check(
        "location.telecom",
        bool(telecom)
        and all(t.get("system") in ("phone", "url") and t.get("value") for t in telecom),
        rid,
    )
    systems = {t.get("system") for t in telecom}
    res.check("location.phone_and_url", {"phone", "url"} <= systems, rid)  # vaccine-location-1
    address = loc.get("address")
    res.check(
        "location.address",
        isinstance(address, dict)
        and bool(address.get("line"))
        and all(address.get(k) for k in ("city", "state", "postalCode")),
        f"{rid}: {address}",
    )
    identifiers = loc.get("identifier") or []
    res.check(
        "location.identifier",
        bool(identifiers) and all(i.get("system") and i.get("value") for i in identifiers),
        rid,
    )
    position = loc.get("position")
    if position is not None:
        res.check(
            "location.position",
            isinstance(position.get("latitude"), int | float)
            and isinstance(position.get("longitude"), int | float),
            rid,
        )
    res.check("location.fhir_valid", _fhir_valid(loc), rid)


def django_get(client):
    """A `get` over Django's test client (streamed files read whole)."""

    def get(url, headers):
        path = urlsplit(url)
        target = path.path + (f"?{path.query}" if path.query else "")
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        response = client.get(target, **extra)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        return response.status_code, dict(response.headers), body

    return get
