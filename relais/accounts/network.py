"""The client's address, read from a trusted reverse proxy's header only."""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]):
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _parse(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(request) -> str:
    """REMOTE_ADDR, unless it is one of RELAIS_TRUSTED_PROXIES (IPs or CIDRs): then
    X-Forwarded-For is read right to left, skipping the trusted proxies, and the first
    other address is the client. A header sent by anyone else is ignored, so a client
    cannot choose its own address. A malformed hop stops the walk at the last trusted one."""
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "")
    networks = _networks(tuple(getattr(settings, "RELAIS_TRUSTED_PROXIES", ()) or ()))
    current = _parse(remote)
    if not networks or not _trusted(current, networks):
        return remote
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, networks):
            break
    return str(current)
