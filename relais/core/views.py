"""The error pages every app shares (handler403, handler404 of relais.urls)."""

from django.shortcuts import render


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
