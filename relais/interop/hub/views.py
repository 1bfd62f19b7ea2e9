"""The Hub Santé failures page, beside the INT_R03 reports (same permission)."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from relais.accounts.permissions import require, scope_for
from relais.core.errors import ApplicationError
from relais.interop.hub import selectors, services


@require("interop.reports")
def hub_failures(request):
    scope = scope_for(request.user)
    context = selectors.hub_failures(scope=scope)
    context["configured"] = settings.RELAIS_HUB_ENABLED
    context["client_id"] = settings.RELAIS_HUB_CLIENT_ID
    return render(request, "interop/hub_failures.html", context)


@require_POST
@require("interop.reports")
def hub_retry(request, pk):
    row = selectors.hub_outbound_get(scope=scope_for(request.user), pk=pk)
    if row is None:
        raise Http404("Message introuvable.")
    try:
        services.outbox_retry(row=row, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Message remis en file d'envoi vers le Hub Santé.")
    return redirect("interop:hub_failures")
