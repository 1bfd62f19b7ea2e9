from relais.accounts.permissions import scope_for


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = scope_for(user)
    return {"scope": scope, "can": {a.replace(".", "_"): scope.can(a) for a in _ACTIONS}}


_ACTIONS = [
    "request.create",
    "request.view",
    "request.orient",
    "request.decide",
    "request.refer",
    "patients.export",
    "request.merge",
    "booking.create",
    "patients.own",
    "agenda.manage",
    "indicators.view",
    "notifications.failed",
    "backoffice.view",
    "referrals.own",
]
