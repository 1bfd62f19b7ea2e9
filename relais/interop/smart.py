"""SMART Scheduling Links: Location, Schedule and Slot resources of the public feed
(https://github.com/smart-on-fhir/smart-scheduling-links, `$bulk-publish`)."""

from relais.interop import resources as r

DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
BOOKING_PHONE = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"


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
                "start": r.iso(slot.start),
                "end": r.iso(slot.end),
                "extension": [{"url": DEEP_LINK, "valueUrl": r.slot_deep_link(slot)}],
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
                yield r.location_resource(slot.practice)
            continue
        key = r.schedule_id(slot)
        if key not in seen:
            seen.add(key)
            code, display = r.MODALITY_SERVICE_TYPE.get(
                slot.modality, r.MODALITY_SERVICE_TYPE["cabinet"]
            )
            yield {
                "resourceType": "Schedule",
                "id": key,
                "actor": [
                    {"reference": f"Location/{slot.practice.public_id}"},
                    {
                        "reference": f"Practitioner/{slot.professional.public_id}",
                        "display": slot.professional.display_name,
                    },
                ],
                "serviceType": [
                    {"coding": [{"system": r.SYSTEM_ACT_CODE, "code": code, "display": display}]}
                ],
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
        .select_related("professional", "practice__commune")
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
