from django.shortcuts import render

from relais.accounts.permissions import require, scope_for
from relais.directory.selectors import doctors_search


@require("request.create", "request.refer")
def doctor_autocomplete(request):
    """htmx fragment: options of the médecin traitant field."""
    scope = scope_for(request.user)
    doctors = doctors_search(
        query=request.GET.get("medecin_traitant", ""),
        departement_codes=list(scope.departement_codes) or None,
    )
    return render(request, "directory/partials/doctor_options.html", {"doctors": doctors})
