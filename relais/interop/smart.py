"""SMART Scheduling Links: Location, Schedule and Slot resources of the public feed
(https://github.com/smart-on-fhir/smart-scheduling-links, `$bulk-publish`)."""

from relais.interop import resources as r

DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
BOOKING_PHONE = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"


def smart_iso(dt) -> str:
    """A SMART timestamp: `YYYY-MM-DDThh:mm:ss.sss+zz:zz`, Paris offset."""
    from django.utils import timezone

    return timezone.localtime(dt).isoformat(timespec="milliseconds")


def public_booking_link(slot) -> str:
    """The patient-facing page of a public slot (no staff login; the web channel's
    rules apply there: service hours, then the CPTS web form with its red-flag
    questions and consent)."""
    from django.conf import settings
    from django.urls import reverse

    # A slot aggregated from a partner keeps the partner's own booking link (SMART
    # "Slot Aggregators"): booked there, never in Relais behind its back.
    return r.partner_deep_link(slot) or (
        settings.SITE_URL + reverse("interop:public_slot", args=[slot.public_id])
    )


def location_state(practice) -> str:
    """`address.state` (and the manifest's `state` hint): the région, else the
    département, of the practice."""
    departement = practice.commune.departement
    return departement.region_name or departement.name


def smart_location(practice) -> dict:
    """A Location of the feed (SMART spec "Location File"): name, at least one telecom
    (phone and url), one address with line, city, state and postalCode, an identifier
    whose system is a page of the publisher, position."""
    from django.conf import settings

    departement = practice.commune.departement
    resource = r.location_resource(practice)
    resource.pop("meta", None)  # the ANS IG's profiles are not the SMART ones
    address = dict(resource.get("address") or {})
    address["line"] = address.get("line") or [practice.address or practice.name]
    address["city"] = address.get("city") or practice.commune.name
    address["postalCode"] = address.get("postalCode") or (
        (practice.commune.postal_codes or "").split(";")[0] or practice.commune.insee
    )
    address["district"] = departement.name
    address["state"] = location_state(practice)
    resource["address"] = address
    telecom = [t for t in resource.get("telecom") or [] if t.get("system") == "phone"]
    telecom.append({"system": "url", "value": settings.SITE_URL + "/"})
    resource["telecom"] = telecom
    identifiers = [
        i for i in resource.get("identifier") or [] if i.get("system") and i.get("value")
    ]
    if not any(i["system"] == f"{r.base_url()}/Location" for i in identifiers):
        identifiers.append({"system": f"{r.base_url()}/Location", "value": str(practice.public_id)})
    resource["identifier"] = identifiers
    return resource


def smart_resources(kind: str, slots):
    """Yield the resources of one NDJSON file, each once, from the public slots."""
    seen: set[str] = set()
    for slot in slots:
        if kind == "Slot":
            resource = {
                "resourceType": "Slot",
                "id": str(slot.public_id),
                "schedule": {"reference": f"Schedule/{r.schedule_id(slot)}"},
                "status": "free",
                "start": smart_iso(slot.start),
                "end": smart_iso(slot.end),
                "extension": [{"url": DEEP_LINK, "valueUrl": public_booking_link(slot)}],
            }
            if slot.practice.phone:
                resource["extension"].append(
                    {"url": BOOKING_PHONE, "valueString": slot.practice.phone}
                )
            yield resource
            continue
        if kind == "Location":
            key = str(slot.practice.public_id)
            if key not in seen:
                seen.add(key)
                yield smart_location(slot.practice)
            continue
        key = r.schedule_id(slot)
        if key not in seen:
            seen.add(key)
            code, display = r.MODALITY_SERVICE_TYPE.get(
                slot.modality, r.MODALITY_SERVICE_TYPE["cabinet"]
            )
            # One actor, the Location (SMART: "actor: array with one JSON object"); the
            # professional is named in the comment, one Schedule per professional and place.
            yield {
                "resourceType": "Schedule",
                "id": key,
                "active": True,
                "actor": [{"reference": f"Location/{slot.practice.public_id}"}],
                "serviceType": [
                    {"coding": [{"system": r.SYSTEM_ACT_CODE, "code": code, "display": display}]}
                ],
                "comment": slot.professional.display_name,
            }


# --- published files (issue 14, item 11) ---------------------------------------------
# The `$bulk-publish` files are written by the worker on a schedule (`relais publish_bulk`,
# the `publish_bulk` task, deploy/systemd/relais-bulk.timer), never built per request: a
# call only reads a file already on disk (served with ETag / Last-Modified).

KINDS = ("Location", "Schedule", "Slot")
BULK_DAYS = 14
MANIFEST = "manifest.json"
LOCK_KEY = "interop:bulk-publish-lock"
LOCK_SECONDS = 600


def bulk_dir():
    from pathlib import Path

    from django.conf import settings

    return Path(settings.RELAIS_BULK_DIR)


def public_slots():
    """Free public slots of active professionals over the next BULK_DAYS days."""
    from datetime import timedelta

    from django.utils import timezone

    from relais.agenda.models import Slot, SlotStatus

    now = timezone.now()
    return (
        Slot.objects.filter(
            for_public=True,
            status=SlotStatus.FREE,
            start__gt=now,
            start__lte=now + timedelta(days=BULK_DAYS),
            professional__active=True,
        )
        .select_related("professional", "practice__commune__departement", "partner_mirror")
        .order_by("start", "pk")
    )


def bulk_publish_files() -> dict:
    """Write the three NDJSON files in one pass over the slots, each to a temporary file
    renamed over the old one (a reader sees the old file or the new, never half), then
    the manifest (generation time, sizes, ETags). Returns the manifest."""
    import hashlib
    import json
    import os
    from contextlib import ExitStack

    from django.utils import timezone

    directory = bulk_dir()
    directory.mkdir(parents=True, exist_ok=True)
    generated_at = timezone.now()
    suffix = f".tmp-{os.getpid()}"
    digests = {k: hashlib.sha256() for k in KINDS}
    counts = dict.fromkeys(KINDS, 0)
    seen = {"Location": set(), "Schedule": set()}
    states: set[str] = set()  # the manifest's `extension.state` hint, per output
    with ExitStack() as stack:
        handles = {
            k: stack.enter_context(open(directory / f"{k}.ndjson{suffix}", "w", encoding="utf-8"))
            for k in KINDS
        }
        for slot in public_slots().iterator(chunk_size=2000):
            for kind in KINDS:
                resource = _resource(kind, slot, seen)
                if resource is None:
                    continue
                line = json.dumps(resource, ensure_ascii=False) + "\n"
                handles[kind].write(line)
                digests[kind].update(line.encode())
                counts[kind] += 1
            states.add(location_state(slot.practice))
        for handle in handles.values():
            handle.flush()
            os.fsync(handle.fileno())
    files = {}
    for kind in KINDS:
        os.replace(directory / f"{kind}.ndjson{suffix}", directory / f"{kind}.ndjson")
        files[kind] = {
            "count": counts[kind],
            "etag": f'"{digests[kind].hexdigest()[:32]}"',
            "size": (directory / f"{kind}.ndjson").stat().st_size,
        }
    from django.conf import settings

    # The address the files' links were built with: files of another address (the demo
    # served on another port) are stale, see bulk_manifest.
    manifest = {
        "transactionTime": generated_at.isoformat(),
        "files": files,
        "siteUrl": settings.SITE_URL,
        "states": sorted(states),
    }
    tmp = directory / f"{MANIFEST}{suffix}"
    tmp.write_text(json.dumps(manifest), encoding="utf-8")
    os.replace(tmp, directory / MANIFEST)
    return manifest


def _resource(kind, slot, seen):
    """The one resource of `kind` this slot adds to its file (None if already there)."""
    if kind == "Slot":
        return next(smart_resources("Slot", [slot]))
    key = str(slot.practice.public_id) if kind == "Location" else r.schedule_id(slot)
    if key in seen[kind]:
        return None
    seen[kind].add(key)
    return next(smart_resources(kind, [slot]))


def bulk_manifest() -> dict | None:
    """The last generation's manifest, or None if nothing was published yet."""
    import json

    from django.conf import settings

    try:
        manifest = json.loads((bulk_dir() / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    # Files written for another public address (links to another host or port) are as
    # good as none: regenerated rather than served.
    if manifest.get("siteUrl", settings.SITE_URL) != settings.SITE_URL:
        return None
    return manifest


def bulk_manifest_or_generate() -> dict | None:
    """The manifest; if no file was ever generated, generate once, under a lock shared
    by the workers through the cache (others get None: answer 503 with Retry-After)."""
    from django.core.cache import cache

    manifest = bulk_manifest()
    if manifest is not None:
        return manifest
    if not cache.add(LOCK_KEY, 1, timeout=LOCK_SECONDS):
        return None
    try:
        return bulk_manifest() or bulk_publish_files()
    finally:
        cache.delete(LOCK_KEY)
