"""Writes for accounts: API clients and their tokens."""

import hashlib
import logging
import math
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
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
    "regulators:write": "Gérer les comptes régulateurs (plateforme SAS, INT_R02)",
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
        api_client_touch(client)
    return client


def api_client_touch(client: ApiClient) -> None:
    """Record a use. "Last used" is informative: refreshing it once a minute spares a
    write per call."""
    now = timezone.now()
    if client.last_used_at is None or now - client.last_used_at > timedelta(minutes=1):
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now


def api_client_throttled(*, client: ApiClient, bucket: str, limit_per_minute: int) -> bool:
    """Per-client fixed-window rate limit (one counter per client, bucket and minute).

    Counted in Django's cache: a shared cache (Redis, required in production by the
    deploy check) makes it exact across web workers (INCR is atomic)."""
    key = f"rate:{bucket}:{client.public_id}:{timezone.now():%Y%m%d%H%M}"
    cache.add(key, 0, timeout=70)
    try:
        return cache.incr(key) > limit_per_minute
    except ValueError:  # the key expired between add and incr
        return False


# --- login throttling ----------------------------------------------------------------------
#
# Counters in Django's cache (Redis in production, shared by every worker), keyed by hashes
# (no username in the cache keys or the logs):
# - one username from one address (or one known browser): refused for
#   RELAIS_LOGIN_LOCK_MINUTES after RELAIS_LOGIN_MAX_FAILURES failures; only the guesser's
#   own address is locked;
# - one username from anywhere, and one address for any username: progressive delays
#   (1 s, 2 s, 4 s… up to RELAIS_LOGIN_MAX_DELAY_SECONDS after the last failure) past
#   RELAIS_LOGIN_USER_FAILURES / RELAIS_LOGIN_IP_FAILURES, never a hard lock;
# - spraying: when RELAIS_LOGIN_SPRAY_USERNAMES distinct usernames failed in the window,
#   every failure delays the next attempt of its address and username from the first one,
#   and all attempts wait a global delay growing with the number of usernames (logged);
# - a browser that completed a login for this username (signed "known device" cookie)
#   skips the username, address and spraying delays: a stranger cannot lock its owner out.

LOGIN_DEVICE_COOKIE = "relais_appareil"
_DEVICE_SALT = "relais.accounts.login-device"

LOCKED_MESSAGE = (
    "Trop de tentatives de connexion échouées : réessayez dans {minutes} minutes "
    "ou contactez votre administrateur."
)
DELAYED_MESSAGE = "Trop de tentatives de connexion échouées : réessayez dans {seconds} secondes."

login_logger = logging.getLogger("relais.accounts.login")


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _norm(username: str) -> str:
    return (username or "").strip().lower()


def _window_seconds() -> int:
    return settings.RELAIS_LOGIN_LOCK_MINUTES * 60


def _spray_bucket() -> int:
    return int(time.time() // _window_seconds())


def _progressive(failures: int, threshold: int) -> int:
    if failures < threshold:
        return 0
    return int(min(2 ** (failures - threshold), settings.RELAIS_LOGIN_MAX_DELAY_SECONDS))


def _incr(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout=timeout)
    try:
        value = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        value = 1
    cache.touch(key, timeout)
    return value


def _keys(username: str, ip: str, device: str) -> dict:
    user = _h(_norm(username))
    origin = f"d:{_h(device)}" if device else f"a:{_h(ip)}"
    return {
        "pair": f"login-fail:pair:{user}:{origin}",
        "user": f"login-fail:user:{user}",
        "user_at": f"login-fail:user-at:{user}",
        "ip": f"login-fail:ip:{_h(ip)}",
        "ip_at": f"login-fail:ip-at:{_h(ip)}",
        "spray": f"login-spray:{_spray_bucket()}",
        "spray_user": f"login-spray:{_spray_bucket()}:{user}",
        "spray_at": "login-spray:at",
    }


def login_spray_usernames() -> int:
    """Distinct usernames that failed in the current window, from anywhere."""
    return cache.get(f"login-spray:{_spray_bucket()}", 0)


def login_device_token(*, username: str) -> str:
    """The signed "known device" cookie value, given after a successful login."""
    return signing.dumps({"u": _h(_norm(username)), "n": secrets.token_hex(8)}, salt=_DEVICE_SALT)


def login_device_for(*, token: str, username: str) -> str:
    """The token if it is a valid known-device cookie of this username, else ""."""
    if not token:
        return ""
    max_age = settings.RELAIS_LOGIN_DEVICE_DAYS * 86400
    try:
        data = signing.loads(token, salt=_DEVICE_SALT, max_age=max_age)
    except signing.BadSignature:
        return ""
    return token if isinstance(data, dict) and data.get("u") == _h(_norm(username)) else ""


def login_throttle_check(*, username: str, ip: str, device: str = "") -> None:
    """Refuse, before the password is checked, an attempt that must wait. The same
    message whether the account exists or not: no user enumeration."""
    keys = _keys(username, ip, device)
    if cache.get(keys["pair"], 0) >= settings.RELAIS_LOGIN_MAX_FAILURES:
        raise ApplicationError(
            LOCKED_MESSAGE.format(minutes=settings.RELAIS_LOGIN_LOCK_MINUTES), code="throttled"
        )
    if device:  # a browser this user already signed in with: only its own counter applies
        return
    spraying = login_spray_usernames() >= settings.RELAIS_LOGIN_SPRAY_USERNAMES
    now = time.time()
    waits = [
        cache.get(keys["user_at"], 0)
        + _progressive(
            cache.get(keys["user"], 0), 1 if spraying else settings.RELAIS_LOGIN_USER_FAILURES
        ),
        cache.get(keys["ip_at"], 0)
        + _progressive(
            cache.get(keys["ip"], 0), 1 if spraying else settings.RELAIS_LOGIN_IP_FAILURES
        ),
    ]
    if spraying:
        excess = login_spray_usernames() - settings.RELAIS_LOGIN_SPRAY_USERNAMES + 1
        waits.append(
            cache.get(keys["spray_at"], 0) + min(excess, settings.RELAIS_LOGIN_MAX_DELAY_SECONDS)
        )
    wait = max(waits) - now
    if wait > 0:
        raise ApplicationError(
            DELAYED_MESSAGE.format(seconds=max(1, math.ceil(wait))), code="throttled"
        )


def login_failure_record(*, username: str, ip: str, device: str = "") -> None:
    keys = _keys(username, ip, device)
    window = _window_seconds()
    now = time.time()
    _incr(keys["pair"], window)
    if device:
        return
    _incr(keys["user"], window)
    _incr(keys["ip"], window)
    cache.set(keys["user_at"], now, timeout=window)
    cache.set(keys["ip_at"], now, timeout=window)
    cache.set(keys["spray_at"], now, timeout=window)
    if cache.add(keys["spray_user"], 1, timeout=window):
        distinct = _incr(keys["spray"], window)
        if distinct == settings.RELAIS_LOGIN_SPRAY_USERNAMES:
            login_logger.warning(
                "login spraying suspected: %d distinct usernames failed within %d minutes; "
                "every failing attempt is now delayed",
                distinct,
                settings.RELAIS_LOGIN_LOCK_MINUTES,
            )


def login_success_reset(*, username: str, ip: str, device: str = "") -> None:
    """A success clears only its own (username, address) counter: the username and address
    counters keep counting a stranger's failures."""
    cache.delete(_keys(username, ip, device)["pair"])


# --- second factor: TOTP through django-otp ----------------------------------------------
#
# Wrong codes are counted on the device (django-otp's ThrottlingMixin), not in the session:
# logging in again with the right password does not reset them. Each wrong code doubles the
# wait before the next one (OTP_TOTP_THROTTLE_FACTOR x 2^(n-1) seconds) and after
# RELAIS_OTP_LOCK_FAILURES the device is locked until an administrator unlocks it or
# RELAIS_OTP_LOCK_MINUTES pass without another wrong code. A new device is usable only
# once confirmed through a signed, short-lived link sent to the account's e-mail address
# (or by an administrator): the password alone cannot enrol an attacker's phone.

DEVICE_NAME = "Application d'authentification"
_CONFIRM_SALT = "relais.accounts.otp-confirm"
otp_logger = logging.getLogger("relais.accounts.otp")


def _totp_devices():
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects


def otp_device_for(*, user):
    """The user's confirmed authenticator, or None."""
    return _totp_devices().filter(user=user, confirmed=True).order_by("pk").first()


def two_factor_required_for(user) -> bool:
    """2FA applies to the roles of RELAIS_2FA_ROLES when RELAIS_2FA_REQUIRED is on, and
    to anyone who enrolled an authenticator app of their own accord."""
    from relais.accounts.permissions import scope_for

    if otp_device_for(user=user) is not None:
        return True
    if not settings.RELAIS_2FA_REQUIRED:
        return False
    return bool(scope_for(user).roles & set(settings.RELAIS_2FA_ROLES))


def otp_locked_until(device):
    """When a locked device unlocks by itself, or None if it is not locked."""
    if device.throttling_failure_count < settings.RELAIS_OTP_LOCK_FAILURES:
        return None
    if device.throttling_failure_timestamp is None:
        return None
    until = device.throttling_failure_timestamp + timedelta(
        minutes=settings.RELAIS_OTP_LOCK_MINUTES
    )
    return until if until > timezone.now() else None


def _check_code(device, code: str) -> bool:
    """One verification through django-otp, refused before the code is even compared
    while the device is locked or its delay has not elapsed."""
    if otp_locked_until(device) is not None:
        raise ApplicationError(
            "Second facteur bloqué après trop de codes incorrects : contactez votre "
            "administrateur ou réessayez plus tard.",
            code="otp_locked",
        )
    allowed, info = device.verify_is_allowed()
    if not allowed:
        wait = (info or {}).get("locked_until")
        seconds = max(1, math.ceil((wait - timezone.now()).total_seconds())) if wait else 1
        raise ApplicationError(
            f"Trop de codes incorrects : attendez {seconds} secondes avant de réessayer.",
            code="otp_throttled",
        )
    code = (code or "").replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        device.throttle_increment(commit=True)
        return False
    verified = device.verify_token(code)
    if not verified and device.throttling_failure_count == settings.RELAIS_OTP_LOCK_FAILURES:
        otp_logger.warning(
            "TOTP device %s locked after %d wrong codes", device.pk, device.throttling_failure_count
        )
    return verified


@transaction.atomic
def otp_verify(*, user, code: str) -> bool:
    """Check a code of the user's confirmed device (once only: django-otp's last_t)."""
    device = _totp_devices().select_for_update().filter(user=user, confirmed=True).first()
    if device is None:
        return False
    return _check_code(device, code)


def otp_enrolment_device(*, user, pending_id=None):
    """The device being enrolled in this session, or a fresh one. A pending device made in
    another session is replaced (its key was shown there only, its link stops working)."""
    if otp_device_for(user=user) is not None:
        raise ApplicationError("Une application d'authentification est déjà enregistrée.")
    devices = _totp_devices()
    if pending_id:
        device = devices.filter(pk=pending_id, user=user, confirmed=False).first()
        if device is not None:
            return device
    devices.filter(user=user, confirmed=False).delete()
    return devices.create(user=user, name=DEVICE_NAME, confirmed=False)


def _confirm_fingerprint(device) -> str:
    return hashlib.sha256(f"{device.pk}:{device.key}".encode()).hexdigest()[:24]


def otp_confirmation_token(*, device) -> str:
    return signing.dumps({"d": device.pk, "k": _confirm_fingerprint(device)}, salt=_CONFIRM_SALT)


def _masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


@transaction.atomic
def otp_enrolment_code_check(*, user, device_id, code: str) -> str:
    """A first code proves the app holds the key; then the confirmation link is e-mailed.
    Returns the masked address it went to ("" when the account has no e-mail)."""
    from django.core.mail import send_mail
    from django.urls import reverse

    device = (
        _totp_devices().select_for_update().filter(pk=device_id, user=user, confirmed=False).first()
    )
    if device is None:
        raise ApplicationError("Enrôlement expiré : recommencez.", code="otp_expired")
    if not _check_code(device, code):
        raise ApplicationError(
            "Code incorrect : vérifiez l'heure de votre téléphone.", code="otp_invalid"
        )
    if not user.email:
        return ""
    link = settings.SITE_URL + reverse(
        "accounts:two_factor_confirm", args=[otp_confirmation_token(device=device)]
    )
    send_mail(
        "Relais : confirmez votre application d'authentification",
        "Bonjour,\n\nUne application d'authentification vient d'être ajoutée à votre compte "
        f"Relais « {user.get_username()} ». Pour l'activer, ouvrez ce lien dans les "
        f"{settings.RELAIS_OTP_CONFIRM_MINUTES} minutes :\n\n{link}\n\n"
        "Si vous n'êtes pas à l'origine de cette demande, ne cliquez pas : votre mot de "
        "passe est peut-être connu d'un tiers, changez-le et prévenez votre administrateur.\n",
        None,
        [user.email],
    )
    return _masked(user.email)


def otp_confirmation_device(*, token: str):
    """The pending device a confirmation link designates, or an ApplicationError."""
    try:
        data = signing.loads(
            token, salt=_CONFIRM_SALT, max_age=settings.RELAIS_OTP_CONFIRM_MINUTES * 60
        )
    except signing.SignatureExpired:
        raise ApplicationError(
            "Lien de confirmation expiré : recommencez l'enrôlement.", code="otp_link_expired"
        ) from None
    except signing.BadSignature:
        raise ApplicationError("Lien de confirmation invalide.", code="otp_link_invalid") from None
    device = (
        _totp_devices().filter(pk=data.get("d"), confirmed=False).first()
        if isinstance(data, dict)
        else None
    )
    if device is None or not secrets.compare_digest(
        _confirm_fingerprint(device), str(data.get("k", ""))
    ):
        raise ApplicationError(
            "Lien de confirmation déjà utilisé ou remplacé.", code="otp_link_invalid"
        )
    return device


@transaction.atomic
def otp_device_confirm(*, token: str):
    """Confirm the device of a valid link (second channel: the account's mailbox)."""
    from relais.audit.services import audit_record

    device = otp_confirmation_device(token=token)
    if not _totp_devices().filter(pk=device.pk, confirmed=False).update(confirmed=True):
        raise ApplicationError(
            "Lien de confirmation déjà utilisé ou remplacé.", code="otp_link_invalid"
        )
    audit_record(
        user=device.user,
        action="update",
        object_type="otp_totp.totpdevice",
        object_id=str(device.pk),
        reason="second facteur confirmé par e-mail",
    )
    return device


def _user_by_username(username: str):
    from relais.accounts.models import User

    user = User.objects.filter(username=username).first()
    if user is None:
        raise ApplicationError(f"Aucun compte « {username} ».", code="not_found")
    return user


@transaction.atomic
def otp_admin_confirm(*, username: str, reason: str):
    """An administrator confirms a pending device (the user has no e-mail, or by phone)."""
    from relais.audit.services import audit_record

    user = _user_by_username(username)
    device = _totp_devices().filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        raise ApplicationError("Aucune application en attente de confirmation.", code="not_found")
    _totp_devices().filter(pk=device.pk).update(confirmed=True)
    audit_record(
        user=None,
        role="system",
        action="update",
        object_type="otp_totp.totpdevice",
        object_id=str(device.pk),
        reason=f"confirmé par un administrateur : {reason}",
    )
    return device


@transaction.atomic
def otp_admin_unlock(*, username: str, reason: str) -> None:
    """An administrator clears the wrong-code count of a locked device."""
    from relais.audit.services import audit_record

    user = _user_by_username(username)
    for device in _totp_devices().select_for_update().filter(user=user):
        device.throttle_reset(commit=True)
        audit_record(
            user=None,
            role="system",
            action="update",
            object_type="otp_totp.totpdevice",
            object_id=str(device.pk),
            reason=f"déverrouillé : {reason}",
        )


@transaction.atomic
def otp_admin_reset(*, username: str, reason: str) -> None:
    """Remove every device of a user (lost phone): they enrol again, with the e-mail link."""
    from relais.audit.services import audit_record

    user = _user_by_username(username)
    ids = list(_totp_devices().filter(user=user).values_list("pk", flat=True))
    _totp_devices().filter(pk__in=ids).delete()
    for pk in ids:
        audit_record(
            user=None,
            role="system",
            action="delete",
            object_type="otp_totp.totpdevice",
            object_id=str(pk),
            reason=f"réinitialisé : {reason}",
        )
