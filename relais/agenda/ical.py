"""Minimal iCalendar (RFC 5545) reading and writing, stdlib only, Django-free.

Reading: VEVENT blocks of an uploaded file, DTSTART and DTEND (or DURATION) in the
forms calendar software exports: UTC (`...Z`), with `TZID=` (any IANA zone), floating
(taken as Europe/Paris) and whole days (`VALUE=DATE`, refused for availability: a
slot has hours). Writing: a VCALENDAR of events with UTC times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PARIS = ZoneInfo("Europe/Paris")
MAX_EVENTS = 500
_DURATION = re.compile(
    r"^(?P<sign>[+-])?P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


class IcsError(ValueError):
    """The file cannot be read; the message is French, for the professional."""


@dataclass(frozen=True)
class Event:
    start: datetime  # aware
    end: datetime  # aware
    uid: str
    summary: str


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def _split(line: str) -> tuple[str, dict[str, str], str]:
    head, _, value = line.partition(":")
    name, *params = head.split(";")
    parsed = {}
    for param in params:
        key, _, val = param.partition("=")
        parsed[key.upper()] = val.strip('"')
    return name.upper(), parsed, value


def _datetime(value: str, params: dict[str, str], number: int) -> datetime:
    if params.get("VALUE", "").upper() == "DATE" or re.fullmatch(r"\d{8}", value):
        raise IcsError(
            f"Événement n° {number} : journée entière sans heure, impossible d'en faire un créneau."
        )
    try:
        if value.endswith("Z"):
            return datetime.strptime(value[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        naive = datetime.strptime(value, "%Y%m%dT%H%M%S")  # noqa: DTZ007 - zone set below
    except ValueError:
        raise IcsError(f"Événement n° {number} : date illisible ({value[:30]}).") from None
    zone = PARIS
    if "TZID" in params:
        try:
            zone = ZoneInfo(params["TZID"])
        except (ZoneInfoNotFoundError, ValueError):
            zone = PARIS  # Windows zone names and the like: the file comes from France
    return naive.replace(tzinfo=zone)


def _duration(value: str, number: int) -> timedelta:
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT"):
        raise IcsError(f"Événement n° {number} : durée illisible ({value[:30]}).")
    parts = {k: int(v) for k, v in match.groupdict().items() if v and k != "sign"}
    length = timedelta(
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
    return -length if match.group("sign") == "-" else length


def _unescape(value: str) -> str:
    return (
        value.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",").replace("\\;", ";")
    ).replace("\\\\", "\\")


def parse_events(text: str) -> list[Event]:
    """The VEVENTs of an .ics file; raises IcsError (French) on unreadable input.

    Recurring events (RRULE) are refused rather than half-read: the import is for
    one-off availability.
    """
    lines = _unfold(text)
    if not lines or lines[0].strip().upper() != "BEGIN:VCALENDAR":
        raise IcsError("Ce fichier n'est pas un calendrier iCalendar (.ics).")
    events: list[Event] = []
    current: dict | None = None
    depth = 0  # VALARM and other components nested in a VEVENT
    for line in lines:
        name, params, value = _split(line)
        if name == "BEGIN" and value.upper() == "VEVENT":
            current = {"number": len(events) + 1}
            continue
        if current is None:
            continue
        if name == "BEGIN":
            depth += 1
        elif name == "END" and value.upper() != "VEVENT":
            depth -= 1
        elif name == "END":
            events.append(_event(current))
            if len(events) > MAX_EVENTS:
                raise IcsError(f"Plus de {MAX_EVENTS} événements : découpez le fichier.")
            current, depth = None, 0
        elif depth == 0:
            number = current["number"]
            if name in ("DTSTART", "DTEND"):
                current[name] = _datetime(value.strip(), params, number)
            elif name == "DURATION":
                current[name] = _duration(value, number)
            elif name in ("UID", "SUMMARY"):
                current[name] = _unescape(value.strip())
            elif name in ("RRULE", "RDATE"):
                raise IcsError(
                    f"Événement n° {number} : événement récurrent ; pour une disponibilité "
                    "qui se répète, créez une règle hebdomadaire."
                )
    if current is not None:
        raise IcsError("Fichier tronqué : un événement n'est pas terminé.")
    if not events:
        raise IcsError("Aucun événement dans ce fichier.")
    return events


def _event(data: dict) -> Event:
    number = data["number"]
    if "DTSTART" not in data:
        raise IcsError(f"Événement n° {number} : pas de date de début (DTSTART).")
    start = data["DTSTART"]
    if "DTEND" in data:
        end = data["DTEND"]
    elif "DURATION" in data:
        end = start + data["DURATION"]
    else:
        raise IcsError(f"Événement n° {number} : pas de fin (DTEND ou DURATION).")
    return Event(
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        uid=data.get("UID", ""),
        summary=data.get("SUMMARY", ""),
    )


# --- writing -----------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> list[str]:
    """Lines of at most 75 octets (RFC 5545 3.1), continuation lines start with a space."""
    out, current = [], ""
    for char in line:
        limit = 75 if not out else 74
        if len((current + char).encode()) > limit:
            out.append(current)
            current = char
        else:
            current += char
    out.append(current)
    return [out[0], *(" " + part for part in out[1:])]


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    location: str = ""


def calendar(events: list[FeedEvent], *, name: str, now: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Relais//Agenda SNP//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(event.start)}",
            f"DTEND:{_stamp(event.end)}",
            f"SUMMARY:{_escape(event.summary)}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{_escape(event.description)}")
        if event.location:
            lines.append(f"LOCATION:{_escape(event.location)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(folded for line in lines for folded in _fold(line)) + "\r\n"


__all__ = ["Event", "FeedEvent", "IcsError", "calendar", "parse_events"]
