"""A one-file Django site around django-appointment (PyPI), for `relais bench --peers`.

Copied by relais/bench/peers.py into var/peers/django-appointment/ and run with that venv's
Python (never imported by Relais). Its booking endpoint does what the library's own booking
flow does once a client has picked a time from the library's slot list: check with the
library's helper that no appointment overlaps that time for that staff member
(`get_appointments_for_date_and_time`, what the slot list relies on), save the library's
`AppointmentRequestForm`, then `create_and_save_appointment` for the client. The library
takes no lock and has no unique constraint on a staff member's time: two requests for the
same time that pass the check together both book it.

python django_appointment_site.py migrate
python django_appointment_site.py seed STAFF DAYS CLIENTS   (prints the slots as JSON)
python django_appointment_site.py doubles                    (prints the double bookings)
gunicorn django_appointment_site:application
"""

import json
import os
import sys
from datetime import date, datetime, time, timedelta

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-a-secret",  # noqa: S106
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    TIME_ZONE="Europe/Paris",
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "phonenumber_field",
        "appointment",
    ],
    MIDDLEWARE=[],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["PEER_DB"],
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "CONN_MAX_AGE": 600,
        }
    },
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    LOGGING={"version": 1, "disable_existing_loggers": True},
    APPOINTMENT_WEBSITE_NAME="bench",
)
django.setup()

from appointment.forms import AppointmentRequestForm  # noqa: E402
from appointment.models import Service, StaffMember  # noqa: E402
from appointment.utils.db_helpers import (  # noqa: E402
    create_and_save_appointment,
    get_appointments_for_date_and_time,
)
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


class _Anonymous:
    is_authenticated = False


@csrf_exempt
def book(request):
    data = json.loads(request.body)
    staff = StaffMember.objects.get(pk=data["staff"])
    day = date.fromisoformat(data["date"])
    start, end = time.fromisoformat(data["start"]), time.fromisoformat(data["end"])
    if get_appointments_for_date_and_time(day, start, end, staff).exists():
        return JsonResponse({"error": "slot_unavailable"}, status=409)
    form = AppointmentRequestForm(
        {
            "date": day,
            "start_time": start,
            "end_time": end,
            "service": data["service"],
            "staff_member": staff.pk,
        }
    )
    if not form.is_valid():
        return JsonResponse({"error": form.errors}, status=400)
    ar = form.save()
    request.user = _Anonymous()
    appointment = create_and_save_appointment(
        ar,
        {"email": data["email"]},
        {"phone": "+33612345678", "want_reminder": False, "address": "1 rue de la Paix"},
        request,
    )
    return JsonResponse({"id": appointment.pk}, status=201)


def ready(request):
    return HttpResponse("ok")


urlpatterns = [path("book", book), path("ready", ready)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()


def seed(staff_count: int, days: int, clients: int) -> dict:
    User = get_user_model()  # noqa: N806
    service = Service.objects.create(name="Consultation", duration=timedelta(minutes=30), price=25)
    users = User.objects.bulk_create(
        [User(username=f"staff{i}", email=f"staff{i}@example.org") for i in range(staff_count)]
    )
    staff = [
        StaffMember.objects.create(
            user=u, slot_duration=30, lead_time=time(9), finish_time=time(18)
        )
        for u in users
    ]
    for s in staff:
        s.services_offered.add(service)
    User.objects.bulk_create(
        [User(username=f"client{i}", email=f"client{i}@example.org") for i in range(clients)]
    )
    first = date.today() + timedelta(days=1)  # noqa: DTZ011 - the site's own day
    slots = []
    for d in range(days):
        day = first + timedelta(days=d)
        for s in staff:
            # Every other half-hour: the library's overlap check counts touching bounds
            # (09:00–09:30 blocks 09:30–10:00), so adjacent slots would refuse each other.
            for k in range(0, 18, 2):
                start = datetime.combine(day, time(9)) + timedelta(minutes=30 * k)
                end = start + timedelta(minutes=30)
                slots.append(
                    {
                        "staff": s.pk,
                        "date": day.isoformat(),
                        "start": start.time().isoformat(),
                        "end": end.time().isoformat(),
                        "service": service.pk,
                    }
                )
    return {"slots": slots, "clients": [f"client{i}@example.org" for i in range(clients)]}


def doubles() -> int:
    """Appointments whose time overlaps another appointment of the same staff member."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM appointment_appointment a"
            " JOIN appointment_appointmentrequest r ON r.id = a.appointment_request_id"
            " WHERE EXISTS (SELECT 1 FROM appointment_appointment a2"
            "  JOIN appointment_appointmentrequest r2 ON r2.id = a2.appointment_request_id"
            "  WHERE a2.id < a.id AND r2.staff_member_id = r.staff_member_id"
            "  AND r2.date = r.date AND r2.start_time < r.end_time AND r2.end_time > r.start_time)"
        )
        return cursor.fetchone()[0]


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "migrate":
        # It ships no migrations: its tables by syncdb, once auth's exist.
        call_command("migrate", verbosity=0)
        call_command("migrate", run_syncdb=True, verbosity=0)
    elif command == "seed":
        print(json.dumps(seed(*(int(x) for x in sys.argv[2:5]))))
    elif command == "doubles":
        print(doubles())
