"""The one public address of the site (SITE_URL): every printed or sent link uses it."""

import os


def site_url_for_addr(addr: str) -> str:
    """The address a `runserver`-style `addr` ("8101", "127.0.0.1:8101", "[::1]:8101",
    "0.0.0.0:8101") is reached at: a wildcard bind is reached on the loopback."""
    addr = (addr or "").strip()
    host, _, port = addr.rpartition(":") if ":" in addr else ("", "", addr)
    host = host or "127.0.0.1"
    if host in ("0.0.0.0", "[::]", "::"):  # noqa: S104 - read, not bound
        host = "127.0.0.1"
    port = port or "8000"
    return f"http://{host}:{port}"


def adopt_served_address(addr: str) -> str:
    """Called by the command that serves (serve_demo): without an explicit SITE_URL in
    the environment, the served host and port become SITE_URL, for this process and for
    the processes it starts (the task worker that sends the SMS and e-mails)."""
    from django.conf import settings

    url = os.environ.get("SITE_URL", "").rstrip("/") or site_url_for_addr(addr)
    os.environ["SITE_URL"] = url
    settings.SITE_URL = url
    return url
