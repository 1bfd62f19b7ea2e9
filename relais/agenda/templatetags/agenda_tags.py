from django import template

from relais.agenda.services import WEEKDAY_NAMES

register = template.Library()


@register.filter
def rule_summary(rule) -> str:
    """« mardi, jeudi 17:00–19:00 · créneaux de 20 min · Cabinet · SAS, CPTS »."""
    days = ", ".join(WEEKDAY_NAMES[d] for d in sorted(rule.weekdays))
    end = "24:00" if rule.end_time.hour == rule.end_time.minute == 0 else f"{rule.end_time:%H:%M}"
    size = (
        f"créneaux de {rule.slot_minutes} min"
        if rule.slot_minutes
        else f"plage de {rule.capacity} patient{'s' if rule.capacity > 1 else ''}"
    )
    channels = [
        label
        for name, label in (
            ("for_sas", "SAS"),
            ("for_cpts", "CPTS"),
            ("for_public", "en ligne"),
            ("for_partners", "partenaires"),
        )
        if getattr(rule, name)
    ]
    parts = [f"{days} {rule.start_time:%H:%M}–{end}", size, rule.get_modality_display()]
    parts.append("visible : " + ", ".join(channels))
    if rule.age_min is not None or rule.age_max is not None:
        parts.append(f"âge {rule.age_min or 0}–{rule.age_max if rule.age_max is not None else '…'}")
    motifs = [m.code for m in rule.motifs.all()]
    if motifs:
        parts.append("motifs " + ", ".join(motifs))
    if rule.valid_until:
        parts.append(f"jusqu'au {rule.valid_until:%d/%m/%Y}")
    return " · ".join(parts)
