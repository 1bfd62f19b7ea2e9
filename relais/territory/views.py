from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from relais.territory.selectors import communes_search


@login_required
def commune_autocomplete(request):
    """htmx fragment: the options of the commune field."""
    query = request.GET.get("commune", "") or request.GET.get("q", "")
    communes = communes_search(query=query, limit=8)
    return render(
        request, "territory/partials/commune_options.html", {"communes": communes, "query": query}
    )
