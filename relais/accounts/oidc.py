"""OpenID Connect login (Pro Santé Connect is an OIDC provider) through Authlib's Django
client: authorization-code flow with state and nonce kept in the session by Authlib, the
id_token verified by Authlib/joserfc (RS256/ES256/PS256 through the provider's JWKS, or
HS256 with the client secret for providers that sign that way) for issuer, audience,
expiry, nonce and the requested `acr` (PSC: eidas1); `sub` must match the userinfo's; the
RPPS read from a configured userinfo claim is mapped to the professional's Relais account.

Configured by settings (environment): OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
OIDC_AUTHORIZATION_ENDPOINT, OIDC_TOKEN_ENDPOINT, OIDC_USERINFO_ENDPOINT, OIDC_JWKS_URI,
OIDC_SCOPES, OIDC_RPPS_CLAIM, OIDC_EXTRA_AUTH_PARAMS (default "acr_values=eidas1" for PSC).
"""

import base64
import logging
import urllib.parse

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.urls import reverse
from joserfc.errors import InvalidClaimError, JoseError, MissingClaimError

from relais.core.errors import ApplicationError
from relais.directory.models import Professional

NAME = "psc"
TIMEOUT = 10
ALGORITHMS = ["RS256", "ES256", "PS256", "HS256"]
logger = logging.getLogger("relais.accounts.oidc")


def oidc_config() -> dict | None:
    config = getattr(settings, "RELAIS_OIDC", None) or {}
    return config if config.get("client_id") else None


def redirect_uri() -> str:
    return settings.SITE_URL + reverse("accounts:oidc_callback")


def _extra_params(config: dict) -> dict:
    return dict(urllib.parse.parse_qsl(config.get("extra_auth_params", "")))


class _ProviderApp(DjangoOAuth2App):
    """The provider's JWKS plus, for HS256-signing providers, the client secret as an
    'oct' key (Authlib reads the signing keys through fetch_jwk_set)."""

    def fetch_jwk_set(self, force=False):
        keys = []
        if self.server_metadata.get("jwks_uri"):
            with self._get_session() as session:
                response = session.request(
                    "GET", self.server_metadata["jwks_uri"], withhold_token=True
                )
                response.raise_for_status()
                keys = list(response.json().get("keys", []))
        secret = base64.urlsafe_b64encode(self.client_secret.encode()).decode().rstrip("=")
        keys.append({"kty": "oct", "k": secret, "alg": "HS256", "use": "sig"})
        return {"keys": keys}


class _OAuth(OAuth):
    oauth2_client_cls = _ProviderApp


def _client(config: dict):
    """A client built from the current settings (cheap; no registry state to go stale)."""
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
        if not str(config.get(key, "")).startswith(("https://", "http://")):
            raise ApplicationError("Adresse du fournisseur d'identité invalide.")
    oauth = _OAuth()
    oauth.register(
        NAME,
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        authorize_url=config["authorization_endpoint"],
        access_token_url=config["token_endpoint"],
        client_kwargs={
            "scope": config.get("scopes", "openid"),
            "token_endpoint_auth_method": "client_secret_post",
            "timeout": TIMEOUT,
        },
        # Provider metadata (no discovery: the endpoints are configured explicitly).
        issuer=config["issuer"],
        authorization_endpoint=config["authorization_endpoint"],
        token_endpoint=config["token_endpoint"],
        userinfo_endpoint=config["userinfo_endpoint"],
        jwks_uri=config.get("jwks_uri", ""),
        id_token_signing_alg_values_supported=ALGORITHMS,
    )
    return oauth.create_client(NAME)


def authorization_url(*, request) -> str:
    config = oidc_config()
    if config is None:
        raise ApplicationError("La connexion par fournisseur d'identité n'est pas configurée.")
    response = _client(config).authorize_redirect(request, redirect_uri(), **_extra_params(config))
    return response["Location"]


def _claims_options(config: dict) -> dict:
    options = {"iss": {"values": [config["issuer"]]}}
    acr = _extra_params(config).get("acr_values", "").split()
    if acr:  # the level asked for must be the level given (PSC: eidas1)
        options["acr"] = {"essential": True, "values": acr}
    return options


def oidc_complete(*, request):
    """The user of Relais the provider vouched for, or an ApplicationError (French)."""
    config = oidc_config()
    if config is None:
        raise ApplicationError("La connexion par fournisseur d'identité n'est pas configurée.")
    client = _client(config)
    if not request.GET.get("code") and not request.GET.get("error"):
        client.framework.clear_state_data(request.session, request.GET.get("state", ""))
        raise ApplicationError("Connexion annulée par le fournisseur d'identité.")
    try:
        token = client.authorize_access_token(
            request, claims_options=_claims_options(config), leeway=60
        )
        if "userinfo" not in token or "access_token" not in token:
            raise ApplicationError("Le fournisseur d'identité a refusé la connexion.")
        userinfo = client.userinfo(token=token)
    except MismatchingStateError:
        raise ApplicationError("Session de connexion expirée : recommencez.") from None
    except (InvalidClaimError, MissingClaimError) as exc:
        if "nonce" in str(exc):
            raise ApplicationError("Jeton d'identité rejoué : connexion refusée.") from None
        raise ApplicationError("Jeton d'identité invalide : connexion refusée.") from None
    except (JoseError, ValueError) as exc:
        logger.info("OIDC id_token refused: %s", type(exc).__name__)
        raise ApplicationError("Jeton d'identité invalide : connexion refusée.") from None
    except OAuthError:
        raise ApplicationError("Le fournisseur d'identité a refusé la connexion.") from None
    except requests.RequestException:
        raise ApplicationError("Le fournisseur d'identité ne répond pas : réessayez.") from None
    claims = token["userinfo"]
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
