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
