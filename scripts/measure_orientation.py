"""Orientation measurements on the configured database (measurements, not tests).

    DATABASE_URL=… python scripts/measure_orientation.py search [--copies N]
    DATABASE_URL=… python scripts/measure_orientation.py race [--threads 16] [--slots 400]

`search`: p50/p95 of slots_ranked_for over the open demo requests (run `relais demo_data`
first). `--copies N` first clones every future slot N-1 times, shifted by minutes, to
measure a territory N times larger (rolled back at the end).
`race`: T threads book S fresh slots, every slot wanted by two threads: bookings per
second and the count of double bookings (must be 0). Created rows are deleted afterwards.
"""

import argparse
import os
import statistics
import threading
import time
from datetime import timedelta

import django


def _search(copies: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from relais.agenda.models import Slot
    from relais.orientation.selectors import slots_ranked_for
    from relais.regulation.models import Request

    with transaction.atomic():
        future = list(Slot.objects.filter(start__gt=timezone.now(), status="free"))
        clones = []
        for k in range(1, copies):
            for s in future:
                clones.append(
                    Slot(
                        professional_id=s.professional_id,
                        practice_id=s.practice_id,
                        start=s.start + timedelta(minutes=k),
                        end=s.end + timedelta(minutes=k),
                        modality=s.modality,
                    )
                )
        Slot.objects.bulk_create(clones, batch_size=5000, ignore_conflicts=True)
        total = Slot.objects.filter(start__gt=timezone.now()).count()
        requests = list(Request.objects.select_related("patient__commune__departement")[:200])
        for req in requests[:5]:  # warm-up
            slots_ranked_for(request=req, widen=True)
        timings = []
        for req in requests:
            began = time.perf_counter()
            slots_ranked_for(request=req, widen=True)
            timings.append((time.perf_counter() - began) * 1000)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(
            f"{total} future slots, {len(timings)} searches (widened): "
            f"p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms"
        )
        transaction.set_rollback(True)


def _race(threads: int, n_slots: int) -> None:
    from django.db import connections
    from django.db.models import Count
    from django.utils import timezone

    from relais.agenda.models import Slot
    from relais.directory.models import Professional
    from relais.orientation.models import Booking
    from relais.orientation.services import SlotUnavailable, booking_create
    from relais.regulation.models import Request

    pro = Professional.objects.filter(practices__isnull=False).first()
    base = timezone.now() + timedelta(days=20)
    slots = Slot.objects.bulk_create(
        [
            Slot(
                professional=pro,
                practice=pro.practices.first(),
                start=base + timedelta(minutes=20 * i),
                end=base + timedelta(minutes=20 * i + 20),
                for_sas=False,
                for_cpts=False,
            )
            for i in range(n_slots)
        ]
    )
    template = Request.objects.select_related("patient").first()
    reqs = []
    for i in range(n_slots * 2):
        reqs.append(
            Request.objects.create(
                reference=f"BENCH-{i:06d}",
                patient=template.patient,
                channel="phone",
                motif_text="mesure",
                sas_id=template.sas_id,
            )
        )
    # Every slot is wanted by two requests, handed to different threads.
    work = [(slots[i % n_slots], reqs[i]) for i in range(n_slots * 2)]
    chunks = [work[t::threads] for t in range(threads)]
    outcome = {"booked": 0, "refused": 0, "error": 0}
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def run(chunk):
        barrier.wait()
        for slot, req in chunk:
            try:
                booking_create(request=req, slot=slot)
                key = "booked"
            except SlotUnavailable:
                key = "refused"
            except Exception:  # noqa: BLE001 - counted and reported
                key = "error"
            with lock:
                outcome[key] += 1
        connections.close_all()

    workers = [threading.Thread(target=run, args=(c,)) for c in chunks]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    doubles = (
        Booking.objects.filter(slot__in=slots, status="booked")
        .values("slot")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    print(
        f"{threads} threads, {n_slots} slots x 2 contenders: {outcome} in {elapsed:.2f} s, "
        f"{outcome['booked'] / elapsed:.0f} bookings/s, {len(work) / elapsed:.0f} attempts/s, "
        f"double bookings: {doubles}"
    )
    from relais.notifications.models import Notification
    from relais.regulation.models import RequestEvent

    Notification.objects.filter(booking__slot__in=slots).delete()
    Booking.objects.filter(slot__in=slots).delete()
    RequestEvent.objects.filter(request__in=reqs).delete()
    Request.objects.filter(pk__in=[r.pk for r in reqs]).delete()
    Slot.objects.filter(pk__in=[s.pk for s in slots]).delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["search", "race"])
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--slots", type=int, default=400)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    django.setup()
    if args.what == "search":
        _search(args.copies)
    else:
        _race(args.threads, args.slots)


if __name__ == "__main__":
    main()
