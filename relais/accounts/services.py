"""Writes for accounts: API clients and their tokens."""

from django.db import transaction
from django.utils import timezone

from relais.accounts.models import ApiClient, hash_token
from relais.core.errors import ApplicationError

# Every scope a partner can be granted. New endpoints add theirs here.
API_SCOPES = {
    "slots:read": "Lire les créneaux libres",
    "requests:read": "Lire les demandes",
    "requests:write": "Créer des demandes",
    "appointments:read": "Lire les rendez-vous",
    "appointments:write": "Prendre et modifier des rendez-vous",
    "motifs:read": "Suggérer des motifs CISP-2",
    "indicators:read": "Lire les indicateurs",
}


@transaction.atomic
def api_client_create(*, name: str, scopes: list[str]) -> tuple[ApiClient, str]:
    """Create a client and return it with its token, shown once and stored hashed."""
    name = name.strip()
    if not name:
        raise ApplicationError("Le nom du client API est obligatoire.")
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown:
        raise ApplicationError(
            f"Portée(s) inconnue(s) : {', '.join(unknown)}. "
            f"Portées possibles : {', '.join(sorted(API_SCOPES))}."
        )
    if not scopes:
        raise ApplicationError("Indiquez au moins une portée.")
    if ApiClient.objects.filter(name=name).exists():
        raise ApplicationError(f"Un client API nommé « {name} » existe déjà.")
    token = ApiClient.new_token()
    client = ApiClient.objects.create(
        name=name,
        token_prefix=token[:10],
        token_hash=hash_token(token),
        scopes=sorted(set(scopes)),
    )
    return client, token


def api_client_revoke(*, client: ApiClient) -> None:
    ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def api_client_authenticate(*, token: str) -> ApiClient | None:
    if not token or not token.startswith("rls_"):
        return None
    client = ApiClient.objects.filter(token_hash=hash_token(token), revoked_at__isnull=True).first()
    if client is not None:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())
    return client


def api_client_throttled(*, client: ApiClient, bucket: str, limit_per_minute: int) -> bool:
    """Per-client fixed-window rate limit (one counter per client, bucket and minute).

    Counted in Django's cache: configure a shared cache (e.g. Redis) in production so
    that all web workers count together."""
    from django.core.cache import cache

    key = f"rate:{bucket}:{client.public_id}:{timezone.now():%Y%m%d%H%M}"
    cache.add(key, 0, timeout=70)
    try:
        return cache.incr(key) > limit_per_minute
    except ValueError:  # the key expired between add and incr
        return False
