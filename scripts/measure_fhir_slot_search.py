"""Time 50 INT_R01 Slot searches for 25 RPPS on the demo data (a measurement, not a test).

DATABASE_URL=… PYTHONPATH=$PWD python scripts/measure_fhir_slot_search.py
"""

import os
import statistics
import time
from datetime import timedelta

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    django.setup()
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from relais.accounts.models import ApiClient
    from relais.accounts.services import api_client_create
    from relais.agenda.models import Slot

    settings.ALLOWED_HOSTS = ["*"]
    ApiClient.objects.filter(name="mesure-fhir").delete()
    _, token = api_client_create(name="mesure-fhir", scopes=["slots:read"])
    rpps = list(
        Slot.objects.filter(for_sas=True, status="free", start__gt=timezone.now())
        .values_list("professional__rpps", flat=True)
        .distinct()[:25]
    )
    now = timezone.localtime()
    later = now + timedelta(hours=48)
    params = {
        "start": [f"ge{now.isoformat(timespec='seconds')}", f"le{later.isoformat('T', 'seconds')}"],
        "schedule.actor:Practitioner.identifier": ",".join(
            f"urn:oid:1.2.250.1.71.4.2.1|8{x}" for x in rpps
        ),
        "status": "free",
        "_include": "Slot:schedule",
        "_include:iterate": "Schedule:actor",
    }
    client = Client()
    times, totals = [], set()
    for i in range(51):
        started = time.perf_counter()
        response = client.get("/fhir/Slot", params, HTTP_AUTHORIZATION=f"Bearer {token}")
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(response.content[:300])
        if i:  # the first call warms imports and connections
            times.append(elapsed)
        totals.add(response.json()["total"])
    times.sort()
    p95 = times[int(0.95 * len(times)) - 1]
    print(f"{len(rpps)} RPPS, slots per answer: {sorted(totals)}")
    print(f"n=50 p50={statistics.median(times):.1f} ms p95={p95:.1f} ms max={times[-1]:.1f} ms")
    ApiClient.objects.filter(name="mesure-fhir").delete()


if __name__ == "__main__":
    main()
