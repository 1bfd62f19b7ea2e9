"""Signed, expiring follow-up links sent to patients of the web channel: the URL
carries only a signed request id, never health data."""

from django.core import signing

SALT = "relais.request-follow"
MAX_AGE_SECONDS = 7 * 24 * 3600


def follow_token(request) -> str:
    return signing.dumps(str(request.public_id), salt=SALT)


def follow_public_id(token: str) -> str | None:
    try:
        return signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
