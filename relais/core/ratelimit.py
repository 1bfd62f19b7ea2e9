"""Fixed-window rate limits counted in Django's configured cache.

With `CACHE_URL` (Redis) every web worker counts in the same place, so a limit holds for
the whole deployment; with the default per-process memory cache each process counts on
its own (the demo and the tests). The counters are `cache.add` (creates the window's key
with its expiry, atomically) then `cache.incr` (atomic on Redis), so concurrent callers
never lose a hit. Django-free callers only: this module imports no Relais app.
"""

import hashlib
import ipaddress
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

PREFIX = "rl"


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]):
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy.strip(), strict=False))
        except ValueError:
            continue
    return tuple(networks)


def _address(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def from_trusted_proxy(request) -> bool:
    """Whether the request's immediate peer (REMOTE_ADDR) is one of
    `RELAIS_TRUSTED_PROXIES`: only then are headers a proxy sets (X-Forwarded-For, the
    mTLS verdict of relais.accounts.client_cert) the proxy's words, not the client's."""
    if request is None:
        return False
    networks = _networks(tuple(getattr(settings, "RELAIS_TRUSTED_PROXIES", ()) or ()))
    current = _address(request.META.get("REMOTE_ADDR", "") or "")
    return current is not None and any(current in n for n in networks)


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, unless REMOTE_ADDR is one of
    `RELAIS_TRUSTED_PROXIES` (IPs or CIDRs, default empty): then X-Forwarded-For is read
    right to left, skipping trusted proxies, and the first other address is the client.
    A header sent by an untrusted peer is ignored, so a client cannot pick its address;
    a malformed hop stops the walk at the last trusted one. The one reading of the client
    address: login throttling, the public form and the bulk files all call it."""
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    networks = _networks(tuple(getattr(settings, "RELAIS_TRUSTED_PROXIES", ()) or ()))
    current = _address(remote)
    if current is None or not networks or not any(current in n for n in networks):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        current = address
        if not any(address in n for n in networks):
            break
    return str(current)


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per `seconds` (a fixed window aligned on the epoch)."""

    count: int
    seconds: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # seconds until the window that refused ends (0 when allowed)


def _key(bucket: str, subject: str, limit: Limit, window: int) -> str:
    # Hashed: the subject may be a phone number or an address, never stored in clear.
    digest = hashlib.sha256(subject.encode()).hexdigest()[:24]
    return f"{PREFIX}:{bucket}:{limit.seconds}:{window}:{digest}"


def hit(bucket: str, subject: str, limits: list[Limit] | tuple[Limit, ...]) -> Decision:
    """Count one hit of `subject` in every window of `limits`; refused when any window
    is over its count (the hit is counted anyway: hammering keeps the door shut)."""
    now = int(time.time())
    retry_after = 0
    for limit in limits:
        if limit.count <= 0 or limit.seconds <= 0:
            continue
        window = now // limit.seconds
        key = _key(bucket, subject, limit, window)
        if cache.add(key, 1, timeout=limit.seconds + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=limit.seconds + 1)
                count = 1
        if count > limit.count:
            retry_after = max(retry_after, (window + 1) * limit.seconds - now)
    return Decision(allowed=retry_after == 0, retry_after=retry_after)


def peek(bucket: str, subject: str, limits) -> Decision:
    """Whether a hit would be refused, without counting one."""
    now = int(time.time())
    retry_after = 0
    for limit in limits:
        if limit.count <= 0 or limit.seconds <= 0:
            continue
        window = now // limit.seconds
        if (cache.get(_key(bucket, subject, limit, window)) or 0) >= limit.count:
            retry_after = max(retry_after, (window + 1) * limit.seconds - now)
    return Decision(allowed=retry_after == 0, retry_after=retry_after)


def use_once(bucket: str, token: str, seconds: int) -> bool:
    """True the first time `token` is seen within `seconds` (replay guard)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    return cache.add(f"{PREFIX}:once:{bucket}:{digest}", 1, timeout=seconds)
