"""Signed, expiring links for professionals answering a niveau-2 call from a phone.

The URL carries only a signed offer id: no health data, nothing guessable."""

from django.core import signing

SALT = "relais.level2-offer"
MAX_AGE_SECONDS = 2 * 24 * 3600


def offer_token(offer) -> str:
    return signing.dumps(str(offer.public_id), salt=SALT, compress=False)


def offer_public_id(token: str) -> str | None:
    try:
        return signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:  # also covers SignatureExpired
        return None
