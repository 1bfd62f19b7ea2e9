"""`relais hub_consumer`: the Hub Santé connector (issue 21, docs/hub-sante.md), a
long-running process supervised beside the task workers (deploy/systemd/
relais-hub.service). Off unless RELAIS_HUB_ENABLED; SIGTERM / SIGINT stop it cleanly
(the delivery in hand is finished and acknowledged first)."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Reçoit les affaires des LRM et renvoie les rendez-vous par le Hub Santé."

    def add_arguments(self, parser):
        parser.add_argument(
            "--poll", type=float, default=1.0, help="secondes entre deux envois de l'outbox"
        )

    def handle(self, *args, poll=1.0, **options):
        if not settings.RELAIS_HUB_ENABLED:
            raise CommandError(
                "Connecteur Hub Santé désactivé (RELAIS_HUB_ENABLED=0) : rien à faire."
            )
        from relais.interop.hub.client import HubSettings
        from relais.interop.hub.consumer import HubConsumer

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            consumer = HubConsumer(HubSettings.from_django(), poll_seconds=poll, stop=stop)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Hub Santé : {settings.RELAIS_HUB_HOST}:{settings.RELAIS_HUB_PORT} "
            f"vhost {settings.RELAIS_HUB_VHOST}, client {settings.RELAIS_HUB_CLIENT_ID}"
        )
        consumer.run()
        self.stdout.write(
            f"Arrêt : {consumer.handled} messages traités, {consumer.published} publiés."
        )
