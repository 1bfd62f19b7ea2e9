"""Reads for the people pages: accounts of the manager's territory (docs/administration.md)."""

from django.db.models import Prefetch, Q
from django.http import Http404

from relais.accounts.models import Invitation, Membership, User


def _in_territory(managed) -> Q:
    return Q(sas_id__in=managed.sas_ids) | Q(cpts_id__in=managed.cpts_ids)


def users_managed(*, managed, query: str = ""):
    """People holding at least one role in the manager's territory."""
    ids = Membership.objects.filter(_in_territory(managed)).values("user_id")
    qs = User.objects.filter(pk__in=ids).order_by("last_name", "first_name", "username")
    query = (query or "").strip()[:100]
    if query:
        qs = qs.filter(
            Q(last_name__istartswith=query) | Q(username__istartswith=query)
            | Q(email__istartswith=query)
        )  # fmt: skip
    return qs.prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.select_related("sas", "cpts")),
        Prefetch(
            "invitations",
            queryset=Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True),
            to_attr="pending_invitations",
        ),
    )


def user_managed_get(*, managed, pk) -> User:
    user = users_managed(managed=managed).filter(pk=pk).first()
    if user is None:
        raise Http404("Compte introuvable.")
    return user


def user_fully_managed(*, managed, user) -> bool:
    """Every role of the person lies in the manager's territory (then they may
    deactivate the whole account; otherwise only remove their own territory's roles)."""
    return not user.memberships.exclude(_in_territory(managed)).exists()


def membership_managed_get(*, managed, user, pk) -> Membership:
    membership = (
        Membership.objects.select_related("sas", "cpts", "user")
        .filter(_in_territory(managed), user=user, pk=pk)
        .first()
    )
    if membership is None:
        raise Http404("Rôle introuvable.")
    return membership
