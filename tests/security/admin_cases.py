"""The back-office routes in the route × role matrix (tests/security/test_matrix.py) and
the write matrix (test_write_matrix.py): role AND territory. The cast's SAS 91
administrator manages SAS 91 and its CPTS A and B; the CPTS B coordinator manages CPTS B
only (CPTS A's objects answer her 404); nobody else reaches a back-office page.

Objects a route points to (an import batch, a join request) are created by the URL
callable, inside the call's savepoint, so each persona's call starts from the same state."""

from types import SimpleNamespace

from django.core.files.uploadedfile import SimpleUploadedFile

from relais.directory.identifiers import luhn_key

ADMIN, COORD_B, OP91 = "admin_sas91", "coordinateur_cpts_b", "operateur_sas91"
MANAGERS = frozenset({ADMIN, COORD_B})
ADMIN_ONLY = frozenset({ADMIN})
NOBODY = frozenset()


def _rpps(n: int) -> str:
    base = f"10{n:08d}"
    return base + luhn_key(base)


CSV = (
    "rpps;nom;prenom;profession;adresse;code_postal;commune;email\n"
    f"{_rpps(9001)};Matrice;Léa;infirmier;1 rue du Test;91000;Évry-Courcouronnes;"
    "lea.matrice@example.invalid\n"
)


def cpts_a(c):
    return c.pro.cpts


def cpts_b(c):
    return c.users[COORD_B].memberships.get().cpts


def sas91(c):
    return c.request.sas


def sas43(c):
    return c.users["operateur_sas43"].memberships.get().sas


def batch(c, cpts=cpts_a):
    from relais.directory.models import ImportBatch

    return ImportBatch.objects.create(cpts=cpts(c), content=CSV).public_id


def join(c):
    from relais.directory.models import JoinRequest

    return JoinRequest.objects.create(
        cpts=cpts_a(c),
        rpps=_rpps(9002),
        profession="kine",
        first_name="Jo",
        last_name="Matrice",
        email="jo.matrice@example.invalid",
    ).public_id


def practice(c):
    return c.pro.practices.first().public_id


def olivia_membership(c):
    return c.users[OP91].memberships.first().pk


def cpts_form(target, **over):
    def data(c):
        cpts = target(c)
        return {
            "name": cpts.name,
            "finess": cpts.finess,
            "phone": "0199000001",
            "hours_1": "08:00-18:00",
            "communes": " ".join(cpts.communes.values_list("insee", flat=True)),
            **over,
        }

    return data


def professional_form(target, n=9003):
    return lambda c: {
        "rpps": _rpps(n),
        "profession": "infirmier",
        "first_name": "Ana",
        "last_name": "Matrice",
        "main_cpts": str(target(c).public_id),
    }


def practice_form(c):
    return {
        "name": "Cabinet Matrice",
        "address": "2 rue du Test",
        "postal_code": "91000",
        "city": "Évry-Courcouronnes",
    }


def upload(target):
    return lambda c: {
        "cpts": str(target(c).public_id),
        "file": SimpleUploadedFile("pros.csv", CSV.encode(), content_type="text/csv"),
    }


def invite_form(territory, role):
    return lambda c: {
        "email": "invitee.matrice@example.invalid",
        "first_name": "In",
        "last_name": "Vitée",
        "role": role,
        "territory": territory(c),
    }


def build_table():
    """Entries of the read matrix (GET, and POST for POST-only routes)."""
    from tests.security.test_matrix import EVERYONE, page

    pk = lambda c: c.users[OP91].pk  # noqa: E731
    pub = lambda obj: lambda c: obj(c).public_id  # noqa: E731
    return {
        # territory
        "GET territory:backoffice": page("territory:backoffice", MANAGERS),
        "GET territory:sas_settings": page("territory:sas_settings", ADMIN_ONLY, pub(sas91)),
        "GET territory:cpts_list": page("territory:cpts_list", MANAGERS),
        "GET territory:cpts_new": page("territory:cpts_new", ADMIN_ONLY),
        "GET territory:cpts_settings": page(
            "territory:cpts_settings", ADMIN_ONLY, pub(cpts_a), note="CPTS A: 404 to CPTS B's"
        ),
        # directory
        "GET directory:professional_list": page("directory:professional_list", MANAGERS),
        "GET directory:professional_new": page("directory:professional_new", MANAGERS),
        "GET directory:professional_edit": page(
            "directory:professional_edit",
            ADMIN_ONLY,
            lambda c: c.pro.public_id,
            note="a CPTS A professional: 404 to CPTS B's coordinator",
        ),
        "POST directory:professional_toggle": page(
            "directory:professional_toggle", ADMIN_ONLY, lambda c: c.pro.public_id
        ),
        "GET directory:practice_list": page("directory:practice_list", MANAGERS),
        "GET directory:practice_new": page("directory:practice_new", MANAGERS),
        "GET directory:practice_edit": page("directory:practice_edit", ADMIN_ONLY, practice),
        "GET directory:import_upload": page("directory:import_upload", MANAGERS),
        "GET directory:import_template": page("directory:import_template", MANAGERS),
        "GET directory:import_preview": page(
            "directory:import_preview", ADMIN_ONLY, batch, note="a CPTS A batch"
        ),
        "GET directory:import_errors": page(
            "directory:import_errors", ADMIN_ONLY, batch, note="a CPTS A batch"
        ),
        "GET directory:join_requests": page("directory:join_requests", MANAGERS),
        "POST directory:join_decide": page(
            "directory:join_decide", ADMIN_ONLY, join, data=lambda c: {"decision": "refuse"}
        ),
        "GET directory:join_request": page(
            "directory:join_request", EVERYONE, pub(cpts_a), note="public: asking to join"
        ),
        # people
        "GET accounts:people": page("accounts:people", MANAGERS),
        "GET accounts:invite": page("accounts:invite", MANAGERS),
        "GET accounts:person": page("accounts:person", ADMIN_ONLY, pk, note="a SAS 91 operator"),
        "POST accounts:person_toggle": page("accounts:person_toggle", ADMIN_ONLY, pk),
        "POST accounts:membership_delete": page(
            "accounts:membership_delete", ADMIN_ONLY, pk, olivia_membership
        ),
        "GET accounts:invitation_accept": page(
            "accounts:invitation_accept",
            EVERYONE,
            lambda c: "lien-invalide",
            ok=frozenset({"allow", "login"}),
            note="public: the e-mailed link is the key",
        ),
        "GET accounts:password_reset": page("accounts:password_reset", EVERYONE, note="public"),
        "GET accounts:password_reset_done": page("accounts:password_reset_done", EVERYONE),
        "GET accounts:password_reset_confirm": page(
            "accounts:password_reset_confirm",
            EVERYONE,
            lambda c: "MQ",
            lambda c: "faux-jeton",
            note="public: an invalid link shows 'plus valable'",
        ),
        "GET referrals:mine": page(
            "referrals:mine", {"effecteur_cpts_a"}, note="a referrer's own referrals"
        ),
        "GET accounts:password_reset_complete": page("accounts:password_reset_complete", EVERYONE),
    }


READ_ONLY = {
    "territory:backoffice",
    "territory:cpts_list",
    "directory:professional_list",
    "directory:practice_list",
    "directory:import_template",
    "directory:join_requests",
    "accounts:people",
    "accounts:person",
    "accounts:password_reset_done",
    "accounts:password_reset_complete",
    "referrals:mine",
    "directory:import_errors",
}


class _Rows:
    """A snapshot source without the rows the URL callables create for the call (a CPTS A
    batch, a request to join): the same `objects.values_list` shape as a model."""

    def __init__(self, queryset):
        self.objects = SimpleNamespace(values_list=lambda *fields: queryset().values_list(*fields))


def snapshot_models():
    from django.db.models import Q

    from relais.accounts.models import Invitation, Membership, User
    from relais.directory.models import ImportBatch, JoinRequest, Practice, Professional
    from relais.territory.models import Cpts, Departement, Sas

    # Batches of the matrix have no file name: an upload (named) or a confirmation counts.
    batches = _Rows(
        lambda: ImportBatch.objects.filter(Q(applied_at__isnull=False) | ~Q(filename=""))
    )
    joins = _Rows(lambda: JoinRequest.objects.exclude(rpps=_rpps(9002), status="pending"))
    return [
        (Cpts, ("id", "name", "phone", "service_hours", "finess")),
        (Sas, ("id", "name", "phone")),
        (Departement, ("id", "default_radius_km")),
        (Professional, ("id", "rpps", "active", "last_name", "cpts_id")),
        (Practice, ("id", "name", "latitude", "longitude")),
        (User, ("id", "is_active", "password")),
        (Membership, ("id",)),
        (Invitation, ("id", "accepted_at")),
        (joins, ("id", "status")),
        (batches, ("id", "applied_at")),
    ]


def build_writes():
    from django.urls import reverse

    from tests.security.test_matrix import EVERYONE
    from tests.security.test_write_matrix import Write

    def url(name, *args):
        return lambda c: reverse(name, args=[a(c) for a in args])

    pub = lambda obj: lambda c: obj(c).public_id  # noqa: E731
    finess = "91000012" + luhn_key("91000012")
    return {
        "POST territory:sas_settings": [
            Write(
                ADMIN_ONLY,
                data=lambda c: {"name": "SAS 91", "phone": "15", "radius_km": "14"},
                changes=True,
                note="SAS 91: its administrator",
            ),
            Write(
                NOBODY,
                url=url("territory:sas_settings", pub(sas43)),
                data=lambda c: {"name": "SAS 43", "phone": "15", "radius_km": "14"},
                note="SAS 43: nobody of the cast",
            ),
        ],
        "POST territory:cpts_new": [
            Write(
                ADMIN_ONLY,
                data=lambda c: {
                    "name": "CPTS Matrice",
                    "finess": finess,
                    "sas": str(sas91(c).public_id),
                },
                changes=True,
            ),
            Write(
                NOBODY,
                data=lambda c: {
                    "name": "CPTS Matrice",
                    "finess": finess,
                    "sas": str(sas43(c).public_id),
                },
                note="in SAS 43",
            ),
        ],
        "POST territory:cpts_settings": [
            Write(ADMIN_ONLY, data=cpts_form(cpts_a), changes=True, note="CPTS A"),
            Write(
                MANAGERS,
                url=url("territory:cpts_settings", pub(cpts_b)),
                data=cpts_form(cpts_b),
                changes=True,
                note="CPTS B: its coordinator too",
            ),
        ],
        "POST directory:professional_new": [
            Write(ADMIN_ONLY, data=professional_form(cpts_a), changes=True, note="into CPTS A"),
            Write(MANAGERS, data=professional_form(cpts_b), changes=True, note="into CPTS B"),
        ],
        "POST directory:professional_edit": [
            Write(
                ADMIN_ONLY,
                data=lambda c: {**professional_form(cpts_a)(c), "rpps": c.pro.rpps},
                changes=True,
                note="Dr Alice of CPTS A",
            ),
        ],
        "POST directory:professional_toggle": [Write(ADMIN_ONLY, changes=True)],
        "POST directory:practice_new": [
            Write(MANAGERS, data=practice_form, changes=True, note="Évry, in SAS 91"),
        ],
        "POST directory:practice_edit": [
            Write(ADMIN_ONLY, data=practice_form, changes=True, note="Dr Alice's practice"),
        ],
        "POST directory:import_upload": [
            Write(ADMIN_ONLY, data=upload(cpts_a), changes=True, note="into CPTS A"),
            Write(MANAGERS, data=upload(cpts_b), changes=True, note="into CPTS B"),
        ],
        "POST directory:import_preview": [
            Write(ADMIN_ONLY, changes=True, note="confirming a CPTS A batch"),
            Write(
                MANAGERS,
                url=url("directory:import_preview", lambda c: batch(c, cpts_b)),
                changes=True,
                note="confirming a CPTS B batch",
            ),
        ],
        "POST directory:join_decide": [
            Write(
                ADMIN_ONLY,
                data=lambda c: {"decision": "accept"},
                changes=True,
                note="a request to join CPTS A",
            ),
        ],
        "POST directory:join_request": [
            Write(
                EVERYONE,
                data=lambda c: {
                    "rpps": _rpps(9004),
                    "profession": "medecin",
                    "first_name": "Max",
                    "last_name": "Matrice",
                    "email": "max.matrice@example.invalid",
                },
                changes=True,
                note="public: anyone may ask (rate-limited)",
            ),
        ],
        "POST accounts:invite": [
            Write(
                ADMIN_ONLY,
                data=invite_form(lambda c: f"sas:{sas91(c).public_id}", "operateur"),
                changes=True,
                note="an operator of SAS 91",
            ),
            Write(
                MANAGERS,
                data=invite_form(lambda c: f"cpts:{cpts_b(c).public_id}", "effecteur"),
                changes=True,
                note="an effecteur of CPTS B",
            ),
            Write(
                ADMIN_ONLY,
                data=invite_form(lambda c: f"cpts:{cpts_a(c).public_id}", "adresseur"),
                changes=True,
                note="a referrer of CPTS A: not by CPTS B's coordinator",
            ),
        ],
        "POST accounts:person_toggle": [Write(ADMIN_ONLY, changes=True)],
        "POST accounts:membership_delete": [Write(ADMIN_ONLY, changes=True)],
        "POST accounts:invitation_accept": [
            Write(
                NOBODY,
                data=lambda c: {"new_password1": "x", "new_password2": "x"},
                note="an invalid link sets nothing",
            ),
        ],
        "POST accounts:password_reset": [
            Write(
                NOBODY,
                data=lambda c: {"email": "olivia@example.invalid"},
                note="sends an e-mail (Django's view), writes no table",
            ),
        ],
        "POST accounts:password_reset_confirm": [
            Write(
                NOBODY,
                data=lambda c: {"new_password1": "x", "new_password2": "x"},
                note="an invalid link sets nothing",
            ),
        ],
    }
