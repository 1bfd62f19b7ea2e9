"""SMS backends. E-mail goes through Django's EMAIL_BACKEND (file, console, SMTP)."""

import json
import logging
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsError(Exception):
    pass


class ConsoleSmsBackend:
    def send(self, *, to: str, text: str, reference: str = "") -> None:
        # The body may hold an appointment: print it only in the dev console backend.
        print(f"[SMS → {to}] {text}")  # noqa: T201


class FileSmsBackend:
    """Appends each SMS as one JSON line to a file per day (dev and tests)."""

    def __init__(self, path: str | None = None):
        self.path = Path(path or settings.RELAIS_SMS_FILE_PATH)

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        line = json.dumps(
            {"at": now.isoformat(), "to": to, "text": text, "reference": reference},
            ensure_ascii=False,
        )
        with open(self.path / f"sms-{now:%Y%m%d}.jsonl", "a", encoding="utf-8") as out:
            out.write(line + "\n")


class HttpSmsBackend:
    """A generic HTTP SMS gateway: POST JSON {to, text, sender, reference}, bearer token.

    Most French SMS providers accept this shape or a thin proxy to it; the URL,
    token and sender name come from the SMS_HTTP_URL, SMS_HTTP_TOKEN and
    SMS_SENDER settings.
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 10):
        self.url = url or settings.RELAIS_SMS_HTTP_URL
        self.token = token or settings.RELAIS_SMS_HTTP_TOKEN
        self.timeout = timeout
        if not self.url.startswith(("https://", "http://")):
            raise SmsError("SMS_HTTP_URL must be an http(s) URL")

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        # `reference` (the message's UUID) lets a gateway that deduplicates drop a resend.
        payload = json.dumps(
            {"to": to, "text": text, "sender": settings.RELAIS_SMS_SENDER, "reference": reference}
        )
        req = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url,
            data=payload.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:  # noqa: S310
                if response.status >= 300:
                    raise SmsError(f"gateway answered {response.status}")
        except OSError as exc:
            raise SmsError(f"gateway unreachable: {exc.__class__.__name__}") from exc


SMS_BACKENDS = {"console": ConsoleSmsBackend, "file": FileSmsBackend, "http": HttpSmsBackend}


def get_sms_backend():
    name = settings.RELAIS_SMS_BACKEND
    cls = SMS_BACKENDS.get(name) or import_string(name)
    return cls()
