"""API clients managed from the back-office (issue 17 item 5): who manages which client,
and the writes (create with scopes and a territory limit, rotate, revoke, certificate).

Least privilege:
- a SAS administrator manages the clients limited to their SAS or to one of its CPTS, and
  may grant every scope but `regulators:write` (the national platform's, created by the
  installation with `relais create_api_client`);
- a CPTS coordinator manages the clients limited to their CPTS, with the scopes a
  coordinator holds in Relais (indicators, slots, motifs): never requests, appointments or
  patients, which a coordinator cannot read either;
- a client without a territory limit (national) is managed from the command line only.
A client made here always has exactly one territory (a SAS or a CPTS)."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from relais.accounts.models import ApiClient, Role, hash_token
from relais.accounts.services import API_SCOPES, api_client_create
from relais.audit.services import audit_record
from relais.core.errors import ApplicationError, NotFound
from relais.territory.models import Cpts, Sas

ADMIN_SCOPES = tuple(s for s in API_SCOPES if s != "regulators:write")
COORDINATOR_SCOPES = ("slots:read", "indicators:read", "motifs:read")


@dataclass(frozen=True)
class Manager:
    """The territories a back-office user manages API clients for."""

    sas_ids: frozenset[int] = frozenset()  # administered SAS
    cpts_ids: frozenset[int] = frozenset()  # coordinated CPTS (not those of the SAS)

    @property
    def any(self) -> bool:
        return bool(self.sas_ids or self.cpts_ids)

    @property
    def scopes(self) -> tuple[str, ...]:
        return ADMIN_SCOPES if self.sas_ids else COORDINATOR_SCOPES


def manager_for(user) -> Manager:
    if not getattr(user, "is_authenticated", False):
        return Manager()
    rows = user.memberships.filter(role__in=[Role.ADMIN, Role.COORDINATEUR]).values_list(
        "role", "sas_id", "cpts_id"
    )
    sas = {s for role, s, _ in rows if role == Role.ADMIN and s}
    cpts = {c for role, _, c in rows if role == Role.COORDINATEUR and c}
    return Manager(frozenset(sas), frozenset(cpts))


def territories_for(manager: Manager) -> list[tuple[str, str]]:
    """(value, label) of the territories a manager may limit a client to."""
    choices = []
    for sas in Sas.objects.filter(pk__in=manager.sas_ids).select_related("departement"):
        choices.append((f"sas:{sas.public_id}", f"SAS {sas.departement.code} — {sas}"))
    cpts_qs = Cpts.objects.filter(Q(sas_id__in=manager.sas_ids) | Q(pk__in=manager.cpts_ids))
    for cpts in cpts_qs.order_by("name"):
        choices.append((f"cpts:{cpts.public_id}", f"CPTS — {cpts.name}"))
    return choices


def api_clients_for(manager: Manager):
    """The clients a manager sees: every limit of the client inside the managed
    territory, and at least one limit (national clients are the installation's)."""
    through_sas = ApiClient.sas_scope.through.objects.filter(apiclient_id=OuterRef("pk"))
    through_cpts = ApiClient.cpts_scope.through.objects.filter(apiclient_id=OuterRef("pk"))
    managed_cpts = Cpts.objects.filter(
        Q(sas_id__in=manager.sas_ids) | Q(pk__in=manager.cpts_ids)
    ).values("pk")
    outside = Exists(through_sas.exclude(sas_id__in=manager.sas_ids)) | Exists(
        through_cpts.exclude(cpts_id__in=managed_cpts)
    )
    return (
        ApiClient.objects.filter(Exists(through_sas) | Exists(through_cpts))
        .exclude(outside)
        .prefetch_related("sas_scope__departement", "cpts_scope")
        .order_by("revoked_at", "name")
    )


def api_client_get_for(*, manager: Manager, public_id) -> ApiClient:
    client = api_clients_for(manager).filter(public_id=public_id).first()
    if client is None:
        raise NotFound("Client API introuvable.")
    return client


def _territory(manager: Manager, value: str):
    kind, _, public_id = (value or "").partition(":")
    allowed = dict(territories_for(manager))
    if value not in allowed:
        raise ApplicationError("Choisissez un territoire que vous administrez.")
    model = Sas if kind == "sas" else Cpts
    return kind, model.objects.get(public_id=public_id)


@transaction.atomic
def api_client_create_limited(
    *, manager: Manager, user, name: str, scopes: list[str], territory: str, pem=None
) -> tuple[ApiClient, str]:
    """Create a client limited to one territory of the manager; the token is returned
    once (stored hashed)."""
    if not manager.any:
        raise ApplicationError("Vous n'administrez aucun territoire.", code="forbidden")
    refused = sorted(set(scopes) - set(manager.scopes))
    if refused:
        raise ApplicationError(
            f"Portée(s) que vous ne pouvez pas accorder : {', '.join(refused)}.",
            code="forbidden",
        )
    kind, where = _territory(manager, territory)
    client, token = api_client_create(name=name, scopes=scopes)
    (client.sas_scope if kind == "sas" else client.cpts_scope).set([where])
    if pem:
        from relais.accounts.client_cert import api_client_set_certificate

        api_client_set_certificate(client=client, pem=pem)
    audit_record(
        user=user,
        action="create",
        obj=client,
        reason=f"client API, portées {', '.join(client.scopes)}, territoire {where}",
    )
    return client, token


@transaction.atomic
def api_client_rotate(*, client: ApiClient, user) -> str:
    """A new token; the old one stops working at once."""
    token = ApiClient.new_token()
    updated = ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        token_prefix=token[:10], token_hash=hash_token(token)
    )
    if not updated:
        raise ApplicationError("Ce client API est révoqué.", code="revoked")
    audit_record(user=user, action="update", obj=client, reason="jeton renouvelé")
    return token


@transaction.atomic
def api_client_revoke_by(*, client: ApiClient, user) -> None:
    if not ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    ):
        raise ApplicationError("Ce client API est déjà révoqué.", code="revoked")
    audit_record(user=user, action="update", obj=client, reason="client API révoqué")


@transaction.atomic
def api_client_certificate(*, client: ApiClient, user, pem) -> None:
    """Attach (pem) or remove (pem=None) the client certificate of mutual TLS."""
    from relais.accounts.client_cert import api_client_set_certificate

    if client.revoked_at is not None:
        raise ApplicationError("Ce client API est révoqué.", code="revoked")
    cert = api_client_set_certificate(client=client, pem=pem)
    audit_record(
        user=user,
        action="update",
        obj=client,
        reason=f"certificat client {cert.fingerprint[:16]}…" if cert else "certificat retiré",
    )
