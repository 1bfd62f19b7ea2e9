"""A test LRM (the SAMU's regulation software) talking to Relais through the Hub: builds
RS-EDA cases as the models define them (validated by relais.interop.hub.messages)."""

import itertools
import json
from datetime import UTC, datetime, timedelta

from relais.interop.hub import messages as m

LRM_ID = "fr.health.samu910"
RELAIS_ID = "fr.health.test.relais"
_numbers = itertools.count(1)


def case_content(
    *,
    number: int | None = None,
    perimeter: str = "SNP",
    insee: str = "91228",
    motive: str = "Fièvre depuis hier soir, pas de difficulté respiratoire",
    gp_rpps: str = "",
    last_name: str = "Martin",
    first_name: str = "Lucie",
) -> dict:
    number = number or next(_numbers)
    case_id = f"{LRM_ID}.DRFR1591026{number:08d}"
    patient_id = f"{LRM_ID}.patient.DRFR1591026{number:08d}.1"
    patient = {
        "patientId": patient_id,
        "identity": {
            "strictFeatures": {"birthName": "DUPONT", "birthDate": "1987-03-14", "sex": "F"},
            "nonStrictFeatures": {
                "complete": f"{first_name} {last_name}",
                "lastName": last_name,
                "firstName": first_name,
            },
        },
    }
    if gp_rpps:
        patient["administrativeFile"] = {
            "generalPractitioner": {
                "detailedName": {"complete": "Dr Médecin Traitant"},
                "rppsId": gp_rpps,
            }
        }
    return {
        "caseId": case_id,
        "senderCaseId": f"DRFR1591026{number:08d}",
        "creation": m.instant(datetime.now(UTC)),
        "perimeter": perimeter,
        "qualification": {
            "healthMotive": {"code": "M03.01", "label": "Problème de santé non urgent"},
            "origin": "15",
        },
        "location": {"city": {"name": "Évry-Courcouronnes", "inseeCode": insee}},
        "initialAlert": {
            "reception": m.instant(datetime.now(UTC)),
            "caller": {
                "callerContact": {"channel": "PERSONNE", "type": "TEL", "detail": "+33639981111"},
                "callbackContact": {
                    "channel": "PERSONNE",
                    "type": "TEL",
                    "detail": "+33639982222",
                },
            },
            "notes": [{"freetext": motive}],
        },
        "owner": LRM_ID,
        "patient": [patient],
    }


def case_envelope(content: dict | None = None, *, expires_in: int = 3600, **kwargs) -> dict:
    content = content or case_content(**kwargs)
    envelope = m.envelope_build(
        sender_id=LRM_ID,
        recipient_id=RELAIS_ID,
        use_case="createCaseHealth",
        content=content,
        ttl_seconds=3600,
    )
    if expires_in != 3600:
        envelope["dateTimeExpires"] = m.instant(datetime.now(UTC) + timedelta(seconds=expires_in))
    return envelope


def body(envelope: dict) -> bytes:
    return json.dumps(envelope).encode()


def use_case_of(envelope: dict) -> str:
    message = envelope["content"][0]["jsonContent"]["embeddedJsonContent"]["message"]
    return next(k for k in m.USE_CASES if k in message)


def content_of(envelope: dict) -> dict:
    message = envelope["content"][0]["jsonContent"]["embeddedJsonContent"]["message"]
    return message[use_case_of(envelope)]
