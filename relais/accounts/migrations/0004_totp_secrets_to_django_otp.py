"""Move the hand-written TotpDevice secrets (base32) into django-otp TOTPDevice rows (hex).

A confirmed device stays confirmed (it was confirmed by a first code under the former
rules); an unconfirmed one is carried over unconfirmed, so it now needs the e-mail link."""

import base64

from django.db import migrations
from django.utils import timezone


def forward(apps, schema_editor):
    Old = apps.get_model("accounts", "TotpDevice")
    New = apps.get_model("otp_totp", "TOTPDevice")
    for old in Old.objects.all().iterator():
        cleaned = old.secret.replace(" ", "").upper()
        key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8)).hex()
        New.objects.create(
            user_id=old.user_id,
            name="Application d'authentification",
            confirmed=old.confirmed_at is not None,
            key=key,
            last_t=old.last_step or -1,
        )


def backward(apps, schema_editor):
    Old = apps.get_model("accounts", "TotpDevice")
    New = apps.get_model("otp_totp", "TOTPDevice")
    for new in New.objects.all().iterator():
        secret = base64.b32encode(bytes.fromhex(new.key)).decode().rstrip("=")
        Old.objects.update_or_create(
            user_id=new.user_id,
            defaults={
                "secret": secret,
                "last_step": max(new.last_t, 0),
                "confirmed_at": timezone.now() if new.confirmed else None,
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_totp_device"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(forward, backward)]
