"""A referrer follows their own referrals (status, appointment): one page, their rows only."""

from django.shortcuts import render

from relais.accounts.permissions import require
from relais.audit.services import audit_record_reads
from relais.regulation.referral_selectors import referrals_of


@require("referrals.own")
def my_referrals(request):
    referrals = referrals_of(user=request.user)
    audit_record_reads(
        user=request.user, objects=[r.patient for r in referrals], reason="mes adressages"
    )
    return render(request, "regulation/my_referrals.html", {"referrals": referrals})
