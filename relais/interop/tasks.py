"""Thin task wrappers around the interop services."""

from django_tasks import task


@task()
def deliver_sas_report(report_id: int) -> str:
    from relais.interop.services import sas_report_deliver

    return sas_report_deliver(report_id=report_id)


@task()
def poll_partners() -> dict:
    """The schedule's run (deploy/systemd/relais-partners.timer, `relais poll_partners`):
    every active source whose turn has come, each claimed once."""
    from relais.interop.services import partners_poll_due

    return partners_poll_due()


@task()
def poll_partner(source_id: int) -> dict:
    """ "Interroger maintenant" from the back-office: one source, now."""
    from relais.interop.models import PartnerSource
    from relais.interop.services import partner_poll

    source = PartnerSource.objects.filter(pk=source_id, active=True).first()
    if source is None:
        return {"skipped": 1}
    return partner_poll(source=source)


@task()
def publish_bulk() -> dict:
    """Regenerate the SMART `$bulk-publish` files (scheduled, see deploy/systemd)."""
    from relais.interop.smart import bulk_publish_files

    manifest = bulk_publish_files()
    return {kind: info["count"] for kind, info in manifest["files"].items()}
