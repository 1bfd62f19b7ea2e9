"""The professional's agenda pages (mobile first), for the professional and their
délégataires. Every object is loaded through a selector scoped to an agenda the
user manages (404 otherwise)."""

from datetime import date, timedelta

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from relais.accounts.permissions import require, scope_for
from relais.agenda import ical
from relais.agenda.forms import (
    MAX_YEAR,
    MIN_YEAR,
    AbsenceForm,
    ImportForm,
    OneOffForm,
    ParticipationForm,
    RuleForm,
)
from relais.agenda.models import SlotStatus
from relais.agenda.selectors import (
    agenda_professionals_for,
    booked_slots_between,
    exception_get,
    exceptions_of,
    feed_slots,
    last_slot_day,
    professional_for_agenda,
    rule_get,
    rules_of,
    slot_get_for_professional,
    upcoming_slots,
)
from relais.agenda.services import (
    DEFAULT_HORIZON_DAYS,
    ICS_SOURCE,
    OneOff,
    bookings_label,
    calendar_feed_professional,
    calendar_feed_renew,
    calendar_feed_revoke,
    exception_create,
    exception_delete,
    exception_period_label,
    rule_create,
    rule_delete,
    rule_publication_report,
    rule_stranded_bookings,
    rule_update,
    slot_block,
    slot_cancel_booking,
    slots_create_one_off,
)
from relais.agenda.statement import participation_statement, statement_csv, statement_tables
from relais.audit.services import audit_record_reads
from relais.core.errors import ApplicationError
from relais.directory.services import (
    delegation_create,
    delegation_revoke,
    professional_update_participation,
)
from relais.indicators.exports import report_pdf

MAX_ICS_BYTES = 1_000_000
HORIZON = timedelta(days=DEFAULT_HORIZON_DAYS)


def _home(professional):
    return redirect("agenda:agenda", pro=professional.public_id)


@require("agenda.manage")
def agenda_index(request):
    professionals = agenda_professionals_for(user=request.user)
    if len(professionals) == 1:
        return _home(professionals[0])
    return render(request, "agenda/index.html", {"professionals": professionals})


@require("agenda.manage")
def agenda(request, pro):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    now = timezone.now()
    # Week 0 is the next 7 days; the next weeks up to the furthest open slot (at least the
    # 14-day horizon) are reached by ?semaine=1, 2… (issue 19: the second week was unseen).
    last = last_slot_day(professional=professional, now=now)
    horizon_end = max(
        last or timezone.localdate(now), timezone.localdate(now) + HORIZON - timedelta(days=1)
    )
    weeks = (horizon_end - timezone.localdate(now)).days // 7 + 1
    raw = request.GET.get("semaine", "0")
    week = int(raw) if raw.isdigit() and int(raw) < weeks else 0
    days = upcoming_slots(professional=professional, now=now, week=week)
    patients = [s.active_booking.request.patient for d in days for s in d.slots if s.active_booking]
    audit_record_reads(user=request.user, objects=patients, reason="agenda")
    first_day = timezone.localdate(now) + timedelta(days=7 * week)
    return render(
        request,
        "agenda/agenda.html",
        {
            "pro": professional,
            "days": days,
            "rules": rules_of(professional=professional),
            "absences": [
                (a, exception_period_label(a))
                for a in exceptions_of(professional=professional, now=now)
            ],
            "week": week,
            "previous_week": week - 1 if week > 0 else None,
            "next_week": week + 1 if week + 1 < weeks else None,
            "first_day": first_day,
            "last_day": first_day + timedelta(days=6),
            "absence_form": AbsenceForm(),
            "is_own": scope_for(request.user).professional_id == professional.pk,
            "now": now,
        },
    )


def _rule_page(request, professional, form, rule=None):
    return render(
        request, "agenda/rule_form.html", {"pro": professional, "form": form, "rule": rule}
    )


@require("agenda.manage")
def rule_new(request, pro):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    if request.method != "POST":
        return _rule_page(request, professional, RuleForm(professional=professional))
    form = RuleForm(request.POST, professional=professional)
    if form.is_valid():
        try:
            rule = rule_create(
                professional=professional, data=form.rule_input(), actor=request.user
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            report = rule_publication_report(rule=rule)
            level = messages.success if report[0].isdigit() else messages.warning
            level(request, f"Règle enregistrée : {report}")
            return _home(professional)
    return _rule_page(request, professional, form)


@require("agenda.manage")
def rule_edit(request, pro, rule_id):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    rule = rule_get(professional=professional, public_id=rule_id)
    if request.method != "POST":
        form = RuleForm(initial=RuleForm.initial_for(rule), professional=professional)
        return _rule_page(request, professional, form, rule)
    form = RuleForm(request.POST, professional=professional)
    if form.is_valid():
        try:
            rule_update(rule=rule, data=form.rule_input(), actor=request.user)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            report = rule_publication_report(rule=rule)
            stranded = rule_stranded_bookings(rule=rule)
            if stranded:
                messages.warning(
                    request,
                    f"Règle modifiée : {report} Attention : {len(stranded)} rendez-vous déjà "
                    f"pris ne sont plus dans cette règle et restent prévus : "
                    f"{bookings_label(stranded)}. Annulez-les ci-dessous si vous ne pouvez "
                    "pas les honorer.",
                )
            else:
                level = messages.success if report[0].isdigit() else messages.warning
                level(request, f"Règle modifiée : {report}")
            return _home(professional)
    return _rule_page(request, professional, form, rule)


@require_POST
@require("agenda.manage")
def rule_remove(request, pro, rule_id):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    rule = rule_get(professional=professional, public_id=rule_id)
    stranded = rule_stranded_bookings(rule=rule, now=timezone.now())
    stranded += [
        b
        for b in booked_slots_between(
            professional=professional, start=timezone.now(), end=timezone.now() + HORIZON
        )
        if b.slot.rule_id == rule.pk and b not in stranded
    ]
    kept = rule_delete(rule=rule, actor=request.user)
    text = "Règle supprimée, ses créneaux libres aussi."
    if kept:
        text += (
            f" Attention : {kept} rendez-vous déjà pris restent prévus"
            + (f" ({bookings_label(stranded)})" if stranded else "")
            + " : annulez-les ci-dessous si vous ne pouvez pas les honorer."
        )
        messages.warning(request, text)
    else:
        messages.success(request, text)
    return _home(professional)


@require_POST
@require("agenda.manage")
def absence_new(request, pro):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    form = AbsenceForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return _home(professional)
    start, end = form.period()
    try:
        absence = exception_create(
            professional=professional,
            start=start,
            end=end,
            kind=form.cleaned_data["kind"],
            label=form.cleaned_data["label"],
            actor=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        text = (
            f"Absence enregistrée {exception_period_label(absence)} : vos créneaux libres de "
            "cette période sont retirés."
        )
        if absence.booked_inside:
            inside = booked_slots_between(
                professional=professional, start=max(start, timezone.now()), end=end
            )
            text += (
                f" Attention : {absence.booked_inside} rendez-vous déjà pris pendant cette "
                f"période ({bookings_label(inside)}) ; annulez-les ci-dessous si vous ne "
                "pouvez pas les honorer."
            )
            messages.warning(request, text)
        else:
            messages.success(request, text)
    return _home(professional)


@require_POST
@require("agenda.manage")
def absence_remove(request, pro, absence_id):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    exception_delete(
        exception=exception_get(professional=professional, public_id=absence_id),
        actor=request.user,
    )
    messages.success(request, "Absence supprimée : vos créneaux sont republiés.")
    return _home(professional)


@require_POST
@require("agenda.manage")
def slot_close(request, pro, slot_id):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    slot = slot_get_for_professional(professional=professional, public_id=slot_id)
    try:
        if slot.status == SlotStatus.BOOKED:
            slot_cancel_booking(
                slot=slot, actor=request.user, reason=request.POST.get("reason", "")[:200]
            )
            messages.success(
                request,
                "Rendez-vous annulé : le patient est prévenu par SMS et sa demande revient "
                "aux opérateurs du SAS.",
            )
        else:
            slot_block(slot=slot, actor=request.user)
            messages.success(request, "Créneau fermé.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _home(professional)


@require("agenda.manage")
def slot_new(request, pro):
    """A one-off slot on a given day (outside the weekly rules), from the phone."""
    professional = professional_for_agenda(user=request.user, public_id=pro)
    form = OneOffForm(request.POST or None, professional=professional)
    if request.method == "POST" and form.is_valid():
        start, end = form.period()
        try:
            result = slots_create_one_off(
                professional=professional,
                practice=form.practices.get(form.cleaned_data["practice"]),
                items=[OneOff(start, end)],
                modality=form.cleaned_data["modality"],
                channels=form.cleaned_data["channels"],
                actor=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            when = (
                f"{timezone.localtime(start):%d/%m/%Y de %H:%M} à {timezone.localtime(end):%H:%M}"
            )
            if result.created:
                messages.success(
                    request, f"Créneau ajouté le {when} : il est proposé dès maintenant."
                )
                return _home(professional)
            form.add_error(
                None,
                f"Aucun créneau ajouté : le {when} chevauche un créneau déjà présent dans votre "
                "agenda.",
            )
    return render(request, "agenda/slot_form.html", {"pro": professional, "form": form})


@require("agenda.manage")
def ics_import(request, pro):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    form = ImportForm(request.POST or None, request.FILES or None, professional=professional)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > MAX_ICS_BYTES:
                raise ApplicationError("Fichier trop gros (1 Mo au plus).")
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ApplicationError(
                    "Fichier illisible : il doit être encodé en UTF-8."
                ) from None
            try:
                events = ical.parse_events(text)
            except ical.IcsError as exc:
                raise ApplicationError(str(exc)) from None
            result = slots_create_one_off(
                professional=professional,
                practice=form.practices.get(form.cleaned_data["practice"]),
                items=[OneOff(e.start, e.end, e.uid) for e in events],
                modality=form.cleaned_data["modality"],
                channels=form.cleaned_data["channels"],
                source=ICS_SOURCE,
                skip_past=True,
                actor=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"{result.created} créneau(x) ajouté(s) ; {result.skipped_past} passé(s) et "
                f"{result.skipped_taken} déjà présent(s) ou en conflit ignoré(s).",
            )
            return _home(professional)
    return render(request, "agenda/import.html", {"pro": professional, "form": form})


@require("agenda.manage")
def feed_settings(request, pro):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    url = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            calendar_feed_revoke(professional=professional, actor=request.user)
            messages.success(request, "Lien iCal révoqué : l'ancienne adresse ne répond plus.")
        else:
            token = calendar_feed_renew(professional=professional, actor=request.user)
            url = request.build_absolute_uri(reverse("agenda:feed", kwargs={"token": token}))
    has_feed = hasattr(professional, "calendar_feed") and request.POST.get("action") != "revoke"
    return render(
        request, "agenda/feed.html", {"pro": professional, "url": url, "has_feed": has_feed}
    )


def feed(request, token):
    """The private iCal feed: no login (calendar apps cannot log in), the token is the key.
    No patient identity in it: only times, place and whether the slot is taken."""
    professional = calendar_feed_professional(token=token)
    if professional is None:
        raise Http404("Flux inconnu ou révoqué.")
    now = timezone.now()
    events, seen = [], {}
    for slot in feed_slots(professional=professional, now=now):
        place = f"{slot.practice.name}, {slot.practice.address}, {slot.practice.commune.name}"
        if slot.is_plage:
            key = (slot.start, slot.end)
            if key in seen:
                seen[key]["taken"] += slot.booked
                seen[key]["places"] += 1
                continue
            seen[key] = {"slot": slot, "taken": slot.booked, "places": 1, "place": place}
            continue
        events.append(
            ical.FeedEvent(
                uid=f"{slot.public_id}@relais",
                start=slot.start,
                end=slot.end,
                summary="SNP : patient adressé" if slot.booked else "SNP : créneau libre",
                description=f"{slot.get_modality_display()}. Détails dans Relais.",
                location=place,
            )
        )
    for item in seen.values():
        slot = item["slot"]
        events.append(
            ical.FeedEvent(
                uid=f"{slot.public_id}@relais",
                start=slot.start,
                end=slot.end,
                summary=f"SNP : plage, {item['taken']}/{item['places']} patient(s)",
                description=f"{slot.get_modality_display()}. Détails dans Relais.",
                location=item["place"],
            )
        )
    events.sort(key=lambda e: e.start)
    body = ical.calendar(events, name=f"SNP {professional.display_name}", now=now)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response


def _month(value: str | None) -> date:
    """`mois` (AAAA-MM), this month by default; refused (French) outside MIN_YEAR..MAX_YEAR
    before any date arithmetic (December 9999 and January 0001 were 500s)."""
    if not value:
        return timezone.localdate().replace(day=1)
    try:
        year, month = (int(part) for part in value.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise ApplicationError("Mois invalide : utilisez AAAA-MM, par exemple 2026-03.") from None
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ApplicationError(
            f"Mois hors limites : choisissez un mois entre {MIN_YEAR} et {MAX_YEAR}."
        )
    return first


def _bad_request(request, message: str) -> HttpResponse:
    return render(
        request, "core/error.html", {"title": "Demande invalide", "message": message}, status=400
    )


@require("agenda.manage")
def statement(request, pro):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    try:
        month = _month(request.GET.get("mois"))
    except ApplicationError as exc:
        return _bad_request(request, exc.message)
    result = participation_statement(professional=professional, month=month)
    if request.GET.get("format") == "pdf":
        pdf = report_pdf(
            title=f"Relevé de participation SNP — {professional.display_name}",
            subtitle=f"{month:%m/%Y} · RPPS {professional.rpps}"
            + (f" · {professional.cpts.name}" if professional.cpts else ""),
            tables=statement_tables(result),
            generated=timezone.localtime(),
        )
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="releve-snp-{professional.rpps}-{month:%Y-%m}.pdf"'
        )
        return response
    if request.GET.get("format") == "csv":
        response = HttpResponse(statement_csv(result), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="releve-snp-{professional.rpps}-{month:%Y-%m}.csv"'
        )
        return response
    previous = (month.replace(day=1) - date.resolution).replace(day=1)
    following = (month.replace(day=28) + date.resolution * 5).replace(day=1)
    previous = previous if previous.year >= MIN_YEAR else None
    following = following if following.year <= MAX_YEAR else None
    return render(
        request,
        "agenda/statement.html",
        {"pro": professional, "s": result, "previous": previous, "following": following},
    )


@require("agenda.manage")
def participation(request, pro):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    initial = {
        name: getattr(professional, name)
        for name in (
            "sas_participant",
            "participation_mode",
            "level2_only",
            "max_snp_per_day",
            "max_snp_per_week",
            "declares_two_hours",
        )
    }
    form = ParticipationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            professional_update_participation(
                professional=professional, actor=request.user, **form.cleaned_data
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Participation enregistrée.")
            return _home(professional)
    return render(request, "agenda/participation.html", {"pro": professional, "form": form})


@require("agenda.delegate")
def delegations(request, pro):
    professional = professional_for_agenda(user=request.user, public_id=pro)
    if scope_for(request.user).professional_id != professional.pk:
        raise Http404("Agenda introuvable.")
    if request.method == "POST":
        try:
            if request.POST.get("revoke"):
                delegation_revoke(
                    professional=professional,
                    delegation_id=int(request.POST["revoke"]),
                    actor=request.user,
                )
                messages.success(request, "Délégation retirée.")
            else:
                delegation_create(
                    professional=professional,
                    username=request.POST.get("username", ""),
                    actor=request.user,
                )
                messages.success(request, "Délégation enregistrée.")
        except (ApplicationError, ValueError) as exc:
            messages.error(request, getattr(exc, "message", "Demande invalide."))
        return redirect("agenda:delegations", pro=professional.public_id)
    return render(
        request,
        "agenda/delegations.html",
        {
            "pro": professional,
            "delegations": professional.delegations.select_related("delegate"),
        },
    )
