"""The partner-source back-office (issue 17, item 6) and the public slot page of the
SMART feed (issue 16, item 8) in the route × role matrix (tests/security/test_matrix.py)
and the write matrix (test_write_matrix.py): role AND territory. The cast's SAS 91
administrator manages SAS 91's source; SAS 43's source answers everyone 404; nobody else
reaches a back-office page. The public slot page is open to everyone and writes nothing."""

ADMIN = "admin_sas91"
ADMIN_ONLY = frozenset({ADMIN})
NOBODY = frozenset()


def source91(c):
    return c.partner_source.pk


def source43(c):
    return c.partner_source43.pk


def _form(c, **extra):
    data = {
        "name": "agenda-nouveau",
        "sas": str(c.partner_source.sas_id),
        "base_url": "https://agenda.example/fhir",
        "booking_mode": "fhir",
        "poll_every_minutes": "10",
        "token": "jeton",
        "rpps_text": c.pro.rpps,
    }
    data.update(extra)
    return data


def build_table():
    from tests.security.test_matrix import EVERYONE, page

    return {
        "GET interop:public_slot": page(
            "interop:public_slot",
            EVERYONE,
            lambda c: c.public_slot.public_id,
            note="public: the SMART booking-deep-link of a public slot",
        ),
        "GET interop:partner_list": page("interop:partner_list", ADMIN_ONLY),
        "GET interop:partner_new": page("interop:partner_new", ADMIN_ONLY),
        "GET interop:partner_edit": page(
            "interop:partner_edit", ADMIN_ONLY, source91, note="SAS 91's source"
        ),
        "POST interop:partner_test": page(
            "interop:partner_test", ADMIN_ONLY, source91, data=lambda c: {}
        ),
        "POST interop:partner_poll": page(
            "interop:partner_poll", ADMIN_ONLY, source91, data=lambda c: {}
        ),
        "POST interop:partner_set_active": page(
            "interop:partner_set_active", ADMIN_ONLY, source91, data=lambda c: {"active": "0"}
        ),
    }


READ_ONLY = {"interop:partner_list"}


def snapshot_models():
    from relais.interop.models import PartnerSource

    return [
        (
            PartnerSource,
            (
                "id",
                "active",
                "base_url",
                "token",
                "booking_mode",
                "poll_every_minutes",
                "rpps",
                "last_test_at",
            ),
        )
    ]


def build_writes():
    from django.urls import reverse

    from tests.security.test_write_matrix import Write

    def url(name, *args):
        return lambda c: reverse(name, args=[a(c) for a in args])

    return {
        "POST interop:partner_new": [
            Write(ADMIN_ONLY, data=_form, changes=True, note="a source of SAS 91"),
        ],
        "POST interop:partner_edit": [
            Write(
                ADMIN_ONLY,
                data=lambda c: _form(c, poll_every_minutes="30"),
                changes=True,
                note="SAS 91's source: its administrator",
            ),
            Write(
                NOBODY,
                url=url("interop:partner_edit", source43),
                data=lambda c: _form(c, poll_every_minutes="30"),
                note="SAS 43's source: 404 to everyone of the cast",
            ),
        ],
        "POST interop:partner_test": [
            Write(ADMIN_ONLY, changes=True, note="stores the test's result"),
            Write(NOBODY, url=url("interop:partner_test", source43), note="SAS 43's source"),
        ],
        "POST interop:partner_poll": [
            Write(ADMIN_ONLY, note="queues a poll (the task writes, not the page)"),
        ],
        "POST interop:partner_set_active": [
            Write(ADMIN_ONLY, changes=True, note="disables SAS 91's source"),
            Write(
                NOBODY,
                url=url("interop:partner_set_active", source43),
                data=lambda c: {"active": "0"},
                note="SAS 43's source",
            ),
        ],
        "POST interop:public_slot": [Write(NOBODY, note="GET only: a POST answers 404")],
    }
