"""When a surnuméraire may be placed (issue 18, item 5): within the practice's opening
hours and the SAS regulation hours; for a doctor who takes part in the PDSA (publishes
PDSA slots), also the PDSA evening, weekend and holiday hours (never the deep night,
0 h - 8 h). Outside: a French refusal naming the hours, and a time proposed.

The practice's opening hours are Practice.opening_hours (the CPTS service-hours format,
closed on public holidays) when set, else RELAIS_PRACTICE_HOURS (default Monday to Friday
8 h - 20 h, Saturday 8 h - 12 h)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from relais.territory.hours import is_pdsa, is_sas_hours
from relais.territory.service_hours import PARIS, is_open

DEFAULT_PRACTICE_HOURS = {
    "1": [["08:00", "20:00"]],
    "2": [["08:00", "20:00"]],
    "3": [["08:00", "20:00"]],
    "4": [["08:00", "20:00"]],
    "5": [["08:00", "20:00"]],
    "6": [["08:00", "12:00"]],
}
STEP = timedelta(minutes=15)
LEAD = timedelta(minutes=30)  # time to reach the practice
HORIZON = timedelta(days=3)  # as _adhoc_slot


DAY_NAMES = {1: "lundi", 2: "mardi", 3: "mercredi", 4: "jeudi", 5: "vendredi", 6: "samedi",
             7: "dimanche"}  # fmt: skip


def own_hours(practice) -> dict | None:
    """The practice's own opening hours, or None (not set: the default applies)."""
    hours = getattr(practice, "opening_hours", None) or {}
    return hours if any(str(d) in hours for d in DAY_NAMES) else None


def practice_hours(practice) -> dict:
    return (
        own_hours(practice)
        or getattr(settings, "RELAIS_PRACTICE_HOURS", None)
        or DEFAULT_PRACTICE_HOURS
    )


def describe_hours(hours: dict) -> str:
    """ "lundi 14:00-18:00, mardi 08:00-12:00 et 14:00-18:00" (French, for the refusal)."""
    days = [
        f"{name} " + " et ".join(f"{start}-{end}" for start, end in hours[str(day)])
        for day, name in DAY_NAMES.items()
        if hours.get(str(day))
    ]
    return ", ".join(days) or "aucune"


def does_pdsa(professional) -> bool:
    from relais.agenda.models import Slot

    return Slot.objects.filter(professional=professional, pdsa=True).exists()


def is_allowed(start: datetime, *, hours: dict, pdsa: bool) -> bool:
    if is_open(hours, start) and is_sas_hours(start):
        return True
    local = start.astimezone(PARIS)
    return pdsa and is_pdsa(start) and local.hour >= 8


def first_allowed(after: datetime, *, hours: dict, pdsa: bool) -> datetime | None:
    """The first quarter-hour at least LEAD after `after` that is allowed, or None."""
    local = (after + LEAD).astimezone(PARIS)
    at = local.replace(second=0, microsecond=0)
    if at.minute % 15:
        at += timedelta(minutes=15 - at.minute % 15)
    end = after + HORIZON
    while at <= end:
        if is_allowed(at, hours=hours, pdsa=pdsa):
            return at
        at = (at + STEP).astimezone(PARIS)
    return None


def proposed_start(professional, practice, *, now=None) -> datetime | None:
    return first_allowed(
        now or timezone.now(), hours=practice_hours(practice), pdsa=does_pdsa(professional)
    )


def refusal(professional, practice, start: datetime, *, now=None) -> str | None:
    """None if `start` is allowed, else the French refusal (with a proposed time).
    RELAIS_SURNUMERAIRE_HOURS_CHECK=False turns the rule off (the tests of other rules,
    which pick arbitrary hours, run so; tests/console checks it on)."""
    if not getattr(settings, "RELAIS_SURNUMERAIRE_HOURS_CHECK", True):
        return None
    hours, pdsa = practice_hours(practice), does_pdsa(professional)
    if is_allowed(start, hours=hours, pdsa=pdsa):
        return None
    local = timezone.localtime(start)
    if own_hours(practice):
        when = f"les horaires d'ouverture du cabinet ({describe_hours(hours)}, hors jours "
        when += "fériés et fermetures) et du SAS (lundi au vendredi 8 h - 20 h, samedi 8 h - 12 h)"
    else:
        when = "les horaires d'ouverture du cabinet et du SAS (lundi au vendredi 8 h - 20 h, "
        when += "samedi 8 h - 12 h, hors jours fériés)"
    if pdsa:
        when += " ou de la PDSA (soirs jusqu'à minuit, week-ends et jours fériés 8 h - 20 h)"
    message = f"Heure refusée : {local:%d/%m à %H:%M} est en dehors des horaires possibles "
    message += f"pour un surnuméraire, {when}."
    proposal = first_allowed(now or timezone.now(), hours=hours, pdsa=pdsa)
    if proposal is not None:
        message += f" Proposez par exemple le {timezone.localtime(proposal):%d/%m à %H:%M}."
    return message
