"""Thin task wrappers around the interop services."""

from django_tasks import task


@task()
def deliver_sas_report(report_id: int) -> str:
    from relais.interop.services import sas_report_deliver

    return sas_report_deliver(report_id=report_id)


@task()
def poll_partners() -> dict:
    from relais.interop.services import partners_poll_all

    return partners_poll_all()


@task()
def publish_bulk() -> dict:
    """Regenerate the SMART `$bulk-publish` files (scheduled, see deploy/systemd)."""
    from relais.interop.smart import bulk_publish_files

    manifest = bulk_publish_files()
    return {kind: info["count"] for kind, info in manifest["files"].items()}
