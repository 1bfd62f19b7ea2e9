"""Abuse limits of the anonymous CPTS web form (issue 14, item 4): submissions per
address and per CPTS, an ALTCHA proof-of-work that runs in the browser without any
third-party service, and SMS per recipient number."""

import hashlib
import hmac
from datetime import timedelta

import altcha
from django.conf import settings
from django.utils import timezone

from relais.core import ratelimit

POW_ALGORITHM = "PBKDF2/SHA-256"


def submission_limits() -> tuple[ratelimit.Limit, ...]:
    return (
        ratelimit.Limit(settings.RELAIS_WEB_FORM_PER_IP_10MIN, 600),
        ratelimit.Limit(settings.RELAIS_WEB_FORM_PER_IP_DAY, 86400),
    )


def web_form_throttle(*, request, cpts) -> ratelimit.Decision:
    """Count one submission from this client address and for this CPTS."""
    by_address = ratelimit.hit("webform-ip", ratelimit.client_ip(request), submission_limits())
    by_cpts = ratelimit.hit(
        "webform-cpts",
        str(cpts.public_id),
        (ratelimit.Limit(settings.RELAIS_WEB_FORM_PER_CPTS_10MIN, 600),),
    )
    return ratelimit.Decision(
        allowed=by_address.allowed and by_cpts.allowed,
        retry_after=max(by_address.retry_after, by_cpts.retry_after),
    )


# --- proof-of-work ------------------------------------------------------------------


def _pow_secret() -> bytes:
    return hmac.new(
        settings.SECRET_KEY.encode(), b"relais.web-form.altcha", hashlib.sha256
    ).digest()


def pow_enabled() -> bool:
    return bool(getattr(settings, "RELAIS_WEB_FORM_POW", True))


def pow_challenge_json() -> str:
    """A signed challenge for the widget's `challenge` attribute (no extra route: it is
    embedded in the form page, and a new one comes with every rendering)."""
    import json

    challenge = altcha.create_challenge(
        POW_ALGORITHM,
        settings.RELAIS_WEB_FORM_POW_COST,
        expires_at=timezone.now() + timedelta(minutes=settings.RELAIS_WEB_FORM_POW_MINUTES),
        hmac_secret=_pow_secret(),
    )
    return json.dumps(challenge.to_dict(), separators=(",", ":"))


def pow_verify(payload: str) -> bool:
    """A solved, unexpired challenge signed by us, used once (a replayed payload fails)."""
    if not payload or len(payload) > 4000:
        return False
    try:
        result = altcha.verify_solution(payload, _pow_secret())
    except (ValueError, TypeError, KeyError):
        return False
    if not result.verified:
        return False
    return ratelimit.use_once(
        "altcha", payload, seconds=settings.RELAIS_WEB_FORM_POW_MINUTES * 60 + 60
    )


# --- SMS per number -----------------------------------------------------------------


def web_sms_count_last_hour(*, recipient: str) -> int:
    """SMS written by the web form to this number in the last hour (outbox rows)."""
    from relais.notifications.models import Notification, NotificationChannel

    return Notification.objects.filter(
        kind="web_request",
        channel=NotificationChannel.SMS,
        recipient=recipient,
        created_at__gte=timezone.now() - timedelta(hours=1),
    ).count()


def web_sms_allowed(*, recipient: str) -> bool:
    """A number receives at most RELAIS_SMS_PER_NUMBER_PER_HOUR messages an hour from the
    form: beyond, the request is still recorded for the operators, but no SMS goes out."""
    if not recipient:
        return False
    return web_sms_count_last_hour(recipient=recipient) < settings.RELAIS_SMS_PER_NUMBER_PER_HOUR
