"""Reads for a referrer (pharmacist, nurse, physio): the requests they referred
themselves, and nothing else (issue 17: least privilege for the adresseur role)."""

from django.db.models import Prefetch

from relais.regulation.models import Channel, Request


def referrals_of(*, user, limit: int = 50) -> list[Request]:
    from relais.orientation.models import Booking

    active = Booking.objects.filter(status="booked").select_related(
        "slot__professional", "slot__practice__commune"
    )
    return list(
        Request.objects.filter(created_by=user, channel=Channel.PROFESSIONAL)
        .select_related("patient", "cpts")
        .prefetch_related(Prefetch("bookings", queryset=active, to_attr="active_bookings"))
        .order_by("-created_at")[:limit]
    )
