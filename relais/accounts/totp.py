"""TOTP (RFC 6238, HMAC-SHA1, 6 digits, 30-second steps) with the standard library only:
compatible with every authenticator app (FreeOTP, Google Authenticator, Aegis…)."""

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6


def new_secret() -> str:
    """A random 160-bit secret, base32 without padding (what the apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(secret: str, counter: int) -> str:
    """RFC 4226: dynamic truncation of HMAC-SHA1(key, counter)."""
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def step_at(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP_SECONDS)


def totp(secret: str, at: float | None = None) -> str:
    return hotp(secret, step_at(at))


def matching_step(secret: str, code: str, *, at: float | None = None, window: int = 1):
    """The time step the code belongs to (now ± `window` steps, for clock drift), or None."""
    code = (code or "").replace(" ", "")
    if not (code.isdigit() and len(code) == DIGITS):
        return None
    now = step_at(at)
    for step in range(now - window, now + window + 1):
        if hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def otpauth_uri(secret: str, *, account: str, issuer: str = "Relais") -> str:
    label = quote(f"{issuer}:{account}")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": 30}
    )
    return f"otpauth://totp/{label}?{query}"
