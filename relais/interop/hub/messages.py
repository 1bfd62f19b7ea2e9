"""Hub Santé messages: the EDXL-DE envelope, its RC-DE header and the use-case contents
Relais exchanges (RS-EDA createCaseHealth in, RS-SAS-RDV appointment out, RC-REF
reference and RS-ERROR error both ways), validated against the models vendored from
ansforge/SAMU-Hub-Modeles (schemas/, NOTICE.md). Django-free.

Every message in is validated before anything is read from it; every message out is
validated before it is queued (an invalid one is a bug of ours: ValueError)."""

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jsonschema import Draft7Validator

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
EXAMPLES_DIR = SCHEMA_DIR / "examples"

# Use-case key inside `message` -> its model (the schema file's stem).
USE_CASES = {
    "createCaseHealth": "RS-EDA",
    "appointment": "RS-SAS-RDV",
    "reference": "RC-REF",
    "error": "RS-ERROR",
}
# The Hub's numbered error codes (com.hubsante.model.report.ErrorCode, the models repo).
ERROR_CODES = {
    "UNRECOGNIZED_MESSAGE_FORMAT": 102,
    "SENDER_INCONSISTENCY": 200,
    "INVALID_MESSAGE": 300,
    "SCHEMA_NOT_FOUND": 301,
    "EXPIRED_MESSAGE_BEFORE_ROUTING": 400,
    "INTERNAL_CLIENT_ERROR": 700,
    "CASE_ALREADY_EXISTS": 701,
    "UNKNOWN_SENDER": 703,
    "INSUFFICIENT_DATA": 704,
}
DISTRIBUTION_ID_UNAVAILABLE = "distributionID_could_not_be_extracted"  # the Hub's constant
ADDRESS_SCHEME = "hubex"


@functools.cache
def validator(model: str) -> Draft7Validator:
    schema = json.loads((SCHEMA_DIR / f"{model}.schema.json").read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def schema_errors(model: str, instance, *, limit: int = 3) -> list[str]:
    """Where and which rule failed, never the offending value (it may be a patient's)."""
    errors = sorted(validator(model).iter_errors(instance), key=lambda e: list(e.absolute_path))
    out = []
    for error in errors[:limit]:
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        rule = error.validator
        if rule in ("required", "enum", "pattern", "type", "additionalProperties"):
            detail = error.validator_value
            if rule == "required" and isinstance(error.instance, dict):
                detail = [k for k in error.validator_value if k not in error.instance]
            if rule == "additionalProperties" and isinstance(error.instance, dict):
                known = set((error.schema.get("properties") or {}).keys())
                detail = sorted(k for k in error.instance if k not in known)[:5]
            rule = f"{rule} {json.dumps(detail, ensure_ascii=False)[:120]}"
        out.append(f"{model} {path}: {rule}")
    return out


class MessageRefused(Exception):
    """A message Relais answers with the Hub's RS-ERROR (code and status string)."""

    def __init__(self, status: str, cause: str, *, envelope: dict | None = None):
        super().__init__(cause)
        self.status = status
        self.code = ERROR_CODES[status]
        self.cause = cause[:1000]
        self.envelope = envelope if isinstance(envelope, dict) else None

    @property
    def distribution_id(self) -> str:
        value = (self.envelope or {}).get("distributionID")
        return value if isinstance(value, str) and value else ""

    @property
    def sender_id(self) -> str:
        value = (self.envelope or {}).get("senderID")
        return value if isinstance(value, str) and value else ""


@dataclass
class Received:
    envelope: dict
    distribution_id: str
    sender_id: str
    recipient_id: str
    kind: str  # distributionKind: Report, Update, Cancel, Ack, Error
    expires: datetime
    use_case: str  # createCaseHealth, reference, error, appointment
    content: dict

    def expired(self, now: datetime) -> bool:
        return self.expires <= now


def parse_instant(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("no offset")
    return value


def parse(body: bytes) -> Received:
    """The envelope and its content, or MessageRefused with the Hub's code: 102 for what
    is not a JSON object, 300 for what breaks the models, 301 for a use case Relais has
    no model for."""
    try:
        envelope = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MessageRefused("UNRECOGNIZED_MESSAGE_FORMAT", "Body is not UTF-8 JSON.") from None
    if not isinstance(envelope, dict):
        raise MessageRefused("UNRECOGNIZED_MESSAGE_FORMAT", "Body is not a JSON object.")
    errors = schema_errors("EDXL-DE-envelope-only", envelope)
    if errors:
        raise MessageRefused("INVALID_MESSAGE", "; ".join(errors), envelope=envelope)
    try:
        expires = parse_instant(envelope["dateTimeExpires"])
        parse_instant(envelope["dateTimeSent"])
    except ValueError:
        raise MessageRefused(
            "INVALID_MESSAGE",
            "dateTimeSent / dateTimeExpires: not ISO 8601 with an offset.",
            envelope=envelope,
        ) from None
    if not envelope["distributionID"].startswith(envelope["senderID"] + "_"):
        raise MessageRefused(
            "INVALID_MESSAGE", "distributionID is not <senderID>_<id>.", envelope=envelope
        )
    message = envelope["content"][0]["jsonContent"]["embeddedJsonContent"].get("message")
    if not isinstance(message, dict):
        raise MessageRefused(
            "INVALID_MESSAGE", "embeddedJsonContent.message is missing.", envelope=envelope
        )
    errors = schema_errors("RC-DE", message)
    if errors:
        raise MessageRefused("INVALID_MESSAGE", "; ".join(errors), envelope=envelope)
    found = [key for key in USE_CASES if key in message]
    if not found:
        others = sorted(k for k in message if k not in validator("RC-DE").schema["properties"])
        raise MessageRefused(
            "SCHEMA_NOT_FOUND",
            f"No model of Relais for this content ({', '.join(others)[:200] or 'none'}).",
            envelope=envelope,
        )
    use_case = found[0]
    content = message[use_case]
    errors = schema_errors(USE_CASES[use_case], content)
    if errors:
        raise MessageRefused("INVALID_MESSAGE", "; ".join(errors), envelope=envelope)
    return Received(
        envelope=envelope,
        distribution_id=envelope["distributionID"],
        sender_id=envelope["senderID"],
        recipient_id=envelope["descriptor"]["explicitAddress"]["explicitAddressValue"],
        kind=envelope["distributionKind"],
        expires=expires,
        use_case=use_case,
        content=content,
    )


def instant(value: datetime) -> str:
    """The models' date-time: seconds and a numeric offset, no fraction, no Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.replace(microsecond=0).isoformat()


def new_distribution_id(sender_id: str) -> str:
    return f"{sender_id}_{uuid.uuid4()}"


def envelope_build(
    *,
    sender_id: str,
    recipient_id: str,
    use_case: str,
    content: dict,
    kind: str = "Report",
    status: str = "Actual",
    ttl_seconds: int = 86400,
    now: datetime | None = None,
    distribution_id: str | None = None,
) -> dict:
    """A complete EDXL-DE envelope for the Hub, validated (ValueError if not)."""
    now = now or datetime.now(UTC)
    distribution_id = distribution_id or new_distribution_id(sender_id)
    message = {
        "messageId": distribution_id,
        "sender": {"name": sender_id, "URI": f"{ADDRESS_SCHEME}:{sender_id}"},
        "sentAt": instant(now),
        "kind": kind,
        "status": status,
        "recipient": [{"name": recipient_id, "URI": f"{ADDRESS_SCHEME}:{recipient_id}"}],
        use_case: content,
    }
    envelope = {
        "distributionID": distribution_id,
        "senderID": sender_id,
        "dateTimeSent": instant(now),
        "dateTimeExpires": instant(now + timedelta(seconds=ttl_seconds)),
        "distributionStatus": status,
        "distributionKind": kind,
        "descriptor": {
            "language": "fr-FR",
            "explicitAddress": {
                "explicitAddressScheme": ADDRESS_SCHEME,
                "explicitAddressValue": recipient_id,
            },
        },
        "content": [{"jsonContent": {"embeddedJsonContent": {"message": message}}}],
    }
    errors = (
        schema_errors("EDXL-DE-envelope-only", envelope)
        + schema_errors("RC-DE", message)
        + schema_errors(USE_CASES[use_case], content)
    )
    if errors:
        raise ValueError("; ".join(errors))
    return envelope


def reference_content(distribution_id: str) -> dict:
    """RC-REF: the functional acknowledgement of a received message."""
    return {"distributionID": distribution_id}


def error_content(*, status: str, cause: str, referenced: str, source: dict | None) -> dict:
    content = {
        "errorCode": {"statusCode": ERROR_CODES[status], "statusString": status},
        "errorCause": cause[:1000],
        "referencedDistributionID": referenced or DISTRIBUTION_ID_UNAVAILABLE,
    }
    if isinstance(source, dict):
        content["sourceMessage"] = source
    return content
