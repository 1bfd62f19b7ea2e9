from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from relais.accounts.permissions import scope_for
from relais.territory.selectors import communes_search_territory_first, departement_codes_for_scope


@login_required
def commune_autocomplete(request):
    """htmx fragment: the options of the commune field, the caller's territory first
    (then its neighbours, then the country)."""
    query = request.GET.get("commune", "") or request.GET.get("q", "")
    communes = communes_search_territory_first(
        query=query,
        departement_codes=departement_codes_for_scope(scope_for(request.user)),
        limit=8,
    )
    return render(
        request, "territory/partials/commune_options.html", {"communes": communes, "query": query}
    )
