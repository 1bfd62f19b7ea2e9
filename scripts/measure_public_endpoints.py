"""Replay the public-endpoint floods of issue 14 (items 4 and 11) on a throwaway SQLite
database filled from the test factories (a measurement, not a test):

RELAIS_VAR_DIR=$(mktemp -d) PYTHONPATH=$PWD .venv/bin/python scripts/measure_public_endpoints.py

1. 40 web-form posts from one address, each with another phone number, with the limits
   off (the old behaviour) and on: requests created, SMS written, statuses.
2. The bulk Slot file: building it in memory per call (the old view) against serving the
   file written by `relais publish_bulk` (200 and 304), for ~3,300 public slots.
"""

import json
import os
import statistics
import time
from datetime import timedelta


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from relais.agenda.models import Slot
    from relais.interop import smart
    from relais.notifications.models import Notification
    from relais.regulation.models import Request
    from relais.regulation.web import RED_FLAG_QUESTIONS
    from tests import factories as f

    settings.ALLOWED_HOSTS = ["*"]
    cpts = f.CptsFactory(name="CPTS mesure", sas=f.sas("91"))
    cpts.communes.add(f.commune("91228"))
    cpts.service_hours = {str(d): [["00:00", "23:59"]] for d in range(1, 8)}
    cpts.save(update_fields=["service_hours"])
    url = f"/demande-en-ligne/{cpts.public_id}/"

    def flood(label):
        cache.clear()
        Request.objects.all().delete()
        Notification.objects.all().delete()
        client, statuses = Client(), []
        started = time.perf_counter()
        for i in range(40):
            data = {f"rf_{k}": "non" for k, _ in RED_FLAG_QUESTIONS} | {
                "last_name": "Durand",
                "first_name": "Lucie",
                "birth_date": "1985-04-12",
                "phone": f"06 39 98 {i:02d} 34",
                "commune": "91228",
                "motif_text": "mal à la gorge et fièvre depuis hier",
                "consent": "on",
            }
            statuses.append(client.post(url, data).status_code)
        took = time.perf_counter() - started
        sms = Notification.objects.filter(kind="web_request", channel="sms").count()
        print(
            f"web form, {label}: 40 posts in {took:.1f} s -> {Request.objects.count()} requests, "
            f"{sms} SMS, statuses {dict((s, statuses.count(s)) for s in set(statuses))}"
        )

    with override_settings(
        RELAIS_WEB_FORM_POW=False,
        RELAIS_WEB_FORM_PER_IP_10MIN=0,
        RELAIS_WEB_FORM_PER_IP_DAY=0,
        RELAIS_WEB_FORM_PER_CPTS_10MIN=0,
        RELAIS_SMS_PER_NUMBER_PER_HOUR=1000,
    ):
        flood("limits off (as before)")
    with override_settings(RELAIS_WEB_FORM_POW=False):
        flood("limits on (proof-of-work left off: a bot that solves it)")

    # --- bulk --------------------------------------------------------------------
    pros = [f.ProfessionalFactory() for _ in range(60)]
    start = timezone.now() + timedelta(hours=1)
    rows = []
    for n in range(3300):
        pro = pros[n % len(pros)]
        s = start + timedelta(minutes=20 * (n // len(pros)))
        rows.append(
            Slot(
                professional=pro,
                practice=pro.practices.first(),
                start=s,
                end=s + timedelta(minutes=20),
                for_public=True,
            )
        )
    Slot.objects.bulk_create(rows)
    print(f"public slots: {smart.public_slots().count()}")

    def old_view():
        return "".join(
            json.dumps(res, ensure_ascii=False) + "\n"
            for res in smart.smart_resources("Slot", smart.public_slots())
        )

    def timed(fn, n=10):
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t) * 1000)
        return statistics.median(samples)

    print(f"bulk Slot file built per call (before): median {timed(old_view):.0f} ms")
    t = time.perf_counter()
    smart.bulk_publish_files()
    print(f"relais publish_bulk (once per timer run): {(time.perf_counter() - t) * 1000:.0f} ms")
    with override_settings(RELAIS_BULK_RATE_LIMIT=10_000):
        client = Client()
        first = client.get("/fhir/bulk/Slot.ndjson")
        etag = first["ETag"]

        def serve():
            b"".join(client.get("/fhir/bulk/Slot.ndjson").streaming_content)

        def not_modified():
            assert client.get("/fhir/bulk/Slot.ndjson", HTTP_IF_NONE_MATCH=etag).status_code == 304

        print(f"bulk Slot file served from disk (after): median {timed(serve):.1f} ms")
        print(f"conditional GET, 304 (after): median {timed(not_modified):.1f} ms")
    cache.clear()
    statuses = [Client().get("/fhir/bulk/Slot.ndjson").status_code for _ in range(100)]
    counts = {s: statuses.count(s) for s in set(statuses)}
    print(f"bulk, 100 calls from one address: {counts}")


if __name__ == "__main__":
    main()
