"""The audit trail: who read or changed what, and why. Append-only: the application offers
no way to change or delete a row (save/delete and the queryset refuse it), on PostgreSQL a
trigger (migration 0003) refuses UPDATE and DELETE on the table itself, and in production
the application's database role may only INSERT and SELECT it (`relais db_roles`).

Every row names its actor (`actor_type`): a user, an API client, a patient through the
signed follow-up link, a patient on the public CPTS web form, a professional through a
signed niveau-2 offer link (without an account), or the system (a task or a
command, named in `actor_label`). Rows written before actor kinds existed have an empty
`actor_type`; on PostgreSQL a CHECK constraint (migration 0004, NOT VALID so those rows are
kept as they are) refuses any new row that does not name its actor."""

from django.conf import settings
from django.db import models


class AuditTrailIsAppendOnly(Exception):
    """Raised on any attempt to change or delete an audit row."""


class ActorType(models.TextChoices):
    USER = "user", "utilisateur"
    API_CLIENT = "api_client", "client API"
    PATIENT_LINK = "patient_link", "patient (lien de suivi signé)"
    PUBLIC_FORM = "public_form", "patient (formulaire web)"
    PROFESSIONAL_LINK = "professional_link", "professionnel (lien d'offre signé)"
    SYSTEM = "system", "système (tâche ou commande)"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly("Le journal d'audit ne se modifie pas.")

    def delete(self):
        raise AuditTrailIsAppendOnly("Le journal d'audit ne s'efface pas.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditTrailIsAppendOnly("Le journal d'audit ne se modifie pas.")

    def update_or_create(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("Le journal d'audit ne se modifie pas.")

    # Django's own paths (deletion collector, raw update) go through these.
    def _raw_delete(self, using):
        raise AuditTrailIsAppendOnly("Le journal d'audit ne s'efface pas.")

    def _update(self, values):
        raise AuditTrailIsAppendOnly("Le journal d'audit ne se modifie pas.")


class AuditEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    api_client = models.CharField(max_length=100, blank=True)
    actor_type = models.CharField(max_length=20, choices=ActorType.choices, blank=True)
    # The task or command ("task:deliver_notifications"), or which patient door.
    actor_label = models.CharField(max_length=100, blank=True)
    # The roles the user held when acting (comma-separated), or "api" for a partner.
    role = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=20)  # read / create / update / export ...
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=200, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]
        verbose_name = "événement d'audit"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_display} {self.action} {self.object_type}"

    def save(self, *args, **kwargs):
        if self.pk is not None or kwargs.get("force_update"):
            raise AuditTrailIsAppendOnly("Le journal d'audit ne se modifie pas.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("Le journal d'audit ne s'efface pas.")

    @property
    def actor_display(self) -> str:
        if self.user_id:
            return self.user.username
        if self.api_client:
            return self.api_client
        if self.actor_label:
            return self.actor_label
        return "—"
