"""A WSGI endpoint around GNU Health's appointments (PyPI `gnuhealth`, on Tryton), for
`relais bench --peers`.

Copied by relais/bench/peers.py into var/peers/gnuhealth/ and run with that venv's Python
(never imported by Relais), after `trytond-admin --all -u health` has created the database.
The booking is GNU Health's free-slot flow done correctly: the centre publishes its
appointments in advance with state "free"; booking one is, in one Tryton transaction
(REPEATABLE READ on PostgreSQL), searching that appointment still "free" and writing the
patient and state "confirmed" on it through the model (`Appointment.write`, which also
numbers it from the appointment sequence). Two such transactions on the same appointment
cannot both commit: the second gets a serialization failure, and is retried as trytond's
own dispatcher retries (`database.retry`), then finds the appointment confirmed: 409.

python gnuhealth_site.py seed PROFESSIONALS DAYS PATIENTS   (prints the slots as JSON)
python gnuhealth_site.py taken
gunicorn gnuhealth_site:application
"""

import json
import os
import sys
import time
from datetime import datetime, timedelta

from trytond.config import config

config.update_etc(os.environ["TRYTOND_CONFIG"])

from trytond.exceptions import ConcurrencyException  # noqa: E402
from trytond.pool import Pool  # noqa: E402
from trytond.transaction import Transaction  # noqa: E402

try:
    from trytond.backend import DatabaseOperationalError  # noqa: E402
except ImportError:  # pragma: no cover - older trytond
    from psycopg2 import OperationalError as DatabaseOperationalError  # noqa: E402

DB = os.environ["PEER_DB"]
RETRY = config.getint("database", "retry", default=5)
Pool.start()
_pool = Pool(DB)
with Transaction().start(DB, 0, readonly=True):
    _pool.init()


def _user() -> int:
    with Transaction().start(DB, 0, readonly=True):
        User = _pool.get("res.user")  # noqa: N806
        return User.search([("login", "=", "admin")])[0].id


ADMIN = _user()


def book(appointment_id: int, patient_id: int) -> int:
    for attempt in range(RETRY + 1):
        try:
            with Transaction().start(DB, ADMIN):
                Appointment = _pool.get("gnuhealth.appointment")  # noqa: N806
                free = Appointment.search([("id", "=", appointment_id), ("state", "=", "free")])
                if not free:
                    return 409
                Appointment.write(free, {"patient": patient_id, "state": "confirmed"})
            return 201
        except (DatabaseOperationalError, ConcurrencyException):
            if attempt == RETRY:
                return 503
            time.sleep(0.02 * (attempt + 1))
    return 503


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/book" and environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = json.loads(environ["wsgi.input"].read(length))
        status = book(int(data["appointment"]), int(data["patient"]))
    else:
        status = 200
    body = json.dumps({"status": status}).encode()
    reason = {200: "OK", 201: "Created", 409: "Conflict", 503: "Service Unavailable"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def seed(professionals: int, days: int, patients: int) -> dict:
    with Transaction().start(DB, ADMIN) as transaction:
        Party = _pool.get("party.party")  # noqa: N806
        Patient = _pool.get("gnuhealth.patient")  # noqa: N806
        Prof = _pool.get("gnuhealth.healthprofessional")  # noqa: N806
        Appointment = _pool.get("gnuhealth.appointment")  # noqa: N806
        # GNU Health's Party.create handles one record per call (it creates the whole
        # list for each of its values); a patient is created for each patient party.
        doctors = [
            Party.create(
                [
                    {
                        "name": f"Docteur {i}",
                        "is_person": True,
                        "is_healthprof": True,
                        "gender": "f",
                        "fed_country": None,
                    }
                ]
            )[0]
            for i in range(professionals)
        ]
        profs = Prof.create([{"party": d.id} for d in doctors])
        people = [
            Party.create(
                [
                    {
                        "name": f"Patient {i}",
                        "is_person": True,
                        "is_patient": True,
                        "gender": "f",
                        "fed_country": None,
                    }
                ]
            )[0]
            for i in range(patients)
        ]
        existing = {p.party.id for p in Patient.search([("party", "in", [x.id for x in people])])}
        Patient.create([{"party": x.id} for x in people if x.id not in existing])
        patient_ids = [p.id for p in Patient.search([("party", "in", [x.id for x in people])])]
        first = datetime.now().replace(  # noqa: DTZ005 - trytond stores naive UTC
            hour=9, minute=0, second=0, microsecond=0
        )
        values = []
        for d in range(1, days + 1):
            for prof in profs:
                for k in range(18):
                    values.append(
                        {
                            "healthprof": prof.id,
                            "appointment_date": first + timedelta(days=d, minutes=30 * k),
                            "state": "free",
                        }
                    )
        slots = [a.id for a in Appointment.create(values)]
        transaction.commit()
    return {"slots": slots, "patients": patient_ids}


def taken() -> dict:
    """Appointments taken (not free). A slot is one row here: a double booking would be a
    confirmation answered twice for one row, i.e. 201 answers − rows taken."""
    with Transaction().start(DB, 0, readonly=True) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute("SELECT count(*) FROM gnuhealth_appointment WHERE state = 'confirmed'")
        return {"taken": int(cursor.fetchone()[0])}


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        print(json.dumps(seed(*(int(x) for x in sys.argv[2:5]))))
    elif sys.argv[1] == "taken":
        print(json.dumps(taken()))
