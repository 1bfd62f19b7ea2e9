"""A small FHIR server standing in for a partner's agenda software (tests only): it
answers the SAS Slot search (INT_R01: Slot + Schedule + Practitioner + Location),
POST Appointment (takes the slot, or 409 when it is already taken there) and metadata.
Built on tests.interop.conftest.FakeEndpoint (a real HTTP server on 127.0.0.1)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from relais.interop.resources import iso
from tests.interop.conftest import RPPS_SYSTEM

DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"


@dataclass
class PartnerSlot:
    id: str
    rpps: str
    start: datetime
    minutes: int = 15
    location: str = "loc-1"
    service_type: dict = field(default_factory=lambda: {"coding": [{"code": "AMB"}]})
    appointment_type: str = "ROUTINE"
    deep_link: str | None = None
    status: str = "free"


class MockPartner:
    def __init__(self, endpoint, *, locations=None):
        self.endpoint = endpoint
        self.slots: dict[str, PartnerSlot] = {}
        self.appointments: list[dict] = []
        self.refuse_all = False
        self.locations = locations or {
            "loc-1": {
                "resourceType": "Location",
                "id": "loc-1",
                "name": "Centre de santé du Canal",
                "address": {
                    "line": ["12 quai de l'Essonne"],
                    "postalCode": "91100",
                    "city": "Corbeil-Essonnes",
                },
                "position": {"latitude": 48.61, "longitude": 2.48},
                "telecom": [{"system": "phone", "value": "0160000000"}],
            }
        }
        endpoint.responder = self.answer

    @property
    def url(self) -> str:
        return self.endpoint.url

    def add(self, slot: PartnerSlot) -> PartnerSlot:
        self.slots[slot.id] = slot
        return slot

    def answer(self, method, path, body):
        if method == "GET" and path.startswith("/fhir/metadata"):
            return 200, {
                "resourceType": "CapabilityStatement",
                "status": "active",
                "fhirVersion": "4.0.1",
            }
        if method == "GET" and path.startswith("/fhir/Slot"):
            return 200, self.bundle()
        if method == "POST" and path == "/fhir/Appointment":
            ref = (body.get("slot") or [{}])[0].get("reference", "")
            slot = self.slots.get(ref.removeprefix("Slot/"))
            if self.refuse_all or slot is None or slot.status != "free":
                return 409, {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "conflict"}],
                }
            slot.status = "busy"
            booked = dict(body, id=f"apt-{len(self.appointments) + 1}", status="booked")
            self.appointments.append(booked)
            return 201, booked
        return 404, {"resourceType": "OperationOutcome"}

    def bundle(self) -> dict:
        entries, seen = [], set()
        for s in self.slots.values():
            if s.status != "free":
                continue
            resource = {
                "resourceType": "Slot",
                "id": s.id,
                "meta": {"security": [{"code": "SNP"}]},
                "serviceType": [s.service_type],
                "appointmentType": {"coding": [{"code": s.appointment_type}]},
                "schedule": {"reference": f"Schedule/s-{s.rpps}-{s.location}"},
                "status": "free",
                "start": iso(s.start),
                "end": iso(s.start + timedelta(minutes=s.minutes)),
            }
            if s.deep_link:
                resource["extension"] = [{"url": DEEP_LINK, "valueUrl": s.deep_link}]
            entries.append(resource)
            for extra in (
                {
                    "resourceType": "Schedule",
                    "id": f"s-{s.rpps}-{s.location}",
                    "actor": [
                        {"reference": f"Practitioner/p-{s.rpps}"},
                        {"reference": f"Location/{s.location}"},
                    ],
                },
                {
                    "resourceType": "Practitioner",
                    "id": f"p-{s.rpps}",
                    "identifier": [{"system": RPPS_SYSTEM, "value": f"8{s.rpps}"}],
                },
                self.locations.get(s.location),
            ):
                if extra is None:
                    continue
                key = (extra["resourceType"], extra["id"])
                if key not in seen:
                    seen.add(key)
                    entries.append(extra)
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": x} for x in entries],
        }
