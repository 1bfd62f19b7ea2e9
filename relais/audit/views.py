"""The administrator's audit page: filters and CSV export (the export is itself audited)."""

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from relais.accounts.permissions import require, scope_for
from relais.audit.forms import AuditFilterForm
from relais.audit.selectors import audit_choices, audit_events
from relais.audit.services import audit_record
from relais.core.csv_safety import safe_writer

PAGE_SIZE = 100
EXPORT_MAX_ROWS = 100_000


def _sas_ids(request):
    """An administrator sees the trail of their SAS (selectors._in_territory); a Django
    superuser, the whole trail."""
    return None if request.user.is_superuser else scope_for(request.user).sas_ids


@require("audit.view")
def events(request):
    form = AuditFilterForm(request.GET or None)
    filters = form.filters()
    page = Paginator(audit_events(filters=filters, sas_ids=_sas_ids(request)), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    actions, types = audit_choices()
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/events.html",
        {
            "form": form,
            "page": page,
            "actions": actions,
            "types": types,
            "query": query.urlencode(),
        },
    )


@require("audit.export")
def export(request):
    form = AuditFilterForm(request.GET or None)
    filters = form.filters()
    audit_record(
        user=request.user,
        action="export",
        object_type="audit.auditevent",
        object_id="csv",
        reason=f"export du journal ({filters.describe()})",
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="journal-audit-{stamp}.csv"'
    writer = safe_writer(response, delimiter=";")
    writer.writerow(
        [
            "date",
            "utilisateur",
            "client API",
            "rôle",
            "action",
            "objet",
            "identifiant",
            "motif",
            "type d'acteur",
            "acteur",
        ]
    )
    for event in audit_events(filters=filters, sas_ids=_sas_ids(request))[
        :EXPORT_MAX_ROWS
    ].iterator():
        writer.writerow(
            [
                timezone.localtime(event.at).isoformat(timespec="seconds"),
                event.user.username if event.user else "",
                event.api_client,
                event.role,
                event.action,
                event.object_type,
                event.object_id,
                event.reason,
                event.actor_type,
                event.actor_label,
            ]
        )
    return response
