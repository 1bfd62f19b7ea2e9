"""No copy of a page that shows identities in any cache (browser, proxy, back button).

Every response to a signed-in user or an API client, and every response of the public
patient routes (the signed follow-up link and the CPTS web form, which show the patient's
request), carries `Cache-Control: no-store, private`. Anonymous public responses (login
page, static files, the FHIR bulk files) keep their own caching."""

NO_STORE = "no-store, private"
# The public patient routes (also the audit actor of what they write, relais.audit.context).
PATIENT_LINK_ROUTES = frozenset({"regulation:follow"})
PUBLIC_FORM_ROUTES = frozenset({"regulation:web_request"})
PATIENT_ROUTES = PATIENT_LINK_ROUTES | PUBLIC_FORM_ROUTES
# The niveau-2 offer link: a volunteer professional, maybe without an account, accepts.
PROFESSIONAL_LINK_ROUTES = frozenset({"orientation:level2_offer"})


def _private(request) -> bool:
    if getattr(request, "api_client", None) is not None:
        return True
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    match = getattr(request, "resolver_match", None)
    return getattr(match, "view_name", "") in PATIENT_ROUTES | PROFESSIONAL_LINK_ROUTES


class NoStoreForIdentitiesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if _private(request):
            response["Cache-Control"] = NO_STORE
            response.headers.pop("Expires", None)
        return response
