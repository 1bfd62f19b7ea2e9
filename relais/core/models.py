"""Shared model building blocks."""

import uuid

from django.db import models
from django.utils import timezone


class PublicIdModel(models.Model):
    """Every object exposed in a URL or an API is addressed by a random UUID."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
