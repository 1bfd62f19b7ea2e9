"""INT_R02: regulator accounts managed by the national SAS platform, and the deep link
that brings such a regulator from the platform to the booking of one slot.

Accounts (ANS IG "Gestion des comptes régulateurs", profile FrPractitionerRegul):
- `POST /fhir/Practitioner`: create (201, `Location: [base]/Practitioner/<id>`); an
  account that already exists under one of the identifiers is updated (200): the
  platform re-sends accounts when a regulator logs in there;
- `PUT /fhir/Practitioner?identifier=<system>|<value>`: conditional update, by the national
  id (`urn:oid:1.2.250.1.71.4.2.1`, IDNPS) or the SAS technical id
  (`urn:oid:1.2.250.1.213.3.6`, INTRN); an unknown identifier creates (201), as the IG asks;
  `active: false` withdraws the habilitation (the IG's "suppression");
- `DELETE /fhir/Practitioner?identifier=…`: the same withdrawal, for clients that delete
  (204). Nothing is erased: bookings keep their operator.
Scope `regulators:write`; every call audited; errors are OperationOutcomes (400 malformed,
403 another client's account, 404 unknown on DELETE, 422 business rule).

The account has no usable password and no membership: its only door is the deep link.
`Slot.comment` carries `sas_deep_link(slot)`, a Relais-signed link to that slot valid
`RELAIS_SAS_LINK_MINUTES`. The platform opens it with `origin=sas` and `assertion=`, a
JWT (HS256, key `RELAIS_SAS_LINK_KEY` shared with the platform) saying which regulator
(`sub` = `<system>|<value>`), for whom (`aud` = SITE_URL), issued by the platform
(`iss` = urn:oid:1.2.250.1.213.3.6), living at most `RELAIS_SAS_ASSERTION_SECONDS`, used
once (`jti`). Relais then opens a session limited to that account and that slot (not a
Django login: every other page still asks for a login) and shows the booking form; one
booking ends it. Without an assertion, staff get the normal login and then the slot page.
No patient data in any of these URLs."""

import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt

from relais.accounts.models import Role
from relais.accounts.permissions import Scope
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError, NotFound
from relais.interop.models import RegulatorAccount
from relais.interop.regulator_links import (
    LINK_SALT,
    SYSTEM_NATIONAL,
    SYSTEM_SAS,
    SYSTEM_V2_0203,
)
from relais.interop.resources import PROFILE_REGULATOR
from relais.regulation.forms import RequestForm

SESSION_KEY = "relais_sas_regulator"
SESSION_MINUTES = 30
MAX_ID_LENGTH = {SYSTEM_NATIONAL: 30, SYSTEM_SAS: 64}


class BadResource(ApplicationError):
    """A malformed Practitioner (400)."""

    http_status = 400

    def __init__(self, message: str):
        super().__init__(message, code="invalid")


class UnsupportedMediaType(ApplicationError):
    http_status = 415

    def __init__(self):
        super().__init__(
            "Content-Type attendu : application/fhir+json.", code="unsupported_media_type"
        )


class OtherClient(ApplicationError):
    http_status = 403

    def __init__(self):
        super().__init__("Ce compte régulateur est géré par un autre client API.", code="forbidden")


# --- Accounts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RegulatorIn:
    national_id: str | None
    technical_id: str | None
    active: bool
    family: str
    given: str
    email: str


def _text(value, what: str, *, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadResource(f"{what} : obligatoire (texte non vide).")
    value = value.strip()
    if len(value) > limit:
        raise BadResource(f"{what} : {limit} caractères au plus.")
    return value


def parse_identifier(raw: str) -> tuple[str, str]:
    """`system|value` of the IG's conditional update (national or SAS technical id)."""
    system, sep, value = (raw or "").partition("|")
    if not sep or system not in MAX_ID_LENGTH or not value.strip():
        raise BadResource(
            f"identifier attendu : {SYSTEM_NATIONAL}|<identifiant national> ou "
            f"{SYSTEM_SAS}|<identifiant technique SAS>."
        )
    value = value.strip()
    if len(value) > MAX_ID_LENGTH[system]:
        raise BadResource("identifier : valeur trop longue.")
    return system, value


def parse_practitioner(payload: dict) -> RegulatorIn:
    """A FrPractitionerRegul, checked field by field with a French message."""
    if payload.get("resourceType") != "Practitioner":
        raise BadResource("resourceType attendu : Practitioner.")
    source = (
        (payload.get("meta") or {}).get("source") if isinstance(payload.get("meta"), dict) else None
    )
    if source is not None and source != SYSTEM_SAS:
        raise BadResource(f"meta.source doit valoir {SYSTEM_SAS} (plateforme numérique SAS).")
    ids: dict[str, str] = {}
    identifiers = payload.get("identifier")
    if not isinstance(identifiers, list) or not identifiers:
        raise BadResource("identifier : au moins un identifiant (national ou technique SAS).")
    for ident in identifiers:
        if not isinstance(ident, dict):
            raise BadResource("identifier : chaque identifiant est un objet.")
        system, value = ident.get("system"), ident.get("value")
        if system not in MAX_ID_LENGTH:
            continue  # other identifiers are allowed by the profile (open slicing)
        if system in ids:
            raise BadResource(f"identifier : deux identifiants {system}.")
        ids[system] = parse_identifier(f"{system}|{value if isinstance(value, str) else ''}")[1]
    if not ids:
        raise BadResource(
            f"identifier : ni identifiant national ({SYSTEM_NATIONAL}) ni identifiant "
            f"technique SAS ({SYSTEM_SAS})."
        )
    active = payload.get("active")
    if not isinstance(active, bool):
        raise BadResource("active : obligatoire (true ou false).")
    names = payload.get("name")
    name = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
    given = name.get("given")
    given = given[0] if isinstance(given, list) and given else None
    emails = [
        t.get("value")
        for t in payload.get("telecom") or []
        if isinstance(t, dict) and t.get("system", "email") == "email"
    ]
    email = _text(emails[0] if emails else None, "telecom (e-mail)", limit=200)
    try:
        forms.EmailField().clean(email)
    except forms.ValidationError:
        raise BadResource("telecom : adresse e-mail invalide.") from None
    return RegulatorIn(
        national_id=ids.get(SYSTEM_NATIONAL),
        technical_id=ids.get(SYSTEM_SAS),
        active=active,
        family=_text(name.get("family"), "name.family", limit=150),
        given=_text(given, "name.given", limit=150),
        email=email,
    )


def _find(*, national_id: str | None, technical_id: str | None):
    accounts = []
    if national_id:
        accounts += list(RegulatorAccount.objects.filter(national_id=national_id))
    if technical_id:
        accounts += list(RegulatorAccount.objects.filter(technical_id=technical_id))
    distinct = {a.pk: a for a in accounts}
    if len(distinct) > 1:
        raise ApplicationError(
            "L'identifiant national et l'identifiant technique désignent deux comptes différents.",
            code="conflicting_identifiers",
        )
    return next(iter(distinct.values()), None)


@transaction.atomic
def regulator_upsert(
    *, client, data: RegulatorIn, lookup: tuple[str, str] | None = None
) -> tuple[RegulatorAccount, bool]:
    """Create or update the account (POST, or PUT by `lookup`). Returns (account, created)."""
    if lookup is not None:
        system, value = lookup
        account = _find(
            national_id=value if system == SYSTEM_NATIONAL else None,
            technical_id=value if system == SYSTEM_SAS else None,
        )
        if account is None and (
            (system == SYSTEM_NATIONAL and data.national_id not in (None, value))
            or (system == SYSTEM_SAS and data.technical_id not in (None, value))
        ):
            raise BadResource("Le corps ne porte pas l'identifiant de l'URL.")
    else:
        account = _find(national_id=data.national_id, technical_id=data.technical_id)
    if account is not None and account.managed_by != client.name:
        raise OtherClient()
    now = timezone.now()
    created = account is None
    try:
        with transaction.atomic():
            if created:
                user = get_user_model()(
                    username=f"sas-regulateur-{secrets.token_hex(6)}",
                    first_name=data.given[:150],
                    last_name=data.family[:150],
                    email=data.email,
                    is_active=data.active,
                )
                # The IG: no password to choose, no e-mail to confirm; the platform's link
                # is the door (a password reset can give one later, for nothing more).
                user.set_unusable_password()
                user.save()
                account = RegulatorAccount.objects.create(
                    user=user,
                    national_id=data.national_id,
                    technical_id=data.technical_id,
                    email=data.email,
                    active=data.active,
                    managed_by=client.name,
                    created_at=now,
                    updated_at=now,
                )
            else:
                user = account.user
                user.first_name, user.last_name = data.given[:150], data.family[:150]
                user.email, user.is_active = data.email, data.active
                user.save(update_fields=["first_name", "last_name", "email", "is_active"])
                # An identifier is added (the national id attached later), never dropped.
                account.national_id = data.national_id or account.national_id
                account.technical_id = data.technical_id or account.technical_id
                account.email, account.active, account.updated_at = data.email, data.active, now
                account.save(
                    update_fields=["national_id", "technical_id", "email", "active", "updated_at"]
                )
    except IntegrityError:
        raise ApplicationError(
            "Cet identifiant appartient déjà à un autre compte régulateur.",
            code="conflicting_identifiers",
        ) from None
    audit_record(
        api_client=client.name,
        action="create" if created else "update",
        obj=account,
        reason="INT_R02 " + ("habilité" if data.active else "habilitation retirée"),
    )
    return account, created


@transaction.atomic
def regulator_deactivate(*, client, lookup: tuple[str, str]) -> RegulatorAccount:
    system, value = lookup
    account = _find(
        national_id=value if system == SYSTEM_NATIONAL else None,
        technical_id=value if system == SYSTEM_SAS else None,
    )
    if account is None:
        raise NotFound("Compte régulateur introuvable pour cet identifiant.")
    if account.managed_by != client.name:
        raise OtherClient()
    RegulatorAccount.objects.filter(pk=account.pk).update(active=False, updated_at=timezone.now())
    get_user_model().objects.filter(pk=account.user_id).update(is_active=False)
    account.active = False
    audit_record(
        api_client=client.name, action="update", obj=account, reason="INT_R02 habilitation retirée"
    )
    return account


def regulator_resource(account: RegulatorAccount) -> dict:
    identifiers = []
    if account.national_id:
        identifiers.append(
            {
                "type": {"coding": [{"system": SYSTEM_V2_0203, "code": "IDNPS"}]},
                "system": SYSTEM_NATIONAL,
                "value": account.national_id,
            }
        )
    if account.technical_id:
        identifiers.append(
            {
                "type": {"coding": [{"system": SYSTEM_V2_0203, "code": "INTRN"}]},
                "system": SYSTEM_SAS,
                "value": account.technical_id,
            }
        )
    return {
        "resourceType": "Practitioner",
        "id": str(account.public_id),
        "meta": {"profile": [PROFILE_REGULATOR], "source": SYSTEM_SAS},
        "identifier": identifiers,
        "active": account.active,
        "name": [{"family": account.user.last_name, "given": [account.user.first_name]}],
        "telecom": [{"system": "email", "value": account.email}],
    }


# --- FHIR endpoint ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _endpoint():
    """The handler behind fhir_endpoint (bearer or mTLS auth, rate limit, POLICY action,
    audit, OperationOutcome errors), built on first use (the view decorator needs the
    URLconf's apps loaded)."""
    from relais.interop import views

    @views.fhir_endpoint(ACTIONS)
    def handle(request):
        client = request.api_client
        unknown = set(request.GET) - {"identifier", "Identifier", "_format"}
        if unknown:
            raise BadResource(f"Paramètre(s) non pris en charge : {', '.join(sorted(unknown))}.")
        raw = request.GET.getlist("identifier") + request.GET.getlist("Identifier")
        if request.method == "POST":
            if raw:
                raise BadResource("POST Practitioner ne prend pas de paramètre identifier.")
            account, created = regulator_upsert(client=client, data=_payload(request))
        else:
            if len(raw) != 1:
                raise BadResource(f"{request.method} Practitioner attend un paramètre identifier.")
            lookup = parse_identifier(raw[0])
            if request.method == "DELETE":
                account = regulator_deactivate(client=client, lookup=lookup)
                response = HttpResponse(status=204)
                response.audit_object_id = str(account.public_id)
                return response
            account, created = regulator_upsert(
                client=client, data=_payload(request), lookup=lookup
            )
        response = views.fhir_response(
            regulator_resource(account),
            201 if created else 200,
            Location=f"{settings.SITE_URL}/fhir/Practitioner/{account.public_id}",
        )
        response.audit_object_id = str(account.public_id)
        return response

    return handle


ACTIONS = {
    "POST": "fhir.regulators.write",
    "PUT": "fhir.regulators.write",
    "DELETE": "fhir.regulators.write",
}


@csrf_exempt
def practitioner(request):
    """/fhir/Practitioner: POST, conditional PUT and DELETE of regulator accounts."""
    return _endpoint()(request)


practitioner.fhir_actions = ACTIONS  # read by the CapabilityStatement's test


def _payload(request) -> RegulatorIn:
    import json

    if (request.content_type or "") not in (
        "application/fhir+json",
        "application/json",
        "application/json+fhir",
    ):
        raise UnsupportedMediaType()
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise BadResource("Corps JSON invalide.") from None
    if not isinstance(body, dict):
        raise BadResource("Le corps doit être une ressource Practitioner (objet JSON).")
    return parse_practitioner(body)


fhir_urlpatterns = [path("Practitioner", practitioner, name="regulators")]


# --- The deep link ------------------------------------------------------------------------


def _slot_of_link(token: str):
    from relais.agenda.models import Slot

    try:
        public_id = signing.loads(
            token, salt=LINK_SALT, max_age=settings.RELAIS_SAS_LINK_MINUTES * 60
        )
    except signing.SignatureExpired:
        return None, "expired"
    except signing.BadSignature:
        raise Http404("Lien invalide.") from None
    slot = (
        Slot.objects.select_related("professional", "practice__commune__departement__sas")
        .filter(public_id=public_id)
        .first()
    )
    if slot is None:
        raise Http404("Créneau introuvable.")
    return slot, ""


def _assertion_account(raw: str, *, slot) -> RegulatorAccount | None:
    """The active account a valid platform assertion designates, or None."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import OctKey

    from relais.core import ratelimit

    key = settings.RELAIS_SAS_LINK_KEY
    if len(key) < 32 or not raw or len(raw) > 4000:
        return None
    try:
        token = jwt.decode(raw, OctKey.import_key(key), algorithms=["HS256"])
        jwt.JWTClaimsRegistry(
            leeway=30,
            iss={"essential": True, "value": SYSTEM_SAS},
            aud={"essential": True, "value": settings.SITE_URL},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError, TypeError):
        return None
    claims = token.claims
    lifetime = settings.RELAIS_SAS_ASSERTION_SECONDS
    if not isinstance(claims["iat"], int | float) or claims["exp"] - claims["iat"] > lifetime:
        return None
    if claims["iat"] > time.time() + 30:
        return None
    if claims.get("slot") not in (None, str(slot.public_id)):
        return None
    if not ratelimit.use_once("sas-assertion", str(claims["jti"]), lifetime + 60):
        return None  # replayed
    try:
        system, value = parse_identifier(str(claims["sub"]))
    except BadResource:
        return None
    field = "national_id" if system == SYSTEM_NATIONAL else "technical_id"
    return (
        RegulatorAccount.objects.select_related("user")
        .filter(**{field: value}, active=True, user__is_active=True)
        .first()
    )


def _session_account(request, slot) -> RegulatorAccount | None:
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict) or data.get("slot") != str(slot.public_id):
        return None
    if data.get("until", 0) < time.time():
        return None
    return (
        RegulatorAccount.objects.select_related("user")
        .filter(public_id=data.get("account"), active=True, user__is_active=True)
        .first()
    )


def regulator_scope(*, slot) -> Scope:
    """What the limited session may do: book, as a regulator, this slot's territory (the
    link and the session name one slot; the booking service checks the rest)."""
    departement = slot.practice.commune.departement
    sas = getattr(departement, "sas", None)
    return Scope(
        roles=frozenset({Role.REGULATEUR}),
        sas_ids=frozenset({sas.pk}) if sas else frozenset(),
        departement_codes=frozenset({departement.code}),
    )


class RegulatorBookingForm(forms.Form):
    last_name = forms.CharField(label="Nom du patient", max_length=100)
    first_name = forms.CharField(label="Prénom du patient", max_length=100)
    birth_date = forms.DateField(
        label="Date de naissance", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    phone = forms.CharField(label="Téléphone de rappel", max_length=20)
    motif_text = forms.CharField(label="Motif", max_length=300, required=False)
    accept_terms = forms.BooleanField(
        label="J'accepte les conditions d'utilisation de Relais", required=False
    )

    def __init__(self, *args, terms_needed: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.terms_needed = terms_needed
        if not terms_needed:
            del self.fields["accept_terms"]

    def clean_accept_terms(self):
        if self.terms_needed and not self.cleaned_data.get("accept_terms"):
            raise forms.ValidationError(
                "Acceptez les conditions d'utilisation pour votre première réservation."
            )
        return True

    clean_phone = RequestForm.clean_phone
    clean_birth_date = RequestForm.clean_birth_date


def regulator_book(*, account: RegulatorAccount, slot, data: dict):
    """The booking of the limited session: a new patient record and request, then the
    booking service (the only way to book), as the regulator, in one transaction."""
    from relais.orientation.models import BookingChannel
    from relais.orientation.services import booking_create
    from relais.regulation.models import Channel
    from relais.regulation.services import PatientInput, patient_create, request_create

    scope = regulator_scope(slot=slot)
    user = account.user
    with transaction.atomic():
        if data.get("accept_terms") and account.terms_accepted_at is None:
            RegulatorAccount.objects.filter(pk=account.pk).update(terms_accepted_at=timezone.now())
        patient = patient_create(
            data=PatientInput(
                first_name=data["first_name"],
                last_name=data["last_name"],
                birth_date=data.get("birth_date"),
                phone=data["phone"],
                commune=slot.practice.commune,
            ),
            user=user,
        )
        req = request_create(
            patient=patient,
            callback_phone=patient.phone,
            channel=Channel.PHONE,
            motif=None,
            motif_text=data.get("motif_text")
            or "Orientation par un régulateur de la plateforme SAS",
            urgency=_urgency(slot),
            created_by=user,
            scope=scope,
        )
        return booking_create(
            request=req, slot=slot, operator=user, channel=BookingChannel.UI, scope=scope
        )


def _urgency(slot) -> str:
    from relais.interop.services import _urgency_for

    return _urgency_for(slot.start, timezone.now())


def sas_slot_link(request, token: str):
    """The page `Slot.comment` points to (see the module docstring)."""
    slot, problem = _slot_of_link(token)
    if problem == "expired":
        return render(request, "interop/regulators/link_expired.html", status=410)
    if request.GET.get("origin") == "sas" and request.GET.get("assertion"):
        account = _assertion_account(request.GET["assertion"], slot=slot)
        if account is None:
            return render(request, "interop/regulators/link_refused.html", status=403)
        request.session.flush()  # nobody else's session goes on under this account
        request.session[SESSION_KEY] = {
            "account": str(account.public_id),
            "slot": str(slot.public_id),
            "until": time.time() + SESSION_MINUTES * 60,
        }
        audit_record(user=account.user, action="read", obj=slot, reason="lien SAS (origin=sas)")
        # The assertion leaves the address bar (history, Referer) at once.
        return HttpResponseRedirect(request.path)
    account = _session_account(request, slot)
    if account is None:
        # Staff: the ordinary login, then the slot as an operator sees it.
        target = reverse("interop:slot_open", args=[slot.public_id])
        if request.GET.get("origin"):
            target += "?" + urlencode({"origin": request.GET["origin"][:20]})
        return redirect(target)
    terms_needed = account.terms_accepted_at is None
    form = RegulatorBookingForm(
        request.POST if request.method == "POST" else None, terms_needed=terms_needed
    )
    booking, error = None, ""
    if request.method == "POST" and form.is_valid():
        try:
            booking = regulator_book(account=account, slot=slot, data=form.cleaned_data)
        except ApplicationError as exc:
            error = exc.message
        else:
            request.session.flush()  # one booking per link: the session ends here
    return render(
        request,
        "interop/regulators/book.html",
        {
            "slot": slot,
            "form": form,
            "booking": booking,
            "error": error,
            "regulator": account.user,
        },
        status=200 if not error else 409,
    )


page_urlpatterns = [path("sas/rdv/<str:token>/", sas_slot_link, name="sas_slot_link")]
