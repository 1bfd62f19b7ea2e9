"""The home page (`/`, URL name `core:home`, kept for the templates and LOGIN_REDIRECT_URL):
each role lands on the page it works from. Here, not in core: it reads the user's roles."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import path

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


urlpatterns = [path("", home, name="home")]
