"""Time 50 INT_R01 Slot searches for 25 RPPS on the demo data (not a test)."""
import statistics, time
from datetime import timedelta

import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
django.setup()
from django.conf import settings
settings.ALLOWED_HOSTS = ["*"]
from django.test import Client
from django.utils import timezone
from relais.accounts.models import ApiClient
from relais.accounts.services import api_client_create
from relais.agenda.models import Slot

ApiClient.objects.filter(name="mesure-fhir").delete()
_, token = api_client_create(name="mesure-fhir", scopes=["slots:read"])
rpps = list(Slot.objects.filter(for_sas=True, status="free", start__gt=timezone.now())
            .values_list("professional__rpps", flat=True).distinct()[:25])
now = timezone.localtime()
params = {
    "start": [f"ge{now.isoformat(timespec='seconds')}", f"le{(now + timedelta(hours=48)).isoformat(timespec='seconds')}"],
    "schedule.actor:Practitioner.identifier": ",".join(f"urn:oid:1.2.250.1.71.4.2.1|8{x}" for x in rpps),
    "status": "free", "_include": "Slot:schedule", "_include:iterate": "Schedule:actor",
}
c = Client()
times, totals, sizes = [], set(), set()
for i in range(51):
    t = time.perf_counter()
    r = c.get("/fhir/Slot", params, HTTP_AUTHORIZATION=f"Bearer {token}")
    dt = time.perf_counter() - t
    assert r.status_code == 200, r.content[:300]
    if i:  # first call warms caches/imports
        times.append(dt * 1000)
    totals.add(r.json()["total"]); sizes.add(len(r.content))
times.sort()
print(f"{len(rpps)} RPPS, slots per answer {totals}, bytes {sizes}")
print(f"n=50 p50={statistics.median(times):.1f} ms p95={times[int(0.95*len(times))-1]:.1f} ms max={times[-1]:.1f} ms")
ApiClient.objects.filter(name="mesure-fhir").delete()
