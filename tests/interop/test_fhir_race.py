"""The same slot booked at the same moment through FHIR and through the operator UI
service: exactly one booking (PostgreSQL only, real row-level concurrency)."""

import json
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from relais.orientation.models import Booking
from relais.orientation.services import SlotUnavailable, booking_create
from relais.regulation.models import Request
from tests import factories as f
from tests.interop.conftest import bearer, make_token
from tests.interop.test_fhir_appointments import appointment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("real row-level concurrency needs PostgreSQL (CI runs it there)")


@pytest.mark.parametrize("round_", range(5))
def test_it_gives_the_slot_once_to_fhir_and_to_the_operator_ui(cpts_a, olivia, round_):
    f.commune("91174")
    token = make_token("appointments:write", name=f"sas-{round_}")
    slot = f.SlotFactory()
    ui_request = f.RequestFactory()
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def via_fhir():
        try:
            barrier.wait()
            response = Client().post(
                "/fhir/Appointment",
                json.dumps(appointment(slot, ident=f"RACE-{round_}")),
                content_type="application/fhir+json",
                **bearer(token),
            )
            outcomes["fhir"] = str(response.status_code)
        except Exception as exc:  # noqa: BLE001 - reported as a failure below
            outcomes["fhir"] = f"error:{exc!r}"
        finally:
            connections.close_all()

    def via_ui():
        try:
            barrier.wait()
            booking_create(
                request=Request.objects.get(pk=ui_request.pk), slot=slot, operator=olivia
            )
            outcomes["ui"] = "booked"
        except SlotUnavailable:
            outcomes["ui"] = "refused"
        except Exception as exc:  # noqa: BLE001
            outcomes["ui"] = f"error:{exc!r}"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=via_fhir), threading.Thread(target=via_ui)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.items()) in (
        [("fhir", "201"), ("ui", "refused")],
        [("fhir", "409"), ("ui", "booked")],
    ), outcomes
    assert Booking.objects.filter(slot=slot).count() == 1
    # The loser's FHIR request leaves no orphan request behind.
    assert Request.objects.count() == (2 if outcomes["fhir"] == "201" else 1)
