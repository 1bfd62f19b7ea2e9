"""The fixed cost of an API booking (issue 22): its tasks in one INSERT, the call's audit
trace written with the booking's in the booking transaction, and a refused booking that
still leaves its trace."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from relais.audit.models import AuditEvent
from relais.core.queue import batched, enqueue
from relais.orientation.services import booking_create
from tests import factories as f
from tests.api.test_api import auth, make_token

pytestmark = pytest.mark.django_db


def _book(client, token, req, slot):
    body = json.dumps({"request": str(req.public_id), "slot": str(slot.public_id)})
    return client.post("/api/v1/bookings", body, content_type="application/json", **auth(token))


def _inserts(queries, table):
    return [q for q in queries if q["sql"].startswith(f'INSERT INTO "{table}"')]


def test_a_booking_queues_its_tasks_in_one_insert(client, cpts_a):
    token = make_token("requests:read,appointments:write")
    slot = f.SlotFactory()
    with CaptureQueriesContext(connection) as queries:
        assert _book(client, token, f.RequestFactory(), slot).status_code == 201
    paths = sorted(DBTaskResult.objects.values_list("task_path", flat=True))
    # The messages' delivery, the reminders still ahead, the outcome reminder: several
    # tasks, one statement.
    assert "relais.orientation.tasks.outcome_reminder" in paths
    assert any("deliver" in p for p in paths)
    assert len(paths) >= 2
    assert len(_inserts(queries, "django_tasks_database_dbtaskresult")) == 1


def test_the_calls_trace_is_written_with_the_booking_in_its_transaction(client, cpts_a):
    token = make_token("requests:read,appointments:write", name="logiciel-trace")
    slot = f.SlotFactory()
    with CaptureQueriesContext(connection) as queries:
        assert _book(client, token, f.RequestFactory(), slot).status_code == 201
    audit = _inserts(queries, "audit_auditevent")
    assert len(audit) == 1  # one INSERT for both rows
    sqls = [q["sql"] for q in queries]
    assert sqls.index(audit[0]["sql"]) > min(
        i for i, s in enumerate(sqls) if s.startswith('INSERT INTO "orientation_booking"')
    )
    rows = AuditEvent.objects.filter(api_client="logiciel-trace")
    assert sorted(rows.values_list("action", "object_type")) == [
        ("api", "api.call"),
        ("create", "orientation.booking"),
    ]
    assert rows.get(action="api").object_id == "POST /api/v1/bookings"


def test_a_refused_booking_still_leaves_the_calls_trace_once(client, cpts_a):
    token = make_token("requests:read,appointments:write", name="logiciel-refuse")
    slot = f.SlotFactory()
    booking_create(request=f.RequestFactory(), slot=slot)
    assert _book(client, token, f.RequestFactory(), slot).status_code == 409
    calls = AuditEvent.objects.filter(api_client="logiciel-refuse")
    assert list(calls.values_list("action", "object_id")) == [("api", "POST /api/v1/bookings")]


@pytest.mark.django_db(transaction=True)
def test_the_trace_of_a_call_whose_transaction_rolled_back_is_written_at_the_end(client, cpts_a):
    """Real transactions (no test transaction around): the 201's trace is committed with
    its booking, the 409's (its transaction rolled back) is written when the call ends;
    each call once."""
    token = make_token("requests:read,appointments:write", name="logiciel-rollback")
    slot = f.SlotFactory()
    assert _book(client, token, f.RequestFactory(), slot).status_code == 201
    assert _book(client, token, f.RequestFactory(), slot).status_code == 409
    rows = AuditEvent.objects.filter(api_client="logiciel-rollback")
    assert sorted(rows.values_list("action", flat=True)) == ["api", "api", "create"]


def test_batched_tasks_are_written_once_at_the_end_and_not_on_error():
    with transaction.atomic(), batched():
        enqueue("relais.orientation.tasks.outcome_reminder", 1)
        enqueue("relais.orientation.tasks.outcome_reminder", 2)
        assert DBTaskResult.objects.count() == 0
    assert DBTaskResult.objects.count() == 2
    assert sorted(r.args_kwargs["args"][0] for r in DBTaskResult.objects.all()) == [1, 2]
    assert DBTaskResult.objects.filter(run_after__year=9999).count() == 2  # no delay

    with pytest.raises(RuntimeError), transaction.atomic(), batched():
        enqueue("relais.orientation.tasks.outcome_reminder", 3)
        raise RuntimeError
    assert DBTaskResult.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_deferred_trace_written_in_a_rolled_back_transaction_is_rewritten_once():
    from types import SimpleNamespace

    from relais.audit import context
    from relais.audit.services import audit_flush_deferred, audit_record, audit_record_deferred

    def call(fail: bool):
        request = SimpleNamespace()
        token = context._request.set(request)
        try:
            audit_record_deferred(
                api_client="logiciel-x",
                role="api",
                action="api",
                object_type="api.call",
                object_id="POST /api/v1/bookings",
            )
            try:
                with transaction.atomic():
                    audit_record(api_client="logiciel-x", action="create", object_type="t")
                    if fail:
                        raise RuntimeError
            except RuntimeError:
                pass
        finally:
            context._request.reset(token)
        audit_flush_deferred(request._relais_deferred_audit)

    call(fail=False)  # committed with the row it went with: not written again
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == ["api", "create"]
    call(fail=True)  # rolled back with it: written alone at the end
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == [
        "api",
        "api",
        "create",
    ]
