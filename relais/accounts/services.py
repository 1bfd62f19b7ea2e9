"""Writes for accounts: API clients and their tokens."""

from datetime import timedelta

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
    now = timezone.now()
    # "Last used" is informative: refreshing it once a minute spares a write per call.
    if client is not None and (
        client.last_used_at is None or now - client.last_used_at > timedelta(minutes=1)
    ):
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
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


# --- login hardening: throttling and TOTP two-factor authentication ----------------------

LOCKED_MESSAGE = (
    "Trop de tentatives de connexion échouées : réessayez dans {minutes} minutes "
    "ou contactez votre administrateur."
)


def _throttle_key(username: str, ip: str) -> str:
    import hashlib

    raw = f"{username.strip().lower()}|{ip}".encode()
    return "login-fail:" + hashlib.sha256(raw).hexdigest()


def login_throttle_check(*, username: str, ip: str) -> None:
    """Refuse before checking the password once the (username, IP) pair failed too often.
    The same message whether the account exists or not: no user enumeration."""
    from django.conf import settings
    from django.core.cache import cache

    if cache.get(_throttle_key(username, ip), 0) >= settings.RELAIS_LOGIN_MAX_FAILURES:
        raise ApplicationError(
            LOCKED_MESSAGE.format(minutes=settings.RELAIS_LOGIN_LOCK_MINUTES), code="throttled"
        )


def login_failure_record(*, username: str, ip: str) -> None:
    from django.conf import settings
    from django.core.cache import cache

    key = _throttle_key(username, ip)
    timeout = settings.RELAIS_LOGIN_LOCK_MINUTES * 60
    cache.add(key, 0, timeout=timeout)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
    cache.touch(key, timeout)


def login_success_reset(*, username: str, ip: str) -> None:
    from django.core.cache import cache

    cache.delete(_throttle_key(username, ip))


def two_factor_required_for(user) -> bool:
    """2FA applies to the roles of RELAIS_2FA_ROLES when RELAIS_2FA_REQUIRED is on, and
    to anyone who enrolled an authenticator app of their own accord."""
    from django.conf import settings

    from relais.accounts.models import TotpDevice
    from relais.accounts.permissions import scope_for

    if TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists():
        return True
    if not settings.RELAIS_2FA_REQUIRED:
        return False
    return bool(scope_for(user).roles & set(settings.RELAIS_2FA_ROLES))


def totp_device_for_enrolment(*, user):
    """The user's pending (unconfirmed) device, created on first visit."""
    from relais.accounts import totp
    from relais.accounts.models import TotpDevice

    device, _ = TotpDevice.objects.get_or_create(user=user, defaults={"secret": totp.new_secret()})
    if device.confirmed_at is not None:
        raise ApplicationError("Une application d'authentification est déjà enregistrée.")
    return device


@transaction.atomic
def totp_verify(*, user, code: str) -> bool:
    """Check a code of the user's device; a code is accepted once only (no replay).
    The first valid code confirms a device being enrolled."""
    from relais.accounts import totp
    from relais.accounts.models import TotpDevice

    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        return False
    step = totp.matching_step(device.secret, code)
    if step is None or step <= device.last_step:
        return False
    device.last_step = step
    if device.confirmed_at is None:
        device.confirmed_at = timezone.now()
    device.save(update_fields=["last_step", "confirmed_at"])
    return True
