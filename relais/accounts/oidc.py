"""OpenID Connect login (Pro Santé Connect is an OIDC provider): authorization-code
flow with state and nonce, id_token verified (RS256 through the provider's JWKS, or HS256
with the client secret for providers that sign that way), RPPS read from a configured
claim of the userinfo and mapped to the professional's Relais account.

Configured by settings (environment): OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
OIDC_AUTHORIZATION_ENDPOINT, OIDC_TOKEN_ENDPOINT, OIDC_USERINFO_ENDPOINT, OIDC_JWKS_URI,
OIDC_SCOPES, OIDC_RPPS_CLAIM, OIDC_EXTRA_AUTH_PARAMS (e.g. "acr_values=eidas1" for PSC).
"""

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request

import jwt
from django.conf import settings
from django.urls import reverse

from relais.core.errors import ApplicationError
from relais.directory.models import Professional

SESSION_STATE = "relais_oidc_state"
SESSION_NONCE = "relais_oidc_nonce"
TIMEOUT = 10


def oidc_config() -> dict | None:
    config = getattr(settings, "RELAIS_OIDC", None) or {}
    return config if config.get("client_id") else None


def redirect_uri() -> str:
    return settings.SITE_URL + reverse("accounts:oidc_callback")


def authorization_url(*, session) -> str:
    config = oidc_config()
    if config is None:
        raise ApplicationError("La connexion par fournisseur d'identité n'est pas configurée.")
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    session[SESSION_STATE], session[SESSION_NONCE] = state, nonce
    params = {
        "response_type": "code",
        "client_id": config["client_id"],
        "redirect_uri": redirect_uri(),
        "scope": config.get("scopes", "openid"),
        "state": state,
        "nonce": nonce,
    }
    params.update(urllib.parse.parse_qsl(config.get("extra_auth_params", "")))
    return f"{config['authorization_endpoint']}?{urllib.parse.urlencode(params)}"


def _http_json(url: str, *, data: dict | None = None, token: str = "") -> dict:
    if not url.startswith(("https://", "http://")):
        raise ApplicationError("Adresse du fournisseur d'identité invalide.")
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:  # noqa: S310
            payload = response.read()
    except urllib.error.HTTPError as exc:  # an OAuth error answer: {"error": ...}
        payload = exc.read()
    except OSError as exc:
        raise ApplicationError("Le fournisseur d'identité ne répond pas : réessayez.") from exc
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise ApplicationError("Réponse illisible du fournisseur d'identité.") from exc


def _verify_id_token(id_token: str, config: dict, nonce: str) -> dict:
    try:
        header = jwt.get_unverified_header(id_token)
        if header.get("alg") == "HS256":
            key, algorithms = config["client_secret"], ["HS256"]
        else:
            key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(id_token).key
            algorithms = ["RS256", "ES256", "PS256"]
        claims = jwt.decode(
            id_token,
            key,
            algorithms=algorithms,
            audience=config["client_id"],
            issuer=config["issuer"],
        )
    except (jwt.PyJWTError, KeyError) as exc:
        raise ApplicationError("Jeton d'identité invalide : connexion refusée.") from exc
    if claims.get("nonce") != nonce:
        raise ApplicationError("Jeton d'identité rejoué : connexion refusée.")
    return claims


def oidc_complete(*, session, code: str, state: str):
    """The user of Relais the provider vouched for, or an ApplicationError (French)."""
    config = oidc_config()
    if config is None:
        raise ApplicationError("La connexion par fournisseur d'identité n'est pas configurée.")
    expected_state = session.pop(SESSION_STATE, None)
    nonce = session.pop(SESSION_NONCE, None)
    if not expected_state or not state or not secrets.compare_digest(expected_state, state):
        raise ApplicationError("Session de connexion expirée : recommencez.")
    if not code:
        raise ApplicationError("Connexion annulée par le fournisseur d'identité.")
    tokens = _http_json(
        config["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(),
            "client_id": config["client_id"],
            "client_secret": config["client_secret"],
        },
    )
    if "id_token" not in tokens or "access_token" not in tokens:
        raise ApplicationError("Le fournisseur d'identité a refusé la connexion.")
    claims = _verify_id_token(tokens["id_token"], config, nonce)
    userinfo = _http_json(config["userinfo_endpoint"], token=tokens["access_token"])
    if userinfo.get("sub") != claims.get("sub"):
        raise ApplicationError("Identité incohérente : connexion refusée.")
    rpps = str(userinfo.get(config.get("rpps_claim", "preferred_username"), ""))
    rpps = rpps[-11:] if rpps.startswith("8") and len(rpps) == 12 else rpps  # "8" + RPPS
    professional = Professional.objects.select_related("user").filter(rpps=rpps).first()
    if professional is None or professional.user is None or not professional.user.is_active:
        raise ApplicationError(
            "Aucun compte Relais n'est associé à ce professionnel : contactez votre CPTS."
        )
    return professional.user
