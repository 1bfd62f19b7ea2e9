from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from relais.accounts.permissions import scope_for


@login_required
def home(request):
    """Each role lands on the page it works from."""
    scope = scope_for(request.user)
    if scope.can("request.view"):
        return redirect("regulation:worklist")
    if scope.can("patients.own"):
        return redirect("orientation:my_patients")
    if scope.can("indicators.view"):
        return redirect("indicators:dashboard")
    if scope.can("referrals.own"):  # a pharmacist, nurse or physio who refers (adresseur)
        return redirect("referrals:mine")
    if scope.can("agenda.manage"):  # a secretary managing a professional's agenda
        return redirect("agenda:index")
    return render(request, "core/home.html")


def forbidden(request, exception=None):
    return render(
        request,
        "core/error.html",
        {"title": "Accès refusé", "message": str(exception or "")},
        status=403,
    )


def not_found(request, exception=None):
    return render(
        request, "core/error.html", {"title": "Page introuvable", "message": ""}, status=404
    )
