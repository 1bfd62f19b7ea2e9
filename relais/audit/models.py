"""The audit trail: who read or changed what, and why."""

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    api_client = models.CharField(max_length=100, blank=True)
    role = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=20)  # read / create / update / export ...
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.action} {self.object_type}"
