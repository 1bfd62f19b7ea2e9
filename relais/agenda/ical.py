"""iCalendar (RFC 5545) reading and writing through the `icalendar` library, Django-free.

Reading: VEVENT blocks of an uploaded file, DTSTART and DTEND (or DURATION) in the
forms calendar software exports: UTC (`...Z`), with `TZID=` (any IANA zone; the library
maps Windows zone names), floating (taken as Europe/Paris) and whole days
(`VALUE=DATE`, refused for availability: a slot has hours). Every refusal is an IcsError
with a French message for the professional. Writing: a VCALENDAR of events with UTC
times (the library escapes and folds the lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

PARIS = ZoneInfo("Europe/Paris")
MAX_EVENTS = 500
# RFC 5545 3.3.6 durations, checked on the raw line (the library reads "P" as zero).
_DURATION = re.compile(r"^[+-]?P(?:\d+W)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?$")


class IcsError(ValueError):
    """The file cannot be read; the message is French, for the professional."""


@dataclass(frozen=True)
class Event:
    start: datetime  # aware
    end: datetime  # aware
    uid: str
    summary: str


def _lines(text: str) -> list[str]:
    return [line for line in re.split(r"\r\n|\r|\n", text) if line]


def _precheck(text: str) -> str:
    """What the library would refuse with an English message, refused in French first
    (not a calendar, a recurring event, a truncated event); a missing final
    END:VCALENDAR after complete events is tolerated (some exports drop it)."""
    text = text.lstrip("\ufeff")
    lines = _lines(text)
    if not lines or lines[0].strip().upper() != "BEGIN:VCALENDAR":
        raise IcsError("Ce fichier n'est pas un calendrier iCalendar (.ics).")
    number, inside = 0, False
    for line in lines:
        head = line.split(":", 1)[0].split(";", 1)[0].strip().upper()
        value = line.split(":", 1)[1].strip().upper() if ":" in line else ""
        if head == "BEGIN" and value == "VEVENT":
            number, inside = number + 1, True
        elif head == "END" and value == "VEVENT":
            inside = False
        elif inside and head == "DURATION" and line[:1] not in (" ", "\t"):
            raw = line.split(":", 1)[1].strip() if ":" in line else ""
            if raw.upper() in ("P", "PT", "+P", "-P") or not _DURATION.match(raw.upper()):
                raise IcsError(f"Événement n° {number} : durée illisible ({raw[:30]}).")
        elif inside and head in ("RRULE", "RDATE") and line[:1] not in (" ", "\t"):
            raise IcsError(
                f"Événement n° {number} : événement récurrent ; pour une disponibilité "
                "qui se répète, créez une règle hebdomadaire."
            )
    if inside:
        raise IcsError("Fichier tronqué : un événement n'est pas terminé.")
    if number > MAX_EVENTS:
        raise IcsError(f"Plus de {MAX_EVENTS} événements : découpez le fichier.")
    if lines[-1].strip().upper() != "END:VCALENDAR":
        text = text.rstrip("\r\n") + "\r\nEND:VCALENDAR\r\n"
    return text


def _broken(event, name: str) -> str | None:
    for prop, _message in event.errors:
        if prop == name:
            return str(event.get(name))[:30]
    return None


def _datetime(event, name: str, number: int) -> datetime | None:
    prop = event.get(name)
    if prop is None:
        return None
    raw = _broken(event, name)
    if raw is not None:
        if re.fullmatch(r"\d{8}", raw):
            raise IcsError(
                f"Événement n° {number} : journée entière sans heure, impossible d'en faire "
                "un créneau."
            )
        raise IcsError(f"Événement n° {number} : date illisible ({raw}).")
    value = prop.dt
    if isinstance(value, date) and not isinstance(value, datetime):
        raise IcsError(
            f"Événement n° {number} : journée entière sans heure, impossible d'en faire un créneau."
        )
    if not isinstance(value, datetime):
        raise IcsError(f"Événement n° {number} : date illisible ({str(value)[:30]}).")
    if value.tzinfo is None:  # floating, or a zone the library does not know: France
        value = value.replace(tzinfo=PARIS)
    return value


def _duration(event, number: int) -> timedelta | None:
    prop = event.get("DURATION")
    if prop is None:
        return None
    if _broken(event, "DURATION") is not None or not isinstance(prop.dt, timedelta):
        raise IcsError(f"Événement n° {number} : durée illisible ({str(prop)[:30]}).")
    return prop.dt


def parse_events(text: str) -> list[Event]:
    """The VEVENTs of an .ics file; raises IcsError (French) on unreadable input.

    Recurring events (RRULE) are refused rather than half-read: the import is for
    one-off availability.
    """
    text = _precheck(text)
    try:
        calendar_ = icalendar.Calendar.from_ical(text)
    except ValueError:
        raise IcsError("Ce fichier n'est pas un calendrier iCalendar (.ics).") from None
    events: list[Event] = []
    for number, component in enumerate(calendar_.walk("VEVENT"), start=1):
        start = _datetime(component, "DTSTART", number)
        if start is None:
            raise IcsError(f"Événement n° {number} : pas de date de début (DTSTART).")
        end = _datetime(component, "DTEND", number)
        if end is None:
            length = _duration(component, number)
            if length is None:
                raise IcsError(f"Événement n° {number} : pas de fin (DTEND ou DURATION).")
            end = start + length
        events.append(
            Event(
                start=start.astimezone(UTC),
                end=end.astimezone(UTC),
                uid=str(component.get("UID", "")),
                summary=str(component.get("SUMMARY", "")),
            )
        )
    if not events:
        raise IcsError("Aucun événement dans ce fichier.")
    return events


# --- writing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    location: str = ""


def calendar(events: list[FeedEvent], *, name: str, now: datetime) -> str:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Relais//Agenda SNP//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for item in events:
        event = icalendar.Event()
        event.add("uid", item.uid)
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", item.start.astimezone(UTC))
        event.add("dtend", item.end.astimezone(UTC))
        event.add("summary", item.summary)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        cal.add_component(event)
    return cal.to_ical().decode()


__all__ = ["Event", "FeedEvent", "IcsError", "calendar", "parse_events"]
