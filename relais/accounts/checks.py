"""Deploy checks of what the login hardening needs in production."""

from django.conf import settings
from django.core.checks import Error, Tags, register

LOCMEM = "django.core.cache.backends.locmem.LocMemCache"


@register(Tags.security, Tags.caches, deploy=True)
def shared_cache_required(app_configs=None, **kwargs):
    """Login throttling and API rate limits count in the cache: a per-process memory cache
    lets every worker count on its own (3 workers x 5 tries = 15 tries), so production
    (https SITE_URL, DEBUG off) must set CACHE_URL to Redis."""
    production = not settings.DEBUG and settings.SITE_URL.startswith("https")
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if production and backend == LOCMEM:
        return [
            Error(
                "The default cache is the per-process LocMemCache: login throttling and API "
                "rate limits would count per worker.",
                hint="Set CACHE_URL=redis://host:6379/0 (see docs/operations.md).",
                id="relais.accounts.E001",
            )
        ]
    return []
