"""The failed-messages page (coordinators, administrators of the message's territory) and
/healthz (public, counts only)."""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from relais.accounts.permissions import require, scope_for
from relais.core.errors import ApplicationError
from relais.notifications import selectors, services


@require("notifications.failed")
def failed(request):
    scope = scope_for(request.user)
    return render(
        request,
        "notifications/failed.html",
        {"notifications": selectors.notifications_failed_for(scope=scope)},
    )


@require_POST
@require("notifications.failed")
def resend(request, public_id):
    scope = scope_for(request.user)
    notification = selectors.notification_failed_get(scope=scope, public_id=public_id)
    try:
        services.notification_resend(notification=notification, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Message remis en file d'envoi.")
    return redirect("notifications:failed")


@never_cache
@require_GET
def metrics(request):
    """Prometheus metrics: configured addresses or bearer token only (metrics.py)."""
    from relais.notifications.metrics import metrics_view

    return metrics_view(request)


@never_cache
@require_GET
def healthz(request):
    healthy, body = selectors.health_status()
    body["status"] = "ok" if healthy else "degraded"
    response = JsonResponse(body, status=200 if healthy else 503)
    if not healthy:
        response["Retry-After"] = "30"
    return response
