"""The second-factor gate: a signed-in user who must use a second factor reaches nothing
else before it (moved from relais.core.middleware: it reads accounts' rules)."""

from django.http import JsonResponse
from django.shortcuts import redirect


class TwoFactorMiddleware:
    """A signed-in user who must use a second factor reaches nothing else before it."""

    OPEN_PREFIXES = ("/static/", "/connexion/", "/deconnexion/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from relais.accounts.services import two_factor_required_for
        from relais.accounts.views import SESSION_2FA

        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.session.get(SESSION_2FA)
            and not request.path.startswith(self.OPEN_PREFIXES)
            and two_factor_required_for(user)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": {"code": "unauthorized", "message": "Second facteur requis."}},
                    status=401,
                )
            return redirect("accounts:two_factor")
        return self.get_response(request)
