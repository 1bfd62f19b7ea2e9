"""Reads of the Hub Santé connector: its failures page (scoped like the INT_R03 reports)."""

from django.db.models import Q

from relais.accounts.permissions import Scope
from relais.interop.models import HubInbound, HubInboundStatus, HubOutbound, ReportStatus


def _outbound_in_scope(scope: Scope):
    # A report belongs to its request's territory; an answer to an unreadable or refused
    # message has no request (and carries no patient data): every reports reader sees it.
    return HubOutbound.objects.filter(
        Q(case__isnull=True) | Q(case__request__sas_id__in=scope.sas_ids)
    )


def hub_outbound_get(*, scope: Scope, pk: int) -> HubOutbound | None:
    return _outbound_in_scope(scope).filter(pk=pk).first()


def hub_failures(*, scope: Scope, limit: int = 200) -> dict:
    """Messages to the Hub not sent yet or failed (refused by the recipient included),
    and the received messages Relais refused (metadata only: the body stays stored)."""
    outbound = (
        _outbound_in_scope(scope)
        .exclude(status=ReportStatus.SENT, refused_code__isnull=True)
        .select_related("booking__slot__professional", "case__request")
        .order_by("status", "-created_at")[:limit]
    )
    inbound = (
        HubInbound.objects.filter(
            status__in=[
                HubInboundStatus.MALFORMED,
                HubInboundStatus.REFUSED,
                HubInboundStatus.EXPIRED,
            ]
        )
        .defer("body")
        .order_by("-received_at")[:limit]
    )
    return {"outbound": list(outbound), "inbound": list(inbound)}
